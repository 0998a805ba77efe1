"""A process target that is a decorated function kept under another name."""

import functools

from _producer import report_start, start_context


def logged(function):
    @functools.wraps(function)
    def wrapper(*args):
        return function(*args)

    return wrapper


def report():
    pass


report_logged = logged(report)

if __name__ == "__main__":
    context = start_context()
    report_start(
        context.Process(target=report_logged),
        "a forked child gets the wrapper without pickling it",
    )
