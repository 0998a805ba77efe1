"""A pool used after its with block."""

from _producer import report, start_context

if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        pass
    try:
        pool.map(abs, [-1])
    except ValueError as error:
        report(error)
