"""A client that connects to a Manager with the wrong key."""

from multiprocessing import AuthenticationError
from multiprocessing.managers import SyncManager

from _producer import report, start_context

if __name__ == "__main__":
    context = start_context()
    server = SyncManager(address=("127.0.0.1", 0), authkey=b"server key", ctx=context)
    with server:
        client = SyncManager(address=server.address, authkey=b"wrong key")
        try:
            client.connect()
        except AuthenticationError as error:
            report(error)
