"""A lambda sent to a pool."""

from _producer import report, start_context

if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        try:
            pool.map(lambda x: 2 * x, [1, 2])
        except Exception as error:
            report(error)
