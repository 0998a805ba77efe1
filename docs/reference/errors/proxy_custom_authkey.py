"""A child loads a proxy sent through a pipe by a Manager with a key of its own."""

import secrets
from multiprocessing.managers import SyncManager

from _producer import report, start_context


def load(receiving, results):
    try:
        receiving.recv()
    except Exception as error:
        results.send(error)
    else:
        results.send(None)


if __name__ == "__main__":
    context = start_context()
    with SyncManager(authkey=secrets.token_bytes(32), ctx=context) as manager:
        shared = manager.list()
        receiving, sending = context.Pipe(duplex=False)
        results_in, results_out = context.Pipe(duplex=False)
        child = context.Process(target=load, args=(receiving, results_out))
        child.start()
        sending.send(shared)
        if results_in.poll(60):
            report(results_in.recv())
        child.join(timeout=60)
