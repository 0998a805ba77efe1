"""An async result read, with a timeout, after the pool's with block."""

import time

from _producer import report, start_context


def slow(value):
    time.sleep(0.3)
    return value


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        pending = pool.map_async(slow, [1, 2])
    try:
        pending.get(timeout=2)
    except Exception as error:
        report(error)
