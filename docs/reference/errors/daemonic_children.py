"""A pool's worker that starts a process of its own."""

import multiprocessing
import os

from _producer import report, start_context


def nested():
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD") or None)
    child = context.Process(target=abs, args=(-1,))
    child.start()  # a pool's workers are daemonic: this raises
    child.join(timeout=60)


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        try:
            pool.apply(nested)
        except Exception as error:
            report(error)
