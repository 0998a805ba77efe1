"""
A pool inside a pool: ``daemonic processes are not allowed to have children``
=============================================================================

A task run by a ``multiprocessing.Pool`` tries to start a ``Pool`` (or a
``Process``) of its own, to split its part of the work further, and fails with
``AssertionError: daemonic processes are not allowed to have children``. This
page reproduces it, shows where the check is and why it exists (a pool's
workers are killed without warning, and their children would be left running),
flattens the work into one pool, and shows what a ``ProcessPoolExecutor``,
whose workers may start processes, costs and risks instead.
"""

# %%
# The message as the build produced it: :ref:`error-daemonic-children`.

# %%
# Reproduce
# ---------
# Each outer task squares its own range of numbers with an inner pool of two
# processes. A second task starts a single ``Process`` instead. Both run in a
# ``Pool`` of two workers, and the page waits at most ``WAIT`` seconds for
# each.

import json
import multiprocessing
import os
import signal
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

OUTER = 2  # outer tasks
INNER = 4  # items in each outer task
WAIT = 60  # seconds: a bound that working code never reaches
BLIND_WAIT = 1  # seconds: the bounded wait that shows a hang
LINGER = 60  # seconds a grandchild waits before it ends on its own


def start_context():
    """The start method this page runs with (the environment says which)."""
    return multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))


def square(x):
    return x * x


def squares_with_inner_pool(first):
    """An outer task: square INNER numbers in a pool of its own."""
    with start_context().Pool(2) as inner:
        return inner.map(square, range(first, first + INNER))


def start_one_process():
    """An outer task that starts a single process."""
    child = start_context().Process(target=square, args=(3,))
    child.start()
    child.join(WAIT)
    return child.exitcode


def am_i_daemonic():
    return multiprocessing.current_process().daemon


def outcome(result):
    """What ``result.get`` gave: the value, or the exception's last line."""
    try:
        return result.get(timeout=WAIT)
    except Exception as error:
        return f"{type(error).__name__}: {error}"


if __name__ == "__main__":
    context = start_context()
    print("start method:", context.get_start_method())
    firsts = [n * INNER for n in range(OUTER)]
    with context.Pool(2) as pool:
        nested = outcome(pool.apply_async(squares_with_inner_pool, (firsts[0],)))
        single = outcome(pool.apply_async(start_one_process))
        worker_is_daemonic = pool.apply(am_i_daemonic)
        # The fix, further below, uses the same pool.
        flat = pool.map(square, range(OUTER * INNER))
    pool.join()
    print("a Pool task starting a Pool:", nested)
    print("a Pool task starting a Process:", single)
    print("a Pool worker is daemonic:", worker_is_daemonic)

# %%
# Why
# ---
# ``Pool`` marks every worker it starts as daemonic (``w.daemon = True`` in
# ``Pool._repopulate_pool_static``, ``multiprocessing/pool.py``), and
# ``BaseProcess.start`` (``multiprocessing/process.py``) checks
# ``assert not _current_process._config.get('daemon'), 'daemonic processes are
# not allowed to have children'`` (CPython 3.11, 3.12 and 3.13). A daemonic
# process is one its parent may stop at any moment: ``Pool.terminate()``, and
# leaving a ``with Pool(...)`` block, send each worker ``SIGTERM``
# (``Pool._terminate_pool``), and a process that exits terminates its daemonic
# children (``multiprocessing.util._exit_function``). A worker killed that way
# runs no clean-up code, so any process it had started would be left running
# with nobody to stop it or wait for it, the reason the documentation of
# :attr:`multiprocessing.Process.daemon` gives. The last section measures it. The
# check covers only ``multiprocessing``'s own processes: ``subprocess.run``
# from a task is allowed, and is not stopped with the worker either. Being an
# ``assert`` statement, the check is skipped under ``python -O``; that does not
# make a nested pool safe, it only removes the check.
# A Celery prefork worker is such a daemonic process (billiard's), and the same
# check stops a task that starts a ``multiprocessing.Process``:
# :ref:`sphx_glr_gallery_pools_plot_14_celery_prefork_worker.py`.
#
# Fix: one level of processes
# ---------------------------
# The outer tasks only split the work; the parent can split it all at once.
# Map over every ``(outer, inner)`` item in one pool: the same results, from two
# processes instead of ``2 + 2 x 2``. If the inner work needs its outer task's
# context, pass it with each item (``starmap`` over tuples), or send the inner
# items back to the parent and submit them from there.

if __name__ == "__main__":
    print(f"one flat pool of 2 processes, {len(flat)} results:", flat)

# %%
# ``ProcessPoolExecutor``: workers that may start processes
# ---------------------------------------------------------
# An executor starts its workers with ``self._mp_context.Process(...)`` and
# does not set ``daemon`` (``ProcessPoolExecutor._spawn_process`` in
# ``concurrent/futures/process.py``, CPython 3.11, 3.12 and 3.13), so an
# executor's task may start an executor of its own. Each outer task here
# reports whether its worker is daemonic and how many processes it had
# (``multiprocessing.active_children()``) while its inner executor was open.


def squares_with_inner_executor(first):
    with ProcessPoolExecutor(max_workers=2, mp_context=start_context()) as inner:
        squares = list(inner.map(square, range(first, first + INNER)))
        children = len(multiprocessing.active_children())
    return multiprocessing.current_process().daemon, children, squares


if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as outer:
        reports = list(outer.map(squares_with_inner_executor, firsts, timeout=WAIT))
    for first, (daemonic, children, squares) in zip(firsts, reports, strict=True):
        print(f"outer task {first}: daemonic worker: {daemonic}, ", end="")
        print(f"its own processes: {children}, squares: {squares}")
    inner_processes = sum(children for _, children, _ in reports)
    print(
        f"processes: {OUTER} outer workers + {inner_processes} inner = "
        f"{OUTER + inner_processes} for {os.cpu_count()} CPUs"
    )

# %%
# It works, at a price: ``outer x inner`` processes at once, each started and
# importing your modules, competing for the same CPUs (under ``forkserver``
# each outer worker also starts a fork server of its own, because
# ``ForkServer.ensure_running`` in ``multiprocessing/forkserver.py`` starts one
# in any process that did not start one itself). Size both levels so that their
# product is about the number of CPUs, or flatten.
#
# When an outer worker dies, its children live on
# -----------------------------------------------
# Here an outer task starts one process that waits ``LINGER`` seconds, writes
# that process's pid to a file, and is then killed by ``SIGKILL`` (sent by the
# task itself, as the out-of-memory killer would send it). Once the file is
# there, the page waits at most ``BLIND_WAIT`` seconds for the executor to
# notice the death, checks whether the grandchild is still running
# (``os.kill(pid, 0)``, POSIX only), and ends it.


def linger():
    time.sleep(LINGER)


def start_a_child_and_die(pid_file):
    child = start_context().Process(target=linger)
    child.start()
    written = Path(f"{pid_file}.part")
    written.write_text(json.dumps(child.pid))
    written.replace(pid_file)  # the whole file appears at once
    os.kill(os.getpid(), signal.SIGKILL)


def running(pid):
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        pid_file = Path(directory, "grandchild.json")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as outer:
            future = outer.submit(start_a_child_and_die, str(pid_file))
            deadline = time.monotonic() + WAIT
            while not pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            grandchild = json.loads(pid_file.read_text())  # written just before the kill
            reported, _ = wait([future], timeout=BLIND_WAIT)
            grandchild_running = running(grandchild)
            os.kill(grandchild, signal.SIGKILL)  # the page ends it: nothing else will
            wait([future], timeout=WAIT)
            after_cleanup = future.exception(timeout=0)
    noticed = (
        f"yes, {type(future.exception(timeout=0)).__name__}"
        if reported
        else f"no, not within {BLIND_WAIT} s"
    )
    print("the executor noticed its dead worker:", noticed)
    print("the dead worker's own process still running:", grandchild_running)
    print("once that process is ended too, the future raises:", end=" ")
    print(type(after_cleanup).__name__)
    print("processes left running:", len(multiprocessing.active_children()))

# %%
# Whatever the start method, the grandchild outlives the worker that started
# it: nothing stops a process when its parent dies (on Linux it is adopted by
# ``init`` or the nearest "subreaper"). Had it been an inner executor, its
# workers would wait for work that never comes: ``_process_worker`` blocks in
# ``call_queue.get(block=True)`` and watches nothing else
# (``concurrent/futures/process.py``, 3.11 to 3.13).
#
# Under ``fork`` (Linux's default up to Python 3.13; 3.14 defaults to
# ``forkserver``, macOS and Windows to ``spawn``) it is worse. The executor
# learns that a worker died when the worker's *sentinel*, a pipe whose write
# end only the worker holds, reaches end-of-file (``popen_fork.Popen._launch``).
# A forked grandchild inherits every file descriptor of its parent, that write
# end included, so the pipe stays open and the executor waits for as long as
# the grandchild lives, here up to ``LINGER`` seconds. A ``spawn`` child
# receives only the descriptors passed to it (``util.spawnv_passfds``), and
# under ``forkserver`` the sentinel is written and closed by the fork server
# when it reaps the worker, so the executor reports ``BrokenProcessPool`` at
# once. A nested executor is fine for work that cannot be flattened; bound every
# wait, and expect a killed outer worker to leave its inner workers behind.

# %%
# What happened
# -------------

if __name__ == "__main__":
    message = "AssertionError: daemonic processes are not allowed to have children"
    reproduced = nested == message and single == message
    fixed = flat == [square(x) for x in range(OUTER * INNER)]
    print(f"failure reproduced: {'yes' if reproduced else 'no'} ({nested})")
    print(f"fix works: {'yes' if fixed else 'no'} (one flat pool: {len(flat)} results)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A pool inside a pool",
        [
            Observation(
                label="Pool task starts a Pool",
                result="AssertionError" if reproduced else str(nested),
                ok=not reproduced,
            ),
            Observation(
                label="one flat Pool",
                result=f"{len(flat)} of {OUTER * INNER} results",
                ok=fixed,
                fraction=len(flat) / (OUTER * INNER),
            ),
            Observation(
                label="executor inside an executor",
                result=f"{OUTER + inner_processes} processes",
                ok=None,
            ),
            Observation(
                label="killed outer worker's child",
                result="still running" if grandchild_running else "ended",
                ok=not grandchild_running,
            ),
        ],
    )
    assert reproduced and worker_is_daemonic and fixed
    expected_squares = [[square(x) for x in range(f, f + INNER)] for f in firsts]
    assert [squares for _, _, squares in reports] == expected_squares
    assert [(daemonic, children) for daemonic, children, _ in reports] == [(False, 2)] * 2
    assert grandchild_running
    assert bool(reported) == (context.get_start_method() != "fork")
    assert isinstance(after_cleanup, BrokenProcessPool)
    assert not multiprocessing.active_children()
