"""
Pitfall 8: fetching a lock proxy from a managed dict on every use
=================================================================

The report's fix, ``with user_locks[user.id]: ...``, works, but every
``user_locks[...]`` receives a *new* lock proxy, and every new proxy opens
connections to the server: one to register itself (incref) and one, when it is
garbage, to unregister (decref). Counted here, request by request, then timed.
The fix: fetch each lock once per worker and keep it.
"""

# %%
# Why it happens: :doc:`/explanation/how-a-manager-works`.

# %%
# Counting connections and requests
# ---------------------------------
# Proxies connect through ``multiprocessing.managers.listener_client``; a
# worker wraps its ``Client`` to count the connections it opens, and
# ``Connection.send`` to note each request it sends (a request is a tuple whose
# second item names the method; the sender then waits for the reply), while it
# takes a user's lock once, then 50 times, each way.

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import connection, managers

USES = 50
NEW_CONNECTION = "[new connection]"


def traffic(use):
    """Run ``use()``; return what it sent to the server, in order: the name of
    each request, and ``NEW_CONNECTION`` where it opened a connection."""
    listener, client = managers.listener_client["pickle"]
    send = connection.Connection.send
    sent = []

    def counting_client(*args, **kwargs):
        sent.append(NEW_CONNECTION)
        return client(*args, **kwargs)

    def noting_send(self, message):
        if isinstance(message, tuple) and len(message) == 4:  # (id, method, args, kwds)
            sent.append(message[1])
        return send(self, message)

    managers.listener_client["pickle"] = (listener, counting_client)
    connection.Connection.send = noting_send
    try:
        use()
    finally:
        managers.listener_client["pickle"] = (listener, client)
        connection.Connection.send = send
    return sent


def one_use(user_locks, user_id):
    with user_locks[user_id]:
        pass


def fetch_every_time(user_locks, user_id):
    for _ in range(USES):
        with user_locks[user_id]:
            pass


def fetch_once(user_locks, user_id):
    lock = user_locks[user_id]
    for _ in range(USES):
        with lock:
            pass


def cache_with_setdefault(user_locks, user_id):
    cache = {}
    for _ in range(USES):
        with cache.setdefault(user_id, user_locks[user_id]):  # fetches every time
            pass


def cache_with_get(user_locks, user_id):
    cache = {}
    for _ in range(USES):
        lock = cache.get(user_id)
        if lock is None:  # fetch only on a miss
            lock = cache[user_id] = user_locks[user_id]
        with lock:
            pass


PATTERNS = (fetch_every_time, fetch_once, cache_with_setdefault, cache_with_get)


def measure(user_locks, user_id):
    """In a worker: what one use sends, then the connections opened, requests
    sent and seconds taken by each pattern."""
    one_use(user_locks, user_id)  # this thread's own connection is now open
    results = {"one use": traffic(lambda: one_use(user_locks, user_id))}
    for use in PATTERNS:
        sent = traffic(lambda use=use: use(user_locks, user_id))
        started = time.perf_counter()
        use(user_locks, user_id)
        seconds = time.perf_counter() - started
        requests = len(sent) - sent.count(NEW_CONNECTION)
        results[use.__name__] = (sent.count(NEW_CONNECTION), seconds, requests)
    return results


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    user_locks = manager.dict({1: manager.Lock(), 2: manager.Lock()})
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        results = pool.submit(measure, user_locks=user_locks, user_id=1).result()
    manager.shutdown()
    one = results.pop("one use")
    print("one `with user_locks[1]:` sends:", ", ".join(one))
    requests = len(one) - one.count(NEW_CONNECTION)
    print(
        f"that is {requests} requests, each waiting for its reply, "
        f"and {one.count(NEW_CONNECTION)} new connections"
    )
    for name, (connections, seconds, _) in results.items():
        print(f"{name}: {connections} connections for {USES} uses,", end=" ")
        print(f"{seconds / USES * 1e6:.0f} microseconds per use")
    for name, (_, _, sent) in results.items():
        print(f"{name}: {sent} requests for {USES} uses")

# %%
# Why
# ---
# The server's dict holds a lock *proxy*. ``user_locks[1]`` is a request
# (``__getitem__``) that pickles it there and unpickles it in the worker, which
# builds a new proxy object. A new proxy registers with the server over a new
# connection (``incref``, so that the server keeps the lock alive while someone
# holds a proxy), and the old one, dropped after the ``with``, unregisters over
# another (``decref``): three requests to fetch the lock, two of them over a
# connection of their own, which first authenticates with the manager's key
# (``Client`` in ``multiprocessing/connection.py`` calls ``answer_challenge``
# and ``deliver_challenge``; ``BaseProxy._incref`` and ``BaseProxy._decref`` in
# ``multiprocessing/managers.py``, 3.11 to 3.13). The lock's own calls
# (``acquire``, ``release``) reuse the worker's one connection per thread. A
# proxy you keep costs nothing more to keep.
#
# Fix: fetch once per worker
# --------------------------
# Fetch each lock the first time a worker needs it and keep it, in a dict of
# the worker's own: ``fetch_once`` above, or ``cache_with_get``, which looks in
# its cache with ``get`` and fetches only on a miss. A cache filled with
# ``cache.setdefault(uid, user_locks[uid])`` looks the same but keeps the bug:
# Python evaluates the default, ``user_locks[uid]``, before every call, so
# ``cache_with_setdefault`` fetches (and discards) a proxy on every use, as
# counted above. Or skip the Manager for locks
# altogether: :class:`mpguide.KeyedLocks` (see
# :ref:`sphx_glr_gallery_library_plot_02_keyed_locks.py`).
#
# The times above come from one run on the build machine and are reported, not
# asserted; :doc:`/explanation/index` links the measured costs.

# %%
# ``python -m mpguide lint`` finds the fetch on every use without running it (rule
# MPG008, :doc:`/reference/lint`), and prints nothing for the fetch kept:

from mpguide.lint import lint_snippet

BROKEN = """\
import multiprocessing


def fetch_every_time(user_locks, user_id):
    for _ in range(50):
        with user_locks[user_id]:
            pass


if __name__ == "__main__":
    user_locks = multiprocessing.Manager().dict({1: multiprocessing.Manager().Lock()})
"""
FIXED = """\
import multiprocessing


def fetch_once(user_locks, user_id):
    lock = user_locks[user_id]
    for _ in range(50):
        with lock:
            pass


if __name__ == "__main__":
    user_locks = multiprocessing.Manager().dict({1: multiprocessing.Manager().Lock()})
"""

if __name__ == "__main__":
    lint_broken, lint_fixed = lint_snippet(BROKEN), lint_snippet(FIXED)
    print(*lint_broken, sep="\n")
    print("for the fix:", lint_fixed or "nothing")
    assert len(lint_broken) == 1 and all(" MPG008 " in line for line in lint_broken)
    assert lint_fixed == []

# %%
# What happened
# -------------

if __name__ == "__main__":
    every_time = results["fetch_every_time"][0]
    kept = [results[name][0] for name in ("fetch_once", "cache_with_get")]
    print(
        f"failure reproduced: {'yes' if every_time == 2 * USES else 'no'} "
        f"({every_time} connections for {USES} uses: 2 per fetch)"
    )
    print(
        f"fix works: {'yes' if kept == [2, 2] else 'no'} "
        f"({kept[0]} connections fetching once, {kept[1]} with a get-or-fetch cache)"
    )
    ratio = results["fetch_every_time"][1] / results["fetch_once"][1]
    print(f"fetching every time took {ratio:.0f}x as long per use, in this run")
    from mpguide.figures import Observation, draw_outcome

    least = min(every_time, *kept)
    draw_outcome(
        f"Connections for {USES} uses of a lock",
        [
            Observation(
                label="fetch the lock every time",
                result=f"{every_time} connections",
                ok=every_time == least,
                fraction=least / every_time,
            ),
            Observation(
                label="fetch once",
                result=f"{kept[0]} connections",
                ok=kept[0] == least,
                fraction=least / kept[0],
            ),
            Observation(
                label="get-or-fetch cache",
                result=f"{kept[1]} connections",
                ok=kept[1] == least,
                fraction=least / kept[1],
            ),
        ],
    )
    assert every_time == 2 * USES and kept == [2, 2]
    fetch = ["__getitem__", NEW_CONNECTION, "incref"]
    assert one == [*fetch, "acquire", "release", NEW_CONNECTION, "decref"], one
    # Every use fetches (3 requests) and uses (2) the lock; a kept proxy costs
    # one fetch: __getitem__ and incref at first, decref when it is dropped.
    assert results["fetch_every_time"][2] == 5 * USES
    assert results["cache_with_setdefault"][2] == 5 * USES
    assert results["fetch_once"][2] == results["cache_with_get"][2] == 2 * USES + 3
