"""A Pool passed to its own worker."""

from _producer import report, start_context


def submit_more(pool):
    return pool.apply(abs, (-1,))


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        try:
            pool.apply(submit_more, (pool,))
        except Exception as error:
            report(error)
