"""A client connecting to a Manager address where no server listens."""

import socket
from multiprocessing.managers import SyncManager

from _producer import report, start_context

if __name__ == "__main__":
    start_context()
    with socket.create_server(("127.0.0.1", 0)) as probe:
        address = probe.getsockname()  # a port that was free a moment ago
    client = SyncManager(address=address, authkey=b"key")
    try:
        client.connect()
    except ConnectionRefusedError as error:
        report(error)
