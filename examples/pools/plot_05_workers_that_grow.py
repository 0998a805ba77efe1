"""
Workers that grow: ``maxtasksperchild`` and ``max_tasks_per_child``
===================================================================

A long-running pool's workers get bigger with every task until the machine
swaps or the out-of-memory killer ends one of them (and a ``Pool`` then waits
for ever: :ref:`sphx_glr_gallery_managers_plot_03_pool_loses_a_worker.py`).
Something in the task keeps memory: a module-level cache, a list that is
appended to, a C library that leaks. This page measures each worker's resident
memory as it runs, bounds it by replacing workers after a number of tasks
(``Pool(maxtasksperchild=N)``, ``ProcessPoolExecutor(max_tasks_per_child=N)``),
and shows what each costs: the start method it needs, the warning it raises
under ``fork``, and an executor bug on the Pythons this site is built with.
"""

# %%
# Reproduce
# ---------
# Each task keeps ``LEAK_MB`` megabytes in a module-level list, as a cache that
# is never cleared would, and returns its worker's pid and resident memory (the
# ``VmRSS`` line of ``/proc/self/status`` on Linux; on macOS the peak resident
# size from ``resource.getrusage``, which a leak that only grows keeps equal to
# the current size; this page has no measure for Windows). A ``Pool`` of two
# workers runs ``TASKS`` tasks, one at a time each (``chunksize=1``).

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

TASKS = 16
EXECUTOR_TASKS = 12  # for the executor: three workers' worth
LEAK_MB = 4
LIMIT = 4  # tasks per worker, once limited
WAIT = 60  # seconds: a bound that working code never reaches
STALL = 1.0  # seconds without progress that show a hang
KEPT = []  # what the tasks keep: one list per worker process


def resident_mb():
    """This process's resident memory, in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # macOS: the peak, in bytes

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def leaky_task(item):
    KEPT.append(b"\x01" * (LEAK_MB << 20))  # written, so really resident
    return os.getpid(), resident_mb()


def by_worker(results):
    """The resident memory after each task, per worker pid, in task order."""
    workers = {}
    for pid, resident in results:
        workers.setdefault(pid, []).append(resident)
    return workers


def growth(sizes):
    """MB a worker gained from its first task to its last."""
    return sizes[-1] - sizes[0]


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    started = time.perf_counter()
    with context.Pool(2) as pool:
        unlimited = by_worker(pool.map(leaky_task, range(TASKS), chunksize=1))
    unlimited_seconds = time.perf_counter() - started
    for number, sizes in enumerate(unlimited.values(), 1):
        kept = growth(sizes) / max(len(sizes) - 1, 1)
        print(f"worker {number}: {len(sizes)} tasks, ", end="")
        print(f"{sizes[0]:.0f} MB -> {sizes[-1]:.0f} MB, {kept:.1f} MB kept per task")
    busiest = max(unlimited.values(), key=len)
    print("busiest worker, MB after each task:", [round(size) for size in busiest])

# %%
# Why
# ---
# A pool's worker is one process that runs task after task: the loop in
# ``multiprocessing.pool.worker`` fetches a task, runs it, and fetches the next,
# for as long as the pool lives (``concurrent.futures.process._process_worker``
# does the same). Module globals, caches and anything a C extension leaks stay
# from one task to the next, so each worker grows by what every task it ran
# left behind, without limit. Finding and fixing the leak is the real fix; when
# it is in code you do not control, replace the workers before they grow too
# big.
#
# Fix: ``maxtasksperchild``
# -------------------------
# ``Pool(maxtasksperchild=N)`` makes each worker exit after ``N`` tasks (the
# same loop stops when ``completed`` reaches ``maxtasks``), and the pool's
# worker-handler thread starts a fresh one (``Pool._maintain_pool``). A
# *task* is one message: with ``map`` and a ``chunksize`` above 1, a whole
# chunk counts as one task, so a worker may run ``N x chunksize`` items. The
# cost is one process start per ``N`` tasks; the run time printed against the
# unlimited pool's mixes that cost with the unlimited workers' growth, and can
# come out below 1.

if __name__ == "__main__":
    started = time.perf_counter()
    with context.Pool(2, maxtasksperchild=LIMIT) as pool:
        limited = by_worker(pool.map(leaky_task, range(TASKS), chunksize=1))
    limited_seconds = time.perf_counter() - started
    most_tasks = max(len(sizes) for sizes in limited.values())
    largest = max(growth(sizes) for sizes in limited.values())
    print(f"maxtasksperchild={LIMIT}: {len(limited)} workers ran {TASKS} tasks, ", end="")
    print(f"at most {most_tasks} each; largest growth {largest:.0f} MB")
    ratio = limited_seconds / unlimited_seconds
    print(f"run time against the unlimited pool's: {ratio:.1f} x")

# %%
# Under ``fork``: forking from a process that runs threads
# --------------------------------------------------------
# The replacements are started by the pool's worker-handler thread while the
# pool's two other threads run, so under ``fork`` each one forks a
# multi-threaded process. From Python 3.12, ``os.fork()`` then issues
# ``DeprecationWarning: This process (pid=...) is multi-threaded, use of
# fork() may lead to deadlocks in the child``, which Python's default warning
# filters hide (``-X dev``, ``-W default`` and pytest show it; this program
# records every one) (:ref:`error-fork-with-threads`,
# and :ref:`sphx_glr_gallery_start_methods_plot_03_fork_with_threads.py` for
# the deadlock). This small program, run as a separate process so that no
# thread of this page's own process counts, runs the same limited pool under
# ``fork``, counts the forks by the thread that made them
# (``os.register_at_fork``), and records the warnings.

FORK_PROGRAM = """
import multiprocessing, os, threading, warnings

forks = {}

def count_fork():
    main = threading.current_thread() is threading.main_thread()
    name = "main thread" if main else "a pool thread"
    forks[name] = forks.get(name, 0) + 1

def task(item):
    return item

if __name__ == "__main__":
    os.register_at_fork(before=count_fork)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=LIMIT) as pool:
            pool.map(task, range(TASKS), chunksize=1)
    warned = [w for w in caught if "multi-threaded, use of fork()" in str(w.message)]
    print("forks by the main thread:", forks.get("main thread", 0))
    print("forks by a pool thread:", forks.get("a pool thread", 0))
    print("DeprecationWarnings:", len(warned))
"""


def run_program(source, timeout=WAIT, **environment):
    """Run ``source`` in a new interpreter; return its output as {label: value}."""
    with tempfile.TemporaryDirectory() as directory:
        program = Path(directory, "program.py")
        program.write_text(source)
        done = subprocess.run(
            [sys.executable, str(program)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=directory,
            env={**os.environ, **environment},
        )
    lines = [line.partition(": ") for line in done.stdout.splitlines()]
    return {label: value for label, _, value in lines if value}


if __name__ == "__main__":
    python = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    if "fork" in multiprocessing.get_all_start_methods():
        settings = f"LIMIT, TASKS = {LIMIT}, {TASKS}\n"
        fork_run = run_program(settings + FORK_PROGRAM)
        for label, value in fork_run.items():
            print(f"{python}, fork pool with maxtasksperchild: {label}: {value}")
    else:
        fork_run = None
        print(f"{python}: this platform has no fork start method")

# %%
# On 3.11 the same forks happen with no warning at all. The initial workers are forked
# by ``Pool.__init__`` before it starts its threads; every replacement is
# forked from the worker-handler thread. If some other thread holds a lock at that moment (a
# logging handler, a connection pool), the new worker starts with that lock
# held for ever. Use ``maxtasksperchild`` with ``spawn`` or ``forkserver``
# (the default from Python 3.14 on Linux; macOS and Windows default to
# ``spawn``).
#
# ``ProcessPoolExecutor(max_tasks_per_child=N)``
# ----------------------------------------------
# The executor has the same setting from Python 3.11, but refuses the ``fork``
# start method outright (:ref:`error-max-tasks-per-child-fork`), for the
# reason above: its replacements would be forked while its manager thread runs
# (``ProcessPoolExecutor.__init__``, ``concurrent/futures/process.py``, which
# cites `gh-90622 <https://github.com/python/cpython/issues/90622>`_). Left
# without ``mp_context``, it uses ``spawn`` whatever the default start method
# is (3.11 to 3.13).

if __name__ == "__main__":
    if "fork" in multiprocessing.get_all_start_methods():
        try:
            ProcessPoolExecutor(
                2, mp_context=multiprocessing.get_context("fork"), max_tasks_per_child=LIMIT
            )
            refused = "accepted"
        except ValueError as error:
            refused = f"ValueError: {error}"
        print("max_tasks_per_child with a fork context:", refused)
    executor_context = context if method != "fork" else None
    with ProcessPoolExecutor(2, max_tasks_per_child=LIMIT) as executor:
        # A private attribute, read only to show which context it chose.
        default_method = executor._mp_context.get_start_method()
    print("max_tasks_per_child without mp_context uses:", default_method)

# %%
# Measured here, the executor also stops: submit ``EXECUTOR_TASKS`` tasks at
# once to one worker that retires after ``LIMIT`` tasks, and once it has
# retired no worker replaces it. This is CPython bug `gh-115634
# <https://github.com/python/cpython/issues/115634>`_: the executor replaces a
# retiring worker only when no "idle worker" token is available, and every
# task a worker finishes short of its limit leaves such a token, whether or not
# the worker is still idle when a replacement is needed
# (``_ExecutorManagerThread.run`` and ``ProcessPoolExecutor._adjust_process_count``
# in ``concurrent/futures/process.py``, 3.11.7, 3.12.1 and 3.13.0 checked). The
# fix (July 2026) is in later 3.13 bug-fix releases and in 3.14.6; 3.11 and 3.12
# get security fixes only and keep the bug. This page asserts the stop on the
# versions measured to have it: 3.11, 3.12 and 3.13.0. A stuck executor cannot
# be shut down, so this runs as a separate program that reports how many tasks
# finished, waits ``STALL`` seconds for one more, and then exits at once with
# ``os._exit``.

STUCK_PROGRAM = """
import os, sys
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, wait

def task(item):
    return os.getpid()

if __name__ == "__main__":
    method = os.environ["MPGUIDE_START_METHOD"]
    context = None if method == "fork" else multiprocessing.get_context(method)
    executor = ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=LIMIT)
    futures = [executor.submit(task, item) for item in range(TASKS)]
    wait(futures[:LIMIT], timeout=WAIT)  # the first worker's share
    done, _ = wait(futures, timeout=STALL)
    workers = len({future.result() for future in done})
    print("finished:", len(done), "of", TASKS, "by", workers, "worker(s)")
    sys.stdout.flush()
    if len(done) < TASKS:
        os._exit(0)  # shutdown() would wait for the stuck tasks for ever
    executor.shutdown()
"""

if __name__ == "__main__":
    settings = f"LIMIT, TASKS, WAIT, STALL = {LIMIT}, {EXECUTOR_TASKS}, {WAIT}, {STALL}\n"
    stuck_run = run_program(settings + STUCK_PROGRAM, MPGUIDE_START_METHOD=method)
    stuck_finished = int(stuck_run["finished"].split()[0])
    print(f"{python}, all submitted at once: finished {stuck_run['finished']}")

# %%
# Until your Python has the fix, use ``Pool(maxtasksperchild=N)`` (above), or
# keep the executor from queueing work: submit a new task only when one
# finishes, so that a token is used by the next ``submit`` before a worker
# retires, and ``submit`` starts a worker when it finds no idle token and fewer
# than ``max_workers`` workers. That narrows the race rather than closing it; it
# kept the executor going in every run of this page. ``max_tasks_per_child=1``
# closes it, since no task then finishes short of its limit, at the price of one
# process start per task.


def run_without_backlog(executor, workers, tasks):
    """Run ``leaky_task`` over ``range(tasks)``, never more at once than ``workers``."""
    results, pending = [], set()
    for item in range(tasks):
        if len(pending) == workers:  # wait for a worker to be free first
            done, pending = wait(pending, timeout=WAIT, return_when=FIRST_COMPLETED)
            if not done:
                raise TimeoutError(f"no task finished in {WAIT} s")
            results += [future.result() for future in done]
        pending.add(executor.submit(leaky_task, item))
    done, pending = wait(pending, timeout=WAIT)
    if pending:
        raise TimeoutError(f"{len(pending)} tasks still running after {WAIT} s")
    return results + [future.result() for future in done]


if __name__ == "__main__":
    with ProcessPoolExecutor(
        2, mp_context=executor_context, max_tasks_per_child=LIMIT
    ) as executor:
        paced = by_worker(run_without_backlog(executor, 2, EXECUTOR_TASKS))
    paced_tasks = sum(len(sizes) for sizes in paced.values())
    paced_most = max(len(sizes) for sizes in paced.values())
    print(f"executor, one task per idle worker: {paced_tasks} tasks by ", end="")
    print(f"{len(paced)} workers, at most {paced_most} each")

# %%
# What happened
# -------------

if __name__ == "__main__":
    unlimited_most = len(busiest)
    per_task = growth(busiest) / (unlimited_most - 1)
    reproduced = per_task > LEAK_MB / 2
    fixed = most_tasks <= LIMIT and largest < per_task * LIMIT
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (without a limit "
        f"a pool of 2 ran {TASKS} tasks, keeping {per_task:.0f} MB per task)"
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} (maxtasksperchild={LIMIT}: "
        f"no worker ran more than {most_tasks} tasks)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"{TASKS} tasks keeping {LEAK_MB} MB each",
        [
            Observation(
                label="Pool, no limit: busiest worker",
                result=f"+{growth(busiest):.0f} MB",
                ok=False,
            ),
            Observation(
                label=f"Pool, maxtasksperchild={LIMIT}",
                result=f"at most +{largest:.0f} MB",
                ok=fixed,
            ),
            Observation(
                label="executor, all submitted at once",
                result=f"{stuck_finished} of {EXECUTOR_TASKS} finished",
                ok=stuck_finished == EXECUTOR_TASKS,
                fraction=stuck_finished / EXECUTOR_TASKS,
            ),
            Observation(
                label="executor, no backlog",
                result=f"{paced_tasks} of {EXECUTOR_TASKS} finished",
                ok=paced_tasks == EXECUTOR_TASKS,
                fraction=paced_tasks / EXECUTOR_TASKS,
            ),
        ],
    )
    # Without a limit: two workers, each keeping about LEAK_MB per task.
    assert len(unlimited) <= 2 and unlimited_most >= TASKS // 2
    assert LEAK_MB / 2 < per_task < LEAK_MB * 2
    # With it: workers replaced, none grown by LIMIT tasks' worth.
    assert fixed and len(limited) >= TASKS // LIMIT
    if fork_run is not None:
        assert int(fork_run["forks by a pool thread"]) >= TASKS // LIMIT - 2
        warnings_seen = int(fork_run["DeprecationWarnings"])
        if sys.version_info >= (3, 12):
            assert warnings_seen == int(fork_run["forks by a pool thread"])
        else:
            assert warnings_seen == 0
        assert refused.startswith("ValueError: max_tasks_per_child is incompatible")
    assert default_method == "spawn"
    if sys.version_info < (3, 13, 1):  # gh-115634: measured on 3.11, 3.12, 3.13.0
        assert stuck_finished == LIMIT, stuck_run
    assert paced_tasks == EXECUTOR_TASKS and paced_most <= LIMIT
    assert not multiprocessing.active_children()
