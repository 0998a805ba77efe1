"""An open file passed to a pool's worker: a live resource cannot be pickled."""

from _producer import report, start_context


def first_line(log):
    return log.readline()


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool, open(__file__) as log:
        try:
            pool.apply(first_line, (log,))
        except Exception as error:
            report(error)
