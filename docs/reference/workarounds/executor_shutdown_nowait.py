"""A task still running when ``shutdown()`` is called, on every Python from 3.7.

Python 3.7 and 3.8 fail here with ``OSError: handle is closed`` if
``shutdown(wait=False)`` is called while a task is pending (bpo-39104, fixed in
3.9): the executor's thread dies of it, and the task's future never gets its
result. On those versions ``shutdown(wait=True)`` waits for that thread before
it closes what the thread uses; from 3.9 on, ``wait=False`` is safe.
"""

import concurrent.futures
import multiprocessing
import os
import sys
import time

BEFORE_THE_FIX = sys.version_info < (3, 9)
TASK_SECONDS = 0.2
RESULT_WAIT = 3.0  # seconds: a bound on the result, far more than the task takes


def nap(seconds):
    time.sleep(seconds)
    return seconds


def main():
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    executor = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
    future = executor.submit(nap, TASK_SECONDS)
    executor.shutdown(wait=BEFORE_THE_FIX)
    try:
        print("the task's result after shutdown():", future.result(timeout=RESULT_WAIT))
    except concurrent.futures.TimeoutError:
        print(f"the task's result after shutdown(): none within {RESULT_WAIT:.0f} s")


if __name__ == "__main__":
    main()
