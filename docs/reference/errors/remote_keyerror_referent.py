"""RemoteError wrapping KeyError: a proxy loaded after its referent was released."""

import pickle
from multiprocessing.managers import RemoteError

from _producer import report, start_context

if __name__ == "__main__":
    context = start_context()
    with context.Manager() as manager:
        queries = manager.list(["q1"])
        sent = pickle.dumps(queries)  # what a queue or a pipe would carry
        del queries  # the only live proxy: the server deletes the list
        try:
            pickle.loads(sent)
        except RemoteError as error:
            report(error)
