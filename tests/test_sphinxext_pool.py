"""What a Pool does when its children cannot find ``__main__``'s functions.

The extension's docstring says it: a task function that cannot be found loses
each task with a dead worker, which the pool replaces, and ``map`` then waits
forever; workers die and are replaced without end only when the initializer
cannot be found. The script runs with ``python -c``, whose ``__main__`` has no
file, as sphinx-gallery's has none.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

SCRIPT = """
import multiprocessing
import queue
import sys
import time


def task(n):
    return n


def init():
    pass


def reports_within(reports, most, seconds):
    \"\"\"How many workers reported their start (at most ``most``) within ``seconds``.\"\"\"
    count = 0
    deadline = time.monotonic() + seconds
    while count < most:
        try:
            reports.get(timeout=max(deadline - time.monotonic(), 0.001))
        except queue.Empty:
            break
        count += 1
    return count


def new_pids(pool, known, least, seconds):
    \"\"\"Workers seen in the pool and not in ``known``: at least ``least``,
    unless ``seconds`` run out.\"\"\"
    seen = set()
    deadline = time.monotonic() + seconds
    while len(seen) < least and time.monotonic() < deadline:
        seen.update(worker.pid for worker in pool._pool)
        seen -= known
        time.sleep(0.005)
    return seen


if __name__ == "__main__":
    case, method = sys.argv[1:]
    context = multiprocessing.get_context(method)
    if case == "task":
        # Each worker reports its start through a queue (its initializer is the
        # queue's put, which it can find): a look at the pool's list of workers
        # may miss one that starts and dies between two looks.
        reports = context.Queue()
        pool = context.Pool(2, initializer=reports.put, initargs=("started",))
        result = pool.map_async(task, range(4), chunksize=1)
        # The first two workers, and one replacement per lost task.
        print("workers started:", reports_within(reports, 2 + 4, 60))
        # Does any worker start now? A second's grace shows none.
        later = reports_within(reports, 1, 1)
    else:
        pool = context.Pool(2, initializer=init)
        result = pool.map_async(abs, range(4), chunksize=1)
        started = new_pids(pool, set(), 12, 60)  # far more than the pool's two
        print("workers started:", len(started))
        # One soon starts again (wait for it, however busy the machine).
        later = new_pids(pool, started, 1, 60)
    print("workers started since:", "none" if not later else "some")
    print("map finished:", result.ready())
    pool.terminate()
    pool.join()
"""


def run(case: str, start_method: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, case, start_method],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_a_task_function_that_cannot_be_found_loses_each_task_then_map_waits(
    start_method: str,
) -> None:
    result = run("task", start_method)
    assert "workers started: 6" in result.stdout
    assert "workers started since: none" in result.stdout
    assert "map finished: False" in result.stdout
    # Each of the four tasks killed the worker that took it, and no other died.
    assert result.stderr.count("Can't get attribute 'task'") == 4
    assert "'init'" not in result.stderr


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_an_initializer_that_cannot_be_found_kills_workers_without_end(
    start_method: str,
) -> None:
    result = run("initializer", start_method)
    started = re.search(r"^workers started: (\d+)$", result.stdout, re.MULTILINE)
    assert started and int(started.group(1)) >= 12, result.stdout  # one poll may see two
    assert "workers started since: some" in result.stdout
    assert "map finished: False" in result.stdout
    assert result.stderr.count("Can't get attribute 'init'") >= 10
