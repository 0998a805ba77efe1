"""A Queue made in the fork context, passed to a process of another context."""

import multiprocessing

from _producer import report_start, start_context


def use(queue):
    queue.put(1)


if __name__ == "__main__":
    context = start_context()
    queue = multiprocessing.get_context("fork").Queue()
    try:
        report_start(
            context.Process(target=use, args=(queue,)),
            "a fork child inherits the queue's semaphore without pickling it",
        )
    finally:
        queue.close()
        queue.join_thread()
