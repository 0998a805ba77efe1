"""Proxies used after their Manager shut down: connected, and not yet connected."""

import threading

from _producer import report, shown, start_context


def use(proxy, messages):
    try:
        proxy["alice"] = 1
    except Exception as error:
        messages.append(shown(error))
        if error.__context__ is not None:  # the first half of a chained traceback
            messages.append(shown(error.__context__))


if __name__ == "__main__":
    context = start_context()
    manager = context.Manager()
    queries = manager.dict()
    queries["warm"] = 1  # this thread's connection to the server is open
    manager.shutdown()
    messages = []
    use(queries, messages)  # the open connection: the server end is closed
    later = threading.Thread(target=use, args=(queries, messages))
    later.start()  # a new thread connects for the first time: nobody listens
    later.join(timeout=60)
    for message in messages:
        report(message)
