"""``set_start_method`` called a second time."""

import multiprocessing

from _producer import report, start_context

if __name__ == "__main__":
    context = start_context()
    multiprocessing.set_start_method(context.get_start_method())
    try:
        multiprocessing.set_start_method(context.get_start_method())
    except RuntimeError as error:
        report(error)
