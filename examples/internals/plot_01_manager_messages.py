"""
Watching a proxy talk to the Manager's server
=============================================

A Manager is a server process holding your shared objects; a proxy is a small
object in your process that turns method calls into messages to that server.
This page records the messages a ``DictProxy`` sends and receives, shows the
three kinds of answer (``#RETURN``, ``#PROXY``, ``#ERROR``), and watches the
server's table of shared objects grow and shrink as proxies come and go.
"""

# %%
# The server and a proxy's token
# ------------------------------
# ``context.Manager()`` starts a server process. Every shared object lives
# there, in a table keyed by an id; a proxy carries a *token*: the object's
# type id, the server's address, and that id.

import multiprocessing
import os

from mpguide.diagrams import Hop, draw_round_trip

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    server = manager._process
    print(
        "server process:",
        server.name,
        "pid",
        server.pid,
        "(this process:",
        os.getpid(),
        end=")\n",
    )
    queries = manager.dict({"alice": ["q1"]})
    token = queries._token
    print("token:", token)
    print("shared objects in the server:", manager._number_of_objects())

# %%
# The messages
# ------------
# A proxy sends each call over one connection per thread as a tuple
# ``(id, method, args, kwargs)`` and gets back ``(kind, result)``. Wrapping that
# connection shows the traffic exactly.


class RecordingConnection:
    """Stands in for a proxy's connection and records what passes through it."""

    def __init__(self, connection, log):
        self._connection, self._log = connection, log

    def send(self, message):
        self._log.append(("sent", message))
        self._connection.send(message)

    def recv(self):
        answer = self._connection.recv()
        self._log.append(("received", answer))
        return answer


def record(proxy, call):
    """Run ``call()`` and return the messages ``proxy``'s connection carried."""
    log = []
    if not hasattr(proxy._tls, "connection"):
        proxy._connect()  # a proxy connects on its first call
    proxy._tls.connection = RecordingConnection(proxy._tls.connection, log)
    try:
        call()
    finally:
        proxy._tls.connection = proxy._tls.connection._connection
    return log


def show(title, log):
    print(title)
    for direction, message in log:
        print(f"  {direction:8} {message!r}")


if __name__ == "__main__":
    log_return = record(queries, lambda: queries["alice"])
    show('queries["alice"]  (a value comes back pickled: #RETURN)', log_return)
    log_proxy = record(queries, lambda: iter(queries))
    show("iter(queries)  (a new shared object, a proxy to it: #PROXY)", log_proxy)

    raised = []

    def look_up_missing_user():
        try:
            queries["bob"]
        except KeyError as error:
            raised.append(error)

    log_error = record(queries, look_up_missing_user)
    show('queries["bob"]  (the server\'s exception, pickled: #ERROR)', log_error)
    print("  and the proxy raised:", repr(raised[0]))

# %%
# The connection belongs to the thread, not to the proxy: every proxy to this
# server, in this thread, uses the one that ``queries`` opened.

if __name__ == "__main__":
    other = manager.list()
    other.append(1)  # its first call
    print(
        "another proxy shares the connection:",
        other._tls.connection is queries._tls.connection,
    )
    del other  # its referent is freed: the server forgets it

# %%
# ``#RETURN`` carries a pickled value: what you get is a copy, which is why
# changing it changes nothing in the server (pitfall 1). ``#PROXY`` carries a
# token for a new shared object the server created, and the proxy to it is
# built on your side. ``#ERROR`` carries the exception the method raised, which
# the proxy raises again: the report's ``KeyError`` travels this way. An error
# in the server's own machinery arrives as ``#TRACEBACK`` and is raised as a
# ``RemoteError`` (pitfall 10).
#
# Reference counting: proxies keep objects alive
# ----------------------------------------------
# The server counts the proxies alive for each object, in every process. A new
# proxy registers (``incref``) over a fresh connection; a proxy that is
# garbage collected unregisters (``decref``) over another. At zero the object
# is deleted.

if __name__ == "__main__":
    before = manager._number_of_objects()
    shared_list = manager.list([1, 2])
    created = manager._number_of_objects()
    del shared_list
    after = manager._number_of_objects()
    print(f"objects: {before} -> {created} after manager.list() -> {after} after del")

# %%
# A lock stored in a managed dict is itself a proxy, so fetching it returns a
# pickled *proxy*: ``#RETURN`` with a token inside, rebuilt here as a new proxy
# that registers with the server. That is why fetching a lock on every use
# opens connections (pitfall 8).

if __name__ == "__main__":
    user_locks = manager.dict({1: manager.Lock()})
    log_lock = record(user_locks, lambda: user_locks[1])
    show("user_locks[1]  (a proxy comes back inside #RETURN)", log_lock)
    lock_id = log_lock[-1][1][1]._id
    print("the lock's id in the server:", lock_id)

# %%
# The same traffic as a picture: your process on top, the server below, and
# each message an arrow between the objects it concerns.

if __name__ == "__main__":
    mine, theirs = "your process", f"{server.name} (server)"
    figure = draw_round_trip(
        [mine, theirs],
        [
            Hop(
                mine,
                token.id,
                theirs,
                token.id,
                "__getitem__('alice')",
                "DictProxy",
                "dict",
            ),
            Hop(theirs, token.id, mine, "copy", "#RETURN ['q1']", "dict", "list"),
            Hop(
                mine, token.id, theirs, "iterator", "__iter__()", "DictProxy", "new object"
            ),
            Hop(
                theirs,
                "iterator",
                mine,
                "proxy",
                "#PROXY token",
                "new object",
                "IteratorProxy",
            ),
            Hop(mine, "proxy", theirs, lock_id, "__getitem__(1)", "DictProxy", "Lock"),
            Hop(
                theirs,
                lock_id,
                mine,
                "new proxy",
                "#RETURN proxy; incref",
                "Lock",
                "AcquirerProxy",
            ),
        ],
        "One connection per thread carries calls; answers are copies or proxies",
    )
    manager.shutdown()

# %%
# What this shows
# ---------------
# - Shared objects live in one server process, in a table keyed by id.
# - A call is a message; what comes back is a pickled copy (``#RETURN``), a
#   proxy to a new shared object (``#PROXY``), or the method's exception
#   (``#ERROR``).
# - Every proxy that comes into existence registers with the server over a new
#   connection; every proxy that dies unregisters.
