"""A ``multiprocessing`` Lock passed to a pool's worker as a task argument."""

from _producer import report, start_context


def use(lock):
    with lock:
        return True


if __name__ == "__main__":
    context = start_context()
    lock = context.Lock()
    with context.Pool(1) as pool:
        try:
            pool.apply(use, (lock,))
        except Exception as error:
            report(error)
