"""A started Manager passed to a new process as an argument."""

from _producer import report_start, start_context


def count(manager):
    return manager.dict()


if __name__ == "__main__":
    context = start_context()
    with context.Manager() as manager:
        report_start(
            context.Process(target=count, args=(manager,)),
            "a forked child gets the Manager object without pickling it",
        )
