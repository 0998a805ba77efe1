"""
One lock per user, without a Manager: ``KeyedLocks``
====================================================

The report needed one lock per user so that each user's ``query_times``
counter is updated by one worker at a time. A Manager dict of lock proxies does
that at the price of a server round trip (and new connections) per use. A fixed
stripe of plain :mod:`multiprocessing` locks, created before the workers start,
does it for the price of a lock. The stripe must be chosen with a hash that is
the same in every process: this page runs the same workload striped by
``hash(name) % n`` and by :class:`mpguide.KeyedLocks`, and counts the lost
updates.
"""

# %%
# The workload
# ------------
# Four worker processes and the parent count queries for every user, many
# times. An update is a read-modify-write of a counter in shared memory, slow on
# purpose: it holds the user's lock for a millisecond, so two processes holding
# *different* locks for the same user overlap, and one's update overwrites the
# other's.

import multiprocessing
import os
import time

from mpguide import KeyedLocks

USERS = ["alice", "bob", "carol"]
WORKERS = 4
ROUNDS = 20
LOCK_COUNT = 64


def count_queries(locks, query_times, lock_indexes, worker, ready):
    ready.wait()  # all workers start together
    for index, user in enumerate(USERS):
        lock_indexes[worker * len(USERS) + index] = locks.index_for(user)
    for _ in range(ROUNDS):
        for index, user in enumerate(USERS):
            with locks.hold(user):
                seen = query_times[index]
                time.sleep(0.001)
                query_times[index] = seen + 1


# %%
# Striping by ``hash(name) % n``
# ------------------------------
# The obvious stripe: the same locks, picked with Python's ``hash()``. Nothing
# in this class is wrong in one process.


class SaltedStripes:
    def __init__(self, count, context):
        self._locks = [context.Lock() for _ in range(count)]

    def index_for(self, key):
        return hash(key) % len(self._locks)

    def hold(self, key):
        return self._locks[self.index_for(key)]


def run(locks, context):
    """Run the workers and the parent; return the counts and everyone's lock indexes.

    ``indexes[user]`` lists the lock each worker picked for ``user``, then the
    parent's.
    """
    query_times = context.Array("q", len(USERS), lock=False)
    lock_indexes = context.Array("q", (WORKERS + 1) * len(USERS), lock=False)
    ready = context.Barrier(WORKERS + 1)
    workers = [
        context.Process(
            target=count_queries, args=(locks, query_times, lock_indexes, worker, ready)
        )
        for worker in range(WORKERS)
    ]
    for process in workers:
        process.start()
    count_queries(
        locks=locks,
        query_times=query_times,
        lock_indexes=lock_indexes,
        worker=WORKERS,
        ready=ready,
    )
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0, f"a worker failed: exit code {process.exitcode}"
    indexes = {
        user: [lock_indexes[w * len(USERS) + i] for w in range(WORKERS + 1)]
        for i, user in enumerate(USERS)
    }
    return dict(zip(USERS, query_times, strict=True)), indexes


def report(counts, indexes):
    expected = (WORKERS + 1) * ROUNDS
    lost = sum(expected - count for count in counts.values())
    for user in USERS:
        *workers, parent = indexes[user]
        print(
            f"{user}: lock picked by workers {workers}, by the parent {parent};",
            f"count {counts[user]}",
        )
    print(f"expected {expected} per user; lost updates: {lost}")
    return lost


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    salted_counts, indexes = run(SaltedStripes(LOCK_COUNT, context=context), context)
    salted_lost = report(salted_counts, indexes)

# %%
# What happened depends on how the workers started, because each process salts
# ``hash(str)`` once, when its interpreter starts:
#
# - ``fork``: a child is a copy of its parent, salt included. Everyone picks
#   the same lock for a user, and the stripe happens to work.
# - ``spawn``: every child is a fresh interpreter with its own salt. Each
#   worker picks its own lock for the same user: no mutual exclusion at all.
# - ``forkserver``: children are forks of the server, a fresh interpreter
#   started once. The workers agree with each other but not with the parent,
#   so the parent's updates race with theirs.
#
# Setting ``PYTHONHASHSEED`` gives every interpreter the same salt and hides
# the bug; it does not make ``hash()`` a cross-process contract.

if __name__ == "__main__":
    method = context.get_start_method()
    everyone_agrees = all(len(set(seen)) == 1 for seen in indexes.values())
    workers_agree = all(len(set(seen[:-1])) == 1 for seen in indexes.values())
    print("all processes picked the same lock for each user:", everyone_agrees)
    print("the workers agreed among themselves:", workers_agree)
    assert (salted_lost > 0) == (not everyone_agrees)
    seed = os.environ.get("PYTHONHASHSEED")
    if seed not in (None, "random"):
        print(f"failure hidden: PYTHONHASHSEED is set to {seed}: one salt everywhere")
        assert everyone_agrees
    else:
        assert everyone_agrees == (method == "fork")
        assert workers_agree == (method != "spawn")

# %%
# Striping by ``stable_hash``: ``KeyedLocks``
# -------------------------------------------
# :class:`~mpguide.KeyedLocks` picks ``stable_hash(key) % n``, the same in every
# process, so the same workload loses nothing under every start method. Create
# it from the context that starts the workers and hand it to them as a
# ``Process`` argument (or a pool's ``initializer``), like any lock. In your
# code, hold a key's lock with ``with locks.hold(user): ...``.

if __name__ == "__main__":
    keyed_counts, indexes = run(KeyedLocks(LOCK_COUNT, context=context), context)
    assert report(keyed_counts, indexes) == 0
    assert all(len(set(seen)) == 1 for seen in indexes.values())

# %%
# Without ``mpguide``: the recipe's stripe
# ----------------------------------------
# The :ref:`per-user locks recipe <recipe-per-key-locks>` carries its own
# ``KeyedLocks``, standard library only, for readers who copy it. Its index is
# a hash of the key's ``repr``, the same in every process for ``int`` and
# ``str`` keys:
#
# .. literalinclude:: ../../howto/recipes/per_key_locks.py
#    :pyobject: KeyedLocks
#
# The library's version hashes with :func:`~mpguide.stable_hash`, which covers
# tuples, enums, floats and classes that name their own key, and raises
# ``TypeError`` for a key it cannot hash stably instead of trusting its
# ``repr``; it also has ``hold(key, timeout=...)`` and ``hold_many``. The
# recipe runs this page's workload with its own class; the tests run it under
# every start method with nothing but the standard library installed.

# %%
# The two runs side by side: each user's final ``query_times``, against the
# number of queries actually counted.

if __name__ == "__main__":
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.2), layout="constrained")
    positions = range(len(USERS))
    for offset, label, counts in (
        (-0.2, "hash(name) % n", salted_counts),
        (0.2, "KeyedLocks", keyed_counts),
    ):
        axes.bar([p + offset for p in positions], counts.values(), 0.4, label=label)
    axes.axhline((WORKERS + 1) * ROUNDS, color="black", linestyle="--", label="queries")
    axes.set_xticks(list(positions), USERS)
    axes.set_ylabel("query_times")
    axes.set_title(f"Per-user counters, start method {context.get_start_method()}")
    axes.legend(loc="lower right")
    plt.show()

# %%
# Trade-offs
# ----------
# - **A fixed number of locks.** Unrelated users may share a lock and wait for
#   each other. More locks, fewer collisions; 64 locks cost 64 semaphores.
# - **One key at a time is always safe.** Holding a user's lock and then
#   taking another user's can deadlock against a worker doing the opposite, or
#   block forever when both users share a stripe (the locks are not
#   re-entrant). To hold several keys, take them together with
#   :meth:`~mpguide.KeyedLocks.hold_many`, which takes each stripe once, in one
#   global order.
# - **Created up front.** Locks reach workers only by inheritance: a worker
#   cannot add a lock later, nor receive one in a task argument.
# - **No server, no round trip.** An acquire is a semaphore operation in
#   shared memory; no Manager process, no connection, no pickling.

if __name__ == "__main__":
    locks = KeyedLocks(LOCK_COUNT, context=context)
    assert locks.index_for("alice") != locks.index_for("bob")
    with locks.hold("alice", timeout=1), locks.hold("bob", timeout=1):
        pass  # fine only because these two land on different stripes
    print("alice, bob stripes:", locks.index_for("alice"), locks.index_for("bob"))
    with locks.hold_many(["alice", "bob", "carol"], timeout=1):
        print("holding alice, bob and carol at once, each stripe once")
