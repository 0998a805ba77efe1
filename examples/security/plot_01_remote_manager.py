"""
Serving a Manager safely: loopback, a secret key, and what the key allows
=========================================================================

A ``BaseManager`` with an ``address`` serves its shared objects to any process
that connects and proves it knows the ``authkey``. Every message after that is
a pickle, and unpickling can run code: **whoever has the key can run code in
the server.** So: bind to loopback unless other machines must connect, make the
key with :mod:`secrets` and keep it secret, and never use a key written in
source code. This page runs a server on ``127.0.0.1``, connects a client with
the key, shows a client with a wrong key refused, and shows what a client
*with* the key can make the server do.
"""

# %%
# A server on loopback, with a random key
# ---------------------------------------
# ``("127.0.0.1", 0)``: only this machine can connect, on a port the system
# picks. The key is 32 random bytes, handed to clients some safe way (here, as
# a process argument; across machines, a file only they can read, or a secret
# store).

import multiprocessing
import os
import secrets
import tempfile
from multiprocessing.managers import BaseManager
from pathlib import Path

QUERIES = {}


def get_queries():
    return QUERIES


class QueryManager(BaseManager):
    pass


QueryManager.register("get_queries", callable=get_queries)


def client(address, authkey, results):
    """Another process: connect, update the shared dict, report what happened."""
    manager = QueryManager(address=address, authkey=authkey)
    try:
        manager.connect()
        queries = manager.get_queries()
        queries.update({"alice": queries.get("alice", 0) + 1})
        results.put(("connected", dict(queries.items())))
    except multiprocessing.AuthenticationError as error:
        results.put(("refused", f"{type(error).__name__}: {error}"))


def run_client(context, address, authkey):
    results = context.Queue()
    process = context.Process(target=client, args=(address, authkey, results))
    process.start()
    outcome = results.get(timeout=60)
    process.join(timeout=60)
    return outcome


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    authkey = secrets.token_bytes(32)
    server = QueryManager(address=("127.0.0.1", 0), authkey=authkey, ctx=context)
    server.start()
    host, port = server.address
    print("listening on", host, "(loopback only), port chosen by the system")

# %%
# A client with the key
# ---------------------

if __name__ == "__main__":
    with_key = run_client(context=context, address=server.address, authkey=authkey)
    print("client with the key:", with_key)

# %%
# A client with the wrong key is refused
# --------------------------------------
# Connecting starts with a challenge: the server sends random bytes, the client
# answers with an HMAC of them under its key. A wrong key gets
# :exc:`multiprocessing.AuthenticationError`, before any pickle is read.

if __name__ == "__main__":
    wrong_key = run_client(
        context=context, address=server.address, authkey=secrets.token_bytes(32)
    )
    print("client with a wrong key:", wrong_key)

# %%
# What a client with the key can do
# ---------------------------------
# Anything. The server unpickles the arguments of every call, and a pickle may
# name any importable callable to rebuild an object: here ``Path.touch``, which
# the *server* runs while reading the request. On this test's own loopback
# server the "attack" creates an empty file; a real attacker would name
# ``os.system``. The key is therefore a password to a shell, as the server's
# user.


class RunsInTheServer:
    """Pickles as "call Path.touch(marker)", which whoever unpickles it will do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


if __name__ == "__main__":
    marker = Path(tempfile.mkdtemp()) / "created-by-the-server"
    attacker = QueryManager(address=server.address, authkey=authkey)
    attacker.connect()
    attacker.get_queries().get(RunsInTheServer(marker))  # the client touches nothing
    created = marker.exists()
    print("file created by the server process while reading the call:", created)
    marker.unlink(missing_ok=True)
    marker.parent.rmdir()
    server.shutdown()

# %%
# The rules
# ---------
# - **Bind to** ``127.0.0.1`` (or give no address: on Linux and macOS a Unix
#   socket, which only this machine can reach; on Windows a named pipe, which
#   ``multiprocessing`` opens to other machines too, so there the pipe's
#   default Windows permissions and the ``authkey`` are what keep them out)
#   unless other machines must connect; then bind to one
#   private interface, behind a firewall, never ``0.0.0.0`` on a public
#   network. The connection is not encrypted either: use a VPN or an SSH
#   tunnel between machines.
# - **Make the key with** :func:`secrets.token_bytes`, at least 32 bytes, and
#   hand it over as a secret. A key in source code (``authkey=b"secret"``, or
#   the examples in tutorials) is public.
# - **Leave** ``authkey`` **unset** for a manager only your own child processes
#   use: it then defaults to the parent process's random key, which children
#   inherit and nobody else knows.
# - **Trust every client with the key as you trust yourself**: the key grants
#   code execution in the server, whatever the server's methods.

# %%
# What happened
# -------------

if __name__ == "__main__":
    print("bound to loopback:", host == "127.0.0.1")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A Manager served on the network",
        [
            Observation(label="bound to", result=host, ok=host == "127.0.0.1"),
            Observation(
                label="client with the key",
                result=with_key[0],
                ok=with_key[0] == "connected",
            ),
            Observation(
                label="client with a wrong key",
                result=wrong_key[0],
                ok=wrong_key[0] == "refused",
            ),
            Observation(
                label="a pickle ran in the server",
                result="yes" if created else "no",
                ok=not created,
            ),
        ],
    )
    assert host == "127.0.0.1"
    assert with_key == ("connected", {"alice": 1})
    assert wrong_key[0] == "refused" and "AuthenticationError" in wrong_key[1]
    assert created
