"""
``OSError: [Errno 24] Too many open files`` after making pools in a loop
========================================================================

A program that makes a ``Pool`` for each file, each fit or each batch works for
a while, then fails with ``OSError: [Errno 24] Too many open files``. Every
pool holds pipes, and a pool still referenced keeps them open, whether or not
it was closed. This page counts the file descriptors a pool holds under the
start method in use, reproduces the error in a child process whose limit on
open files is lowered (so it fails in a few iterations and harms nothing
else), and compares the fixes.
"""

# %%
# What a pool holds open
# ----------------------
# The parent's open file descriptors, counted in ``/proc/self/fd`` (Linux),
# after a pool of 1, 2 and 4 workers ran a task, after its ``close()`` and
# ``join()``, and after the last reference to it was dropped.

import multiprocessing
import os
import subprocess
import sys

WAIT = 60  # seconds: a bound that a working run never reaches
ITERATIONS = 12  # kept pools of 2 workers would need about 120 descriptors


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def descriptors_of_a_pool(context, workers):
    """Descriptors a pool adds while running, once closed and joined, and once
    dropped."""
    before = open_descriptors()
    pool = context.Pool(workers)
    pool.map(abs, range(workers))
    running = open_descriptors() - before
    pool.close()
    pool.join()
    joined = open_descriptors() - before
    del pool
    return running, joined, open_descriptors() - before


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    descriptors_of_a_pool(context, 1)  # the first pool may start helpers, counted here
    per_pool = {workers: descriptors_of_a_pool(context, workers) for workers in (1, 2, 4)}
    for workers, (running, joined, dropped) in per_pool.items():
        print(
            f"a pool of {workers}: {running} descriptors running, {joined} after close() "
            f"and join(), {dropped} once dropped"
        )

# %%
# Reproduce: each iteration keeps its pool
# ----------------------------------------
# The loop below stands for the usual program: each iteration makes an object
# (a fit, a sampler, a crawler) that makes its own pool in ``__init__`` and keeps
# it, and the program keeps the objects, or their results that refer to them.
# It runs in a child process, which first starts a pool and drops it (so that
# the helper processes of ``spawn`` and ``forkserver`` are running), then lowers
# its own soft limit on open files (``resource.setrlimit``) to leave room for
# ``ROOM`` more descriptors: three pools of two workers, and three descriptors.
# The error comes after a few pools instead of a hundred, and always while the
# next pool makes its queues (why that matters under ``forkserver``: below).

PROGRAM = """
import multiprocessing, os, resource, sys

MODE, ROOM, ITERATIONS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


class Fit:
    def __init__(self, context):
        self.pool = context.Pool(2)
        self.result = self.pool.map(abs, [-1, -2])


def fit_with_a_pool_of_its_own(context):
    with context.Pool(2) as pool:
        return pool.map(abs, [-1, -2])


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    fit_with_a_pool_of_its_own(context)  # starts the helper processes
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = open_descriptors() + ROOM
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    kept, error = [], "none"
    shared = context.Pool(2) if MODE == "one pool reused" else None
    try:
        for _ in range(ITERATIONS):
            if MODE == "one pool reused":
                kept.append(shared.map(abs, [-1, -2]))
            elif MODE == "with block, results kept":
                kept.append(fit_with_a_pool_of_its_own(context))
            else:
                kept.append(Fit(context))
                if MODE == "closed and joined, kept":
                    kept[-1].pool.close()
                    kept[-1].pool.join()
    except OSError as failed:
        error = f"{type(failed).__name__}: {failed}"
    descriptors = open_descriptors()
    pools = [fit.pool for fit in kept if isinstance(fit, Fit)] + [shared] * bool(shared)
    for pool in pools:
        pool.terminate()
        pool.join()
    print(len(kept), limit, descriptors, error, sep="|")
"""
MODES = (
    "pools kept",
    "closed and joined, kept",
    "with block, results kept",
    "one pool reused",
)


def run_loop(mode, room):
    """Run the loop in a child; return the iterations done, its limit, the
    descriptors open at the end and the error that stopped it (``none``)."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode, str(room), str(ITERATIONS)],
        env={**os.environ, "MPGUIDE_START_METHOD": method},
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    iterations, limit, descriptors, error = done.stdout.strip().split("|")
    return int(iterations), int(limit), int(descriptors), error


if __name__ == "__main__":
    ROOM = 3 * per_pool[2][0] + 3
    kept = run_loop("pools kept", ROOM)
    print(
        f"pools kept, a limit of {kept[1]} open files: {kept[0]} of {ITERATIONS} "
        f"iterations, then {kept[3]}"
    )

# %%
# Why
# ---
# A ``Pool`` talks to its workers through three ``SimpleQueue`` objects: the
# tasks (``_inqueue``), the results (``_outqueue``) and a ``_change_notifier``,
# each a pipe with two ends, six descriptors (``Pool.__init__`` and
# ``Pool._setup_queues`` in ``multiprocessing/pool.py``). Each worker adds two
# in the parent: under ``fork`` and ``spawn`` the two pipes' ends that
# ``Popen`` keeps (``parent_r``, ``parent_w`` in ``popen_fork.py`` and
# ``popen_spawn_posix.py``), under ``forkserver`` the connection to the
# forkserver and a copy of its pipe (``popen_forkserver.py``; 3.11 to 3.13).
# Six plus two per worker: the counts above.
#
# ``close()`` and ``join()`` (and ``terminate()``) stop the workers; they do
# not close those pipes. The descriptors are closed when the pool object is
# garbage collected, by the ``Connection`` objects' and the ``Popen`` objects'
# finalizers. So a pool that something still refers to keeps its descriptors
# even once closed, and a program that keeps every iteration's pool runs out:
# the next ``os.pipe()`` or socket fails with ``EMFILE``, errno 24.

if __name__ == "__main__":
    closed = run_loop("closed and joined, kept", ROOM)
    print(
        f"closed and joined but kept: {closed[0]} of {ITERATIONS} iterations, "
        f"then {closed[3]}"
    )

# %%
# Under ``forkserver`` the error can do more harm, which the child above avoids
# by failing while a pool makes its queues. To start a worker, the parent
# connects to the forkserver, then makes two pipes to send it
# (``connect_to_new_process`` in ``multiprocessing/forkserver.py``). When the
# error comes there, the connection closes with nothing sent, and the
# forkserver's loop, which reads each request with ``reduction.recvfds``, gets
# an ``EOFError`` it does not catch: the forkserver exits (``main`` in
# ``forkserver.py``, 3.11 to 3.13). The workers it had started keep running,
# and every later worker start fails (``ConnectionRefusedError``); a pool
# whose workers came from it can then wait for ever in ``terminate()``, which
# its exit handler calls too (it waits in ``Pool._help_stuff_finish`` for the
# task queue's lock, which an idle worker holds while it waits for a task).

# %%
# Fix: one pool for the whole loop, or no reference left
# ------------------------------------------------------
# Make one pool before the loop and give it every iteration's work: the best
# fix, which also saves starting workers each time (see
# :ref:`sphx_glr_gallery_start_methods_plot_06_start_cost.py`). Or make each
# pool where it is used, in a ``with`` block inside a function, and keep only
# the results: when the function returns, nothing refers to the pool and its
# descriptors are closed. (``with`` ends with ``terminate()``: read every result
# inside the block, as
# :ref:`sphx_glr_gallery_pools_plot_06_with_pool_terminates.py` shows.) An
# object that must hold a pool should drop it once done (``self.pool = None``
# after ``close()`` and ``join()``).

if __name__ == "__main__":
    scoped = run_loop("with block, results kept", ROOM)
    reused = run_loop("one pool reused", ROOM)
    for mode, (iterations, _, descriptors, error) in zip(
        MODES[2:], (scoped, reused), strict=True
    ):
        print(
            f"{mode}: {iterations} of {ITERATIONS} iterations, {descriptors} "
            f"descriptors open at the end, error: {error}"
        )

# %%
# In the error index: :ref:`error-too-many-open-files`.

# %%
# What happened
# -------------

if __name__ == "__main__":
    too_many = "OSError: [Errno 24] Too many open files"
    failed = kept[3] == too_many and kept[0] < ITERATIONS
    print(
        f"failure reproduced: {'yes' if failed else 'no'} ({kept[0]} pools kept, then "
        f"{kept[3]}, with a limit of {kept[1]} open files)"
    )
    fixed = all((run[0], run[3]) == (ITERATIONS, "none") for run in (scoped, reused))
    print(
        f"fix works: {'yes' if fixed else 'no'} (one pool reused, or a with block whose "
        f"pool nothing keeps: {ITERATIONS} of {ITERATIONS} iterations)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"{ITERATIONS} pools, room for {ROOM} more open files",
        [
            Observation(
                label="pools kept",
                result=f"EMFILE after {kept[0]}",
                ok=not failed,
                fraction=kept[0] / ITERATIONS,
            ),
            Observation(
                label="closed, joined, kept",
                result=f"EMFILE after {closed[0]}",
                ok=closed[0] == ITERATIONS,
                fraction=closed[0] / ITERATIONS,
            ),
            Observation(
                label="with block in a function",
                result=f"{scoped[0]} of {ITERATIONS}",
                ok=scoped[0] == ITERATIONS,
                fraction=scoped[0] / ITERATIONS,
            ),
            Observation(
                label="one pool reused",
                result=f"{reused[0]} of {ITERATIONS}",
                ok=reused[0] == ITERATIONS,
                fraction=reused[0] / ITERATIONS,
            ),
        ],
    )
    for workers, (running, joined, dropped) in per_pool.items():
        assert running == joined == 6 + 2 * workers and dropped == 0, per_pool
    assert kept[0] == closed[0] == 3 and closed[3] == too_many, (kept, closed)
    assert fixed and scoped[2] < scoped[1] and reused[2] < reused[1]
    assert not multiprocessing.active_children()
