"""Logging from worker processes: each worker sends its records to the parent
through a queue, and one listener in the parent writes them all."""

import logging
import logging.handlers
import multiprocessing
import os

USERS = ["alice", "bob"]


def send_logs_to(queue):
    """Pool initializer: every record this worker logs goes to ``queue``."""
    root = logging.getLogger()
    # Replace the handlers, do not add to them: under fork the worker inherited
    # the parent's, which would write each record a second time, from here.
    # (Under fork, handlers the parent put on other loggers stay too: this
    # program configures the root logger alone.)
    root.handlers = [logging.handlers.QueueHandler(queue)]
    root.setLevel(logging.INFO)


def handle_query(user):
    logging.getLogger("queries").info("query for %s", user)
    return user


def main():
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    logging.basicConfig(level=logging.INFO, format="%(processName)s %(name)s: %(message)s")
    queue = context.Queue()
    listener = logging.handlers.QueueListener(
        queue, *logging.getLogger().handlers, respect_handler_level=True
    )
    with context.Pool(4, initializer=send_logs_to, initargs=(queue,)) as pool:
        # Started after the workers, so that under fork they copy no thread.
        listener.start()
        try:
            handled = pool.map(handle_query, USERS * 10)
            # A worker exits only once its queue has sent every record.
            # Leaving the with block first would terminate() the workers.
            pool.close()
            pool.join()
        finally:
            listener.stop()
    queue.close()
    queue.join_thread()
    print("query_times:", len(handled))
    assert len(handled) == 20


if __name__ == "__main__":
    main()
