"""A generator passed to a new process as an argument."""

from _producer import report_start, start_context


def consume(items):
    list(items)


if __name__ == "__main__":
    context = start_context()
    report_start(
        context.Process(target=consume, args=((n for n in range(3)),)),
        "a forked child gets the generator without pickling it",
    )
