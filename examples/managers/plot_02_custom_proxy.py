"""
A custom proxy, served on loopback, and the lost updates inside it
==================================================================

A ``BaseProxy`` subclass gives a shared object a proxy with exactly the methods
you want: here a counter with ``increment()``. The server it lives in is
started with ``start()`` on ``127.0.0.1`` and reached by other processes with
``connect()``. One trap: the server runs one thread per connection and takes
no lock, so two clients' ``increment()`` calls run at the same time, inside
the shared object, and a read-modify-write there loses updates. The fix is a
lock in the shared object itself.
"""

# %%
# The counter, its proxy and its manager
# --------------------------------------
# ``increment`` reads the value, does some work, and writes the value plus one.
# ``CounterProxy`` forwards the two methods it lists in ``_exposed_``. The
# server keeps three named counters, which clients ask for by name with
# ``get_counter``; ``MeetingCounter`` is for a step-by-step demonstration and
# ``LockedCounter`` is the fix.

import multiprocessing
import os
import secrets
import threading
import time
from multiprocessing.managers import BaseManager, BaseProxy

CLIENTS = 4
INCREMENTS = 50


class Counter:
    def __init__(self):
        self._value = 0

    def increment(self):
        value = self._value
        self._work()
        self._value = value + 1

    def value(self):
        return self._value

    def _work(self):
        time.sleep(0.001)  # whatever happens between the read and the write


class MeetingCounter(Counter):
    """Each increment, after its read, waits until another increment has read."""

    def __init__(self):
        super().__init__()
        self._meeting = threading.Barrier(2, timeout=60)

    def _work(self):
        self._meeting.wait()  # BrokenBarrierError if the calls ran one at a time


class LockedCounter(Counter):
    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def increment(self):
        with self._lock:  # the read and the write, together
            super().increment()


class CounterProxy(BaseProxy):
    _exposed_ = ("increment", "value")

    def increment(self):
        self._callmethod("increment")

    def value(self):
        return self._callmethod("value")


COUNTERS = {"meeting": MeetingCounter(), "plain": Counter(), "locked": LockedCounter()}


def get_counter(name):
    return COUNTERS[name]  # runs in the server: its own COUNTERS


class CounterManager(BaseManager):
    pass


CounterManager.register("get_counter", get_counter, proxytype=CounterProxy)

# %%
# Serving it, and clients that connect
# ------------------------------------
# The parent starts the server on loopback, on a port the system picks, with a
# random key (see :doc:`/howto/remote-managers` for why both matter). Each
# client is a separate process that knows only the address and the key.


def client(address, authkey, name, increments, ready):
    manager = CounterManager(address=address, authkey=authkey)
    manager.connect()
    counter = manager.get_counter(name)
    ready.wait()  # all clients start together
    for _ in range(increments):
        counter.increment()


def run_clients(context, address, authkey, name, clients, increments):
    """Run the clients to the end; return the counter's value."""
    ready = context.Barrier(clients)
    processes = [
        context.Process(target=client, args=(address, authkey, name, increments, ready))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        if process.is_alive():
            process.kill()
            process.join()
        assert process.exitcode == 0, f"a client failed: exit code {process.exitcode}"
    manager = CounterManager(address=address, authkey=authkey)
    manager.connect()
    return manager.get_counter(name).value()


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    authkey = secrets.token_bytes(32)
    server = CounterManager(address=("127.0.0.1", 0), authkey=authkey, ctx=context)
    server.start()
    host, port = server.address
    print("serving on", host)

# %%
# Two calls at once
# -----------------
# Two clients call ``increment()`` once each on the ``MeetingCounter``. Each
# call, after reading the value, waits for the other call to have read it too.
# That can only succeed if the server runs both calls at the same time.

if __name__ == "__main__":
    meeting = run_clients(
        context=context,
        address=server.address,
        authkey=authkey,
        name="meeting",
        clients=2,
        increments=1,
    )
    print("two increments, value:", meeting)

# %%
# Measured
# --------
# Four clients increment the plain counter 50 times each, starting together.

if __name__ == "__main__":
    expected = CLIENTS * INCREMENTS
    plain = run_clients(
        context=context,
        address=server.address,
        authkey=authkey,
        name="plain",
        clients=CLIENTS,
        increments=INCREMENTS,
    )
    print(f"expected {expected}, counted {plain}: lost {expected - plain} in this run")

# %%
# Why
# ---
# Each ``connect()``-ed client, like each thread of each process using a proxy,
# has its own connection to the server, and the server serves each connection
# in its own thread (``Server.accepter`` starts one per connection, and
# ``serve_client`` calls the method directly, with no lock;
# ``multiprocessing/managers.py`` in CPython 3.11, 3.12 and 3.13). So methods
# of one shared object run concurrently, exactly as they would if your own
# threads called them. The ``SyncManager`` types are safe because their
# objects (``dict``, ``list``, ``Lock``...) are; a class of yours is only as
# safe as you make it.
#
# Fix: a lock inside the shared object
# ------------------------------------
# ``LockedCounter.increment`` holds a ``threading.Lock`` (the server's
# threads are threads of one process) around the read and the write.

if __name__ == "__main__":
    locked = run_clients(
        context=context,
        address=server.address,
        authkey=authkey,
        name="locked",
        clients=CLIENTS,
        increments=INCREMENTS,
    )
    print(f"with a lock in the counter: expected {expected}, counted {locked}")
    server.shutdown()
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"{CLIENTS} clients, {expected} increments",
        [
            Observation(
                label="two increments that meet",
                result=f"value {meeting}",
                ok=meeting == 2,
            ),
            Observation(
                label="counter without a lock",
                result=f"kept {plain} of {expected}",
                ok=plain == expected,
                fraction=plain / expected,
            ),
            Observation(
                label="a lock in the counter",
                result=f"kept {locked} of {expected}",
                ok=locked == expected,
                fraction=locked / expected,
            ),
        ],
    )
    assert meeting == 1 and locked == expected, (meeting, locked)
