"""A task in a Celery prefork worker that starts a multiprocessing.Process.

Celery's prefork pool is billiard's ``Pool``, started with billiard's default
context (``fork`` on Linux): its workers are daemonic billiard processes, and
billiard makes each one multiprocessing's current process too. The task's own
process uses ``MPGUIDE_START_METHOD``.
"""

import multiprocessing
import os
import sys

import billiard
from _producer import report, start_context


def close_stdin():
    """billiard's processes replace stdin with a file on os.devnull that
    nothing closes (``_bootstrap`` in billiard/process.py); one that ended
    through the interpreter's shutdown, not ``os._exit``, would report it
    under ``-X dev``. Closed here, so that the run checks this program's own
    leaks only."""
    sys.stdin.close()


def start_a_process():
    """What the task does: start a process of the standard library's."""
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD") or None)
    child = context.Process(target=abs, args=(-1,))
    child.start()  # the worker is daemonic: this raises
    child.join(timeout=10)


def task():
    here = multiprocessing.current_process()
    lines = [f"current process: {type(here).__module__}.{type(here).__name__}"]
    lines.append(f"its daemon flag: {here.daemon}")
    try:
        start_a_process()
    except AssertionError as error:
        lines.append(f"multiprocessing.Process: {error}")
    # The fix: a process of billiard's, whose start() has no such check.
    child = billiard.Process(target=close_stdin)
    child.start()
    child.join(timeout=10)
    lines.append(f"billiard.Process exit code: {child.exitcode}")
    return lines


def failing_task():
    start_a_process()


if __name__ == "__main__":
    start_context()
    with billiard.Pool(1, initializer=close_stdin) as pool:
        for line in pool.apply(task):
            print(line)
        try:
            pool.apply(failing_task)
        except Exception as error:
            report(error)
