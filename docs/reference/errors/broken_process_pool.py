"""A worker of a ``ProcessPoolExecutor`` that dies while running a task."""

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from _producer import report, start_context


def crash():
    os._exit(1)  # as a segfault or the OOM killer would end it


if __name__ == "__main__":
    context = start_context()
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        try:
            pool.submit(crash).result(timeout=60)
        except BrokenProcessPool as error:
            report(error)
