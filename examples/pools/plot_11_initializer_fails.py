"""
An initializer that raises: ``Pool`` starts workers without end, the executor breaks
====================================================================================

A pool's ``initializer`` opens a connection, loads a model, reads a
configuration, and one day it raises. ``multiprocessing.Pool`` does not stop:
each worker prints a traceback and dies, the pool starts another one in its
place, which dies the same way, and ``pool.map`` never returns. Only the
stream of tracebacks on stderr says that anything is wrong.
``ProcessPoolExecutor`` stops instead: every pending future fails with
``BrokenProcessPool``, and the executor refuses new tasks. This page counts
the workers a ``Pool`` starts while ``map`` waits, shows what the executor
raises, explains both from CPython's code, and fixes it with an initializer
that records its error for the tasks to raise, or a check before the pool
starts.
"""

# %%
# The executor's messages as the build produced them: what its futures raise,
# :ref:`error-broken-process-pool`, and what a later ``submit()`` raises,
# :ref:`error-executor-not-usable`.

# %%
# Reproduce
# ---------
# The initializer connects to a database that is down. A pool that starts
# workers for ever must not run inside this page, and every worker prints its
# traceback to stderr, so the failing pool runs as a separate program whose
# stderr the page reads. The program calls ``map_async`` and watches the
# pool's workers (``multiprocessing.active_children()``, whose names number
# them in the order they started) until it has seen worker number
# ``WATCH_UNTIL`` or ``WAIT`` seconds have passed, then asks whether ``map``
# has finished and leaves its ``with`` block, which terminates the pool.

import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

WORKERS = 2
WATCH_UNTIL = 4 * WORKERS  # the number of the last worker watched for
WAIT = 60  # seconds: a bound on every wait
ITEMS = [1, 2, 3, 4]

PROGRAM = f"""
import multiprocessing, os, sys, time, traceback
from concurrent.futures import ProcessPoolExecutor


def connect_to_database():
    raise ConnectionRefusedError("the database at db:5432 refused the connection")


def square(value):
    return value * value


def shown(error):
    return traceback.format_exception_only(type(error), error)[-1].strip()


def newest_worker():
    \"\"\"The number of the newest worker running: ForkPoolWorker-7 is the 7th.\"\"\"
    names = [child.name for child in multiprocessing.active_children()]
    return max((int(name.rpartition("-")[2]) for name in names), default=0)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    if sys.argv[1] == "Pool":
        with context.Pool({WORKERS}, initializer=connect_to_database) as pool:
            result = pool.map_async(square, {ITEMS})
            started, deadline = 0, time.monotonic() + {WAIT}
            while started < {WATCH_UNTIL} and time.monotonic() < deadline:
                started = max(started, newest_worker())
                time.sleep(0.01)
            print("workers started:", started)
            print("map finished:", result.ready())
    else:
        with ProcessPoolExecutor(
            {WORKERS}, mp_context=context, initializer=connect_to_database
        ) as executor:
            future = executor.submit(square, 3)
            try:
                future.result(timeout={WAIT})
            except Exception as error:
                print("result():", shown(error))
            try:
                executor.submit(square, 4)
            except Exception as error:
                print("submit():", shown(error))
"""


def run_program(pool_kind, method):
    """Run ``PROGRAM`` with a pool of ``pool_kind``; return its stdout and stderr."""
    env = {**os.environ, "MPGUIDE_START_METHOD": method, "PYTHON_COLORS": "0"}
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "program.py").write_text(PROGRAM)
        done = subprocess.run(
            [sys.executable, "program.py", pool_kind],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=2 * WAIT,
        )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def worker_numbers(stderr):
    """The numbers of the workers whose traceback stderr holds: a traceback
    headed ``Process ForkPoolWorker-7:`` is worker 7's."""
    return [int(n) for n in re.findall(r"^Process \w+PoolWorker-(\d+):$", stderr, re.M)]


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    pool_output, pool_stderr = run_program("Pool", method)
    print(pool_output.strip())
    started = int(re.search(r"^workers started: (\d+)$", pool_output, re.M)[1])
    died = sorted(worker_numbers(pool_stderr))
    refused = re.findall(r"^ConnectionRefusedError: .*$", pool_stderr, re.M)
    print("tracebacks on stderr:", len(died), "of workers", ", ".join(map(str, died)))
    print("  each ending:", refused[0] if refused else "-")

# %%
# After its first ``WORKERS``, the pool starts a worker only in place of one
# that has exited, and never runs more than ``WORKERS`` at once, so when the
# program saw worker ``WATCH_UNTIL`` running, at least ``WATCH_UNTIL -
# WORKERS`` workers had died, each printing its traceback. They are not always
# the oldest: a worker slow to start (here and there one under ``forkserver``)
# is still starting while younger ones die. The count would have gone on
# rising for as long as the program let the pool live.
#
# Why
# ---
# A ``Pool`` worker runs ``worker()`` in ``multiprocessing/pool.py``, which
# calls ``initializer(*initargs)`` with nothing around it: the exception ends
# the worker, whose ``Process._bootstrap`` prints ``Process
# ForkPoolWorker-N:`` (``SpawnPoolWorker-N``, ``ForkServerPoolWorker-N``) and
# the traceback, and exits with code 1. The pool's
# worker-handler thread (``Pool._handle_workers``) loops while the pool is
# running, or while results are pending and it was not terminated; each turn
# calls ``_maintain_pool``, which joins the workers that exited
# (``_join_exited_workers``) and starts as many new ones
# (``_repopulate_pool_static``), then waits for a worker's sentinel. No code
# asks *why* a worker exited, or fails the pending tasks: the replacements
# run the same initializer, and die as they start, for as long as the pool
# lives. ``close()`` followed by ``join()`` waits for ever too, since the loop
# goes on while results are pending. Only ``terminate()`` (the end of a
# ``with`` block) stops it. This code is the same in CPython 3.11, 3.12 and
# 3.13.
#
# ``ProcessPoolExecutor``: ``BrokenProcessPool``
# ----------------------------------------------

if __name__ == "__main__":
    executor_output, executor_stderr = run_program("ProcessPoolExecutor", method)
    print(executor_output.strip())
    logged = executor_stderr.count("Exception in initializer:")
    print("times 'Exception in initializer:' was logged on stderr:", logged)

# %%
# The executor's worker, ``_process_worker`` in
# ``concurrent/futures/process.py``, wraps the initializer in ``except
# BaseException``, logs ``Exception in initializer:`` with the traceback
# (``LOGGER.critical``, printed by ``logging``'s last-resort handler when no
# logging is configured), and returns: the worker exits. The executor's
# manager thread waits on the workers' sentinels as well as on results
# (``wait_result_broken_or_wakeup``); a worker that ended without a result
# breaks the pool (``_terminate_broken``; ``terminate_broken`` in 3.11): every
# pending future fails with
# ``BrokenProcessPool``, with no cause attached, the other workers are
# terminated, and ``submit()`` raises ``BrokenProcessPool`` from then on. Same
# code in 3.11, 3.12 and 3.13. The messages blame a process that "terminated
# abruptly": read the logged traceback above them for the initializer's
# error.
#
# Fix 1: an initializer that records its error
# --------------------------------------------
# The initializer catches the exception and keeps it; each task raises it
# first. The exception then travels as any task's exception does, and
# ``map`` raises it in the parent, once, with the worker's traceback as its
# cause. No worker dies, so none is replaced.

SETUP_ERROR = None  # in each worker: what its initializer raised


def connect_to_database():
    raise ConnectionRefusedError("the database at db:5432 refused the connection")


def connect_or_record():
    global SETUP_ERROR
    try:
        connect_to_database()
    except Exception as error:
        SETUP_ERROR = error


def square_after_setup(value):
    if SETUP_ERROR is not None:
        raise SETUP_ERROR
    return value * value


def shown(error):
    """The last line a traceback of ``error`` ends with."""
    return traceback.format_exception_only(type(error), error)[-1].strip()


if __name__ == "__main__":
    with context.Pool(WORKERS, initializer=connect_or_record) as pool:
        try:
            pool.map_async(square_after_setup, ITEMS).get(timeout=WAIT)
            recorded = "map returned"
        except ConnectionRefusedError as error:
            recorded = shown(error)
        workers_alive = len(multiprocessing.active_children())
    print("map with the recording initializer raised:", recorded)
    print(f"its workers alive after it: {workers_alive} of {WORKERS}")

# %%
# Fix 2: check before the pool starts
# -----------------------------------
# What every worker needs (a server that answers, a file that exists, a
# setting) can be checked once in the parent, before any worker starts: the
# error is raised where it happens, with its plain traceback. It does not
# replace Fix 1 when a worker's own setup can fail.

if __name__ == "__main__":
    try:
        connect_to_database()
        checked_first = "the database answered"
    except ConnectionRefusedError as error:
        checked_first = shown(error)
    print("checked before the pool:", checked_first)

# %%
# What happened
# -------------

if __name__ == "__main__":
    never_finished = "map finished: False" in pool_output
    enough_died = len(set(died)) >= started - WORKERS
    reproduced = never_finished and started >= WATCH_UNTIL and enough_died
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (the Pool of {WORKERS} "
        f"had started {started} workers, each dying in its initializer; map had not "
        "finished)"
    )
    refused_line = "ConnectionRefusedError: the database at db:5432 refused the connection"
    fixed = recorded == checked_first == refused_line and workers_alive == WORKERS
    print(f"fix works: {'yes' if fixed else 'no'} (map raised the initializer's error)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "An initializer that raises",
        [
            Observation(
                label="Pool", result=f"{started} workers started, no result", ok=False
            ),
            Observation(label="ProcessPoolExecutor", result="BrokenProcessPool", ok=True),
            Observation(label="initializer records", result=recorded, ok=fixed),
            Observation(label="check before the pool", result=checked_first, ok=fixed),
        ],
    )
    assert reproduced, (pool_output, died, pool_stderr[-1000:])
    assert set(refused) == {refused_line} and len(refused) >= started - WORKERS
    broken_pool = "concurrent.futures.process.BrokenProcessPool"
    assert executor_output.splitlines() == [
        f"result(): {broken_pool}: A process in the process pool was terminated "
        "abruptly while the future was running or pending.",
        f"submit(): {broken_pool}: A child process terminated abruptly, the process "
        "pool is not usable anymore",
    ]
    assert 1 <= logged <= WORKERS
    assert fixed
    assert not multiprocessing.active_children()
