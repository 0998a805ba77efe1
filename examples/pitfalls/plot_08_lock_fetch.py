"""
Pitfall 8: fetching a lock proxy from a managed dict on every use
=================================================================

The report's fix, ``with user_locks[user.id]: ...``, works, but every
``user_locks[...]`` receives a *new* lock proxy, and every new proxy opens
connections to the server: one to register itself (incref) and one, when it is
garbage, to unregister (decref). Counted here, then timed. The fix: fetch each
lock once per worker and keep it.
"""

# %%
# Why it happens: :doc:`/explanation/how-a-manager-works`.

# %%
# Counting connections
# --------------------
# Proxies connect through ``multiprocessing.managers.listener_client``; a
# worker wraps its ``Client`` to count the connections it opens while it takes
# a user's lock 50 times, both ways.

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import managers

USES = 50


def count_connections(use):
    """Run ``use()`` and return how many connections to the server it opened."""
    listener, client = managers.listener_client["pickle"]
    opened = []

    def counting_client(*args, **kwargs):
        opened.append(args[0])
        return client(*args, **kwargs)

    managers.listener_client["pickle"] = (listener, counting_client)
    try:
        use()
    finally:
        managers.listener_client["pickle"] = (listener, client)
    return len(opened)


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
    """In a worker: connections opened and seconds taken by each pattern."""
    results = {}
    for use in PATTERNS:
        connections = count_connections(lambda use=use: use(user_locks, user_id))
        started = time.perf_counter()
        use(user_locks, user_id)
        results[use.__name__] = (connections, time.perf_counter() - started)
    return results


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    user_locks = manager.dict({1: manager.Lock(), 2: manager.Lock()})
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        results = pool.submit(measure, user_locks=user_locks, user_id=1).result()
    manager.shutdown()
    for name, (connections, seconds) in results.items():
        print(f"{name}: {connections} connections for {USES} uses,", end=" ")
        print(f"{seconds / USES * 1e6:.0f} microseconds per use")

# %%
# Why
# ---
# The server's dict holds a lock *proxy*. ``user_locks[1]`` pickles it there
# and unpickles it in the worker, which builds a new proxy object. A new proxy
# registers with the server over a new connection (so that the server keeps the
# lock alive while someone holds a proxy), and the old one, dropped after the
# ``with``, unregisters over another. Method calls (``acquire``, ``release``)
# reuse the worker's one connection per thread. A proxy you keep costs nothing
# more to keep.
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
# What happened
# -------------

if __name__ == "__main__":
    every_time, _ = results["fetch_every_time"]
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
    from mpguide.sphinxext.figures import Observation, draw_outcome

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
