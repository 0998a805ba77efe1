"""
Pitfall 11: a proxy stored in a managed object is never released
================================================================

The report's own pattern, a managed dict whose values are lock proxies
(``user_locks[user] = manager.Lock()``), leaks: every lock ever stored stays in
the Manager's server after its user is deleted from the dict and every proxy to
it is gone. With users coming and going, the server grows without bound, and
the Manager's own object count does not show it. The fix keeps proxies out of
managed objects: the dict holds plain data, and the locks live elsewhere.
"""

# %%
# Why it happens: :doc:`/explanation/how-a-manager-works`.

# %%
# Looking inside the server
# -------------------------
# A server keeps its shared objects in tables (``multiprocessing/managers.py``,
# class ``Server``): ``id_to_obj`` holds what proxies point to, and
# ``id_to_local_proxy_obj`` holds objects that the server itself holds proxies
# to, inside other shared objects. To count them, the manager gets one more
# registered type whose method runs in the server process, where
# ``multiprocessing.current_process()._manager_server`` is the ``Server``.
# (``manager._number_of_objects()``, a debugging call every manager has, counts
# only the objects that proxies outside the server point to.)

import multiprocessing
import os
from multiprocessing.managers import SyncManager

from mpguide import KeyedLocks

USERS_PER_WAVE = 50
WAVES = 3


class ServerTables:
    """Runs in the server: how many entries its two tables hold."""

    def sizes(self):
        server = multiprocessing.current_process()._manager_server
        pinned = set(server.id_to_local_proxy_obj) - set(server.id_to_obj)
        # id_to_obj has a placeholder entry "0", and this object is in it too.
        return {
            "objects": len(server.id_to_obj) - 2,
            "kept only as stored proxies": len(pinned),
        }


class InspectableManager(SyncManager):
    pass


InspectableManager.register("ServerTables", ServerTables)


def start_inspectable(context):
    """A started manager, and a proxy to its ServerTables."""
    manager = InspectableManager(ctx=context)
    manager.start()
    return manager, manager.ServerTables()


def describe(manager, tables):
    counts = tables.sizes()
    counts["_number_of_objects()"] = manager._number_of_objects() - 1  # minus tables
    return counts


# %%
# Reproduce: users come and go
# ----------------------------
# Each wave adds 50 users, each with a lock stored in the managed dict, then
# deletes them all. Nothing refers to those locks any more.

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager, tables = start_inspectable(context)
    user_locks = manager.dict()
    leaked_waves = []
    for wave in range(WAVES):
        users = [f"user-{wave}-{n}" for n in range(USERS_PER_WAVE)]
        for user in users:
            user_locks[user] = manager.Lock()
        for user in users:
            del user_locks[user]
        counts = describe(manager, tables)
        leaked_waves.append(counts)
        print(f"after {(wave + 1) * USERS_PER_WAVE} users came and went: {counts}")
    manager.shutdown()

# %%
# Why
# ---
# ``user_locks[user] = manager.Lock()`` pickles the lock's proxy and sends it
# to the server, which stores a proxy of its own in the dict. A proxy built
# inside the server does not count itself (``RebuildProxy`` marks it
# ``manager_owned``); instead the server records the lock in
# ``id_to_local_proxy_obj``, so that it can revive the lock when a worker reads
# ``user_locks[user]`` after the parent dropped its proxy. Then:
#
# - the parent's proxy is dropped, the count in ``id_to_refcount`` reaches
#   zero, and the lock leaves ``id_to_obj`` and ``_number_of_objects()``;
# - ``del user_locks[user]`` drops the server's own proxy, and nothing removes
#   the entry from ``id_to_local_proxy_obj``.
#
# So the lock stays, for the life of the server: one entry per user who ever
# had a lock. CPython 3.11, 3.12 and 3.13 behave the same (the code that adds
# to ``id_to_local_proxy_obj`` and never removes is unchanged);
# `CPython issue 103136 <https://github.com/python/cpython/issues/103136>`_
# reports it. Any proxy stored in a managed container does this: locks, lists
# in a dict, queues in a namespace. (On Python 3.6 to 3.8 and 3.9.0 to 3.9.6 a
# queue's proxy cannot be stored in an object of its own manager at all:
# :ref:`error-autoproxy-manager-owned`.)
#
# Fix: keep proxies out of managed objects
# ----------------------------------------
# Store plain data in the managed dict and take locks from somewhere that does
# not grow with the users: :class:`mpguide.KeyedLocks`, a fixed stripe of plain
# ``multiprocessing`` locks picked by a stable hash of the key (see
# :ref:`sphx_glr_gallery_library_plot_02_keyed_locks.py`). Another fixed set works too: a
# few manager locks created once and held by the parent, with the dict storing
# an index into them.

if __name__ == "__main__":
    manager, tables = start_inspectable(context)
    locks = KeyedLocks(16, context=context)
    query_times = manager.dict()
    before = describe(manager, tables)
    for wave in range(WAVES):
        users = [f"user-{wave}-{n}" for n in range(USERS_PER_WAVE)]
        for user in users:
            with locks.hold(user):
                query_times[user] = query_times.get(user, 0) + 1
        for user in users:
            del query_times[user]
    after = describe(manager, tables)
    print(f"before the fixed workload: {before}")
    print(f"after {WAVES * USERS_PER_WAVE} users came and went: {after}")
    manager.shutdown()

# %%
# What happened
# -------------

if __name__ == "__main__":
    pinned = [counts["kept only as stored proxies"] for counts in leaked_waves]
    reproduced = pinned == [USERS_PER_WAVE * (wave + 1) for wave in range(WAVES)]
    fixed = after == before
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} "
        f"(locks kept by the server after each wave: {pinned})"
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} "
        f"(server tables unchanged: the dict, and {after['kept only as stored proxies']} "
        "objects kept as stored proxies)"
    )
    from mpguide.figures import Observation, draw_outcome

    stored = "kept only as stored proxies"
    draw_outcome(
        "Objects the server keeps",
        [
            *(
                Observation(
                    label=f"after wave {wave}",
                    result=f"{count} locks kept",
                    ok=count == before[stored],
                )
                for wave, count in enumerate(pinned, start=1)
            ),
            Observation(label="with the fix", result=f"{after[stored]} kept", ok=fixed),
        ],
    )
    assert reproduced and fixed, (leaked_waves, before, after)
