"""
Watching a proxy talk to the Manager's server
=============================================

A Manager is a server process holding your shared objects; a proxy is a small
object in your process that turns method calls into messages to that server.
This page records the messages a ``DictProxy`` sends and receives, shows each
kind of answer (``#RETURN``, ``#PROXY``, ``#ERROR``, ``#UNSERIALIZABLE``), and
watches the server's table of shared objects grow and shrink as proxies come
and go, with two exceptions to the rule.
"""

# %%
# The server and a proxy's token
# ------------------------------
# ``context.Manager()`` starts a server process. Every shared object lives
# there, in a table keyed by an id; a proxy carries a *token*: the object's
# type id, the server's address, and that id.

import multiprocessing
import os
import pickle
import threading
from multiprocessing.managers import BaseManager, RemoteError

from mpguide.figures import Hop, draw_round_trip

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


def last_line(text):
    """The last line of a server traceback (the text ends with a rule of dashes)."""
    return [line for line in str(text).splitlines() if line.strip("- ")][-1]


def show(title, log):
    print(title)
    for direction, message in log:
        kind = message[0] if direction == "received" else None
        if kind in ("#TRACEBACK", "#UNSERIALIZABLE"):  # a traceback's text: its end
            message = (kind, f"...{last_line(message[1])}")
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
    shares = other._tls.connection is queries._tls.connection
    print("another proxy shares the connection:", shares)
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
# Two more ways to get a ``RemoteError``. A result (or exception) the server
# cannot pickle comes back as a fifth kind, ``#UNSERIALIZABLE``, with the
# traceback of the failed pickling: here a class of your own, registered with
# a manager, whose method returns a lock. And an error while the server
# *creates* a shared object, such as ``manager.dict([1])``, comes back as the
# server's traceback, never as the ``TypeError`` that ``dict([1])`` raises.


class Sessions:
    """A shared object of your own; ``open()`` returns a lock, which pickle refuses."""

    def open(self):
        return threading.Lock()


class SessionManager(BaseManager):
    pass


SessionManager.register("Sessions", Sessions)

if __name__ == "__main__":
    with SessionManager(ctx=context) as session_manager:
        sessions = session_manager.Sessions()
        unpicklable = []

        def open_session():
            try:
                sessions.open()
            except RemoteError as error:
                unpicklable.append(error)

        show("sessions.open()  (a result pickle refuses)", record(sessions, open_session))
        print("  and the proxy raised: RemoteError, ending", last_line(unpicklable[0]))
        del sessions
    creation_error = None
    try:
        manager.dict([1])
    except RemoteError as error:
        creation_error = last_line(error)
        print("manager.dict([1]) raised RemoteError, ending", creation_error)

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
# Not every new proxy registers, though. A proxy handed to a child process in
# its ``Process(args=...)`` is rebuilt there while the child is still starting
# (``_inheriting``), without ``incref``. Under ``fork`` and ``forkserver`` the
# child then runs its after-fork hooks, and the proxy registers; a ``spawn``
# child has no such hook, so its proxy is not counted. Once the parent drops
# its own proxy, the server deletes the object under the ``spawn`` child's feet.


def use_after_the_parent_drops_it(shared_list, unpickled, go, answers):
    """In a child: what using ``shared_list`` gives once the parent dropped its own."""
    unpickled.set()
    go.wait(timeout=60)
    try:
        answers.send(f"works: {shared_list[:]}")
    except RemoteError as error:
        answers.send(f"RemoteError, ending {last_line(error)}")
    answers.close()


if __name__ == "__main__":
    handed_over = manager.list(["q1"])
    unpickled, go = context.Event(), context.Event()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=use_after_the_parent_drops_it, args=(handed_over, unpickled, go, send)
    )
    child.start()
    send.close()
    unpickled.wait(timeout=60)
    del handed_over  # the parent's only proxy: decref
    go.set()
    answer = receive.recv() if receive.poll(60) else "no answer within 60 s"
    receive.close()
    child.join(timeout=60)
    print("the child's proxy, after the parent dropped its own:", answer)

# %%
# Nor does every object die with its last proxy. A proxy stored *inside* a
# shared object (a lock in a managed dict, as in the report) is rebuilt in the
# server, which pins its referent in a second table for good. Below, a pickled
# proxy (a token) is loaded after every live proxy and the dict itself are
# gone: for a plain list the server has deleted the object, but the lock that
# was once stored in a dict is still there, and never freed.

if __name__ == "__main__":
    plain = manager.list()
    pickled_plain = pickle.dumps(plain)
    del plain
    try:
        pickle.loads(pickled_plain)
        plain_token = "still there"
        print("a list's token, after its last proxy died: still there")
    except RemoteError as error:
        plain_token = f"RemoteError, ending {last_line(error)}"
        print("a list's token, after its last proxy died:", plain_token)
    holder = manager.dict({"lock": manager.Lock()})
    pickled_lock = pickle.dumps(holder["lock"])  # that proxy dies right away
    del holder
    pinned = pickle.loads(pickled_lock)
    acquired = pinned.acquire(timeout=1)
    print("a lock's token, after its last proxy and its dict died: acquire() ->", acquired)
    pinned.release()
    del pinned

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
        processes=[mine, theirs],
        hops=[
            Hop(
                source_process=mine,
                source_address=token.id,
                target_process=theirs,
                target_address=token.id,
                caption="__getitem__('alice')",
                source_role="DictProxy",
                target_role="dict",
            ),
            Hop(
                source_process=theirs,
                source_address=token.id,
                target_process=mine,
                target_address="copy",
                caption="#RETURN ['q1']",
                source_role="dict",
                target_role="list",
            ),
            Hop(
                source_process=mine,
                source_address=token.id,
                target_process=theirs,
                target_address="iterator",
                caption="__iter__()",
                source_role="DictProxy",
                target_role="new object",
            ),
            Hop(
                source_process=theirs,
                source_address="iterator",
                target_process=mine,
                target_address="proxy",
                caption="#PROXY token",
                source_role="new object",
                target_role="IteratorProxy",
            ),
            Hop(
                source_process=mine,
                source_address="proxy",
                target_process=theirs,
                target_address=lock_id,
                caption="__getitem__(1)",
                source_role="DictProxy",
                target_role="Lock",
            ),
            Hop(
                source_process=theirs,
                source_address=lock_id,
                target_process=mine,
                target_address="new proxy",
                caption="#RETURN proxy; incref",
                source_role="Lock",
                target_role="AcquirerProxy",
            ),
        ],
        title="One connection per thread carries calls; answers are copies or proxies",
    )
    manager.shutdown()

# %%
# What this shows
# ---------------
# - Shared objects live in one server process, in a table keyed by id.
# - A call is a message; what comes back is a pickled copy (``#RETURN``), a
#   proxy to a new shared object (``#PROXY``), or the method's exception
#   (``#ERROR``).
# - A proxy registers with the server over a new connection when it comes
#   into existence (except one rebuilt from a ``spawn`` child's arguments) and
#   unregisters when it dies; an object whose proxy was once stored inside
#   another shared object stays in the server for good.

if __name__ == "__main__":
    # Each kind of answer, the shared connection, the counts and the two
    # exceptions, as this run recorded them.
    assert server.name.startswith("SyncManager-"), server.name
    assert log_return == [
        ("sent", (token.id, "__getitem__", ("alice",), {})),
        ("received", ("#RETURN", ["q1"])),
    ], log_return
    assert [message[0] for _, message in log_proxy][-1] == "#PROXY", log_proxy
    assert log_error[-1][1][0] == "#ERROR" and repr(raised[0]) == "KeyError('bob')"
    assert shares
    assert last_line(unpicklable[0]) == "TypeError: cannot pickle '_thread.lock' object"
    assert creation_error is not None and creation_error.startswith("TypeError")
    assert (before, created, after) == (1, 2, 1)
    if context.get_start_method() == "spawn":  # rebuilt without incref, no hook
        assert answer.startswith("RemoteError, ending KeyError"), answer
    else:
        assert answer == "works: ['q1']", answer
    assert plain_token.startswith("RemoteError, ending KeyError"), plain_token
    assert acquired is True
    kind, lock_proxy = log_lock[-1][1]
    assert kind == "#RETURN" and type(lock_proxy).__name__ == "AcquirerProxy"
    assert not multiprocessing.active_children()
