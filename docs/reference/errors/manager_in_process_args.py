"""A started Manager passed to a new process as an argument."""

from _producer import not_produced, report, start_context


def count(manager):
    return manager.dict()


if __name__ == "__main__":
    context = start_context()
    with context.Manager() as manager:
        child = context.Process(target=count, args=(manager,))
        try:
            child.start()
        except Exception as error:
            report(error)
        else:
            child.join(timeout=60)
            not_produced("a forked child gets the Manager object without pickling it")
