"""A ``threading.Lock`` passed to a pool's worker."""

import threading

from _producer import report, start_context


def use(lock):
    with lock:
        return True


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        try:
            pool.apply(use, (threading.Lock(),))
        except Exception as error:
            report(error)
