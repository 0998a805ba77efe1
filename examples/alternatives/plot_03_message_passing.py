"""
Message passing: one owner, or results merged at the end
========================================================

Shared state needs locks because several processes change it. Give the state
one owner instead, and the workers send it messages: a ``Queue`` of updates, a
``Pipe`` for questions. Or share nothing at all: each worker counts its own
share and returns it, and the parent merges the results. No lock anywhere.
"""

# %%
# One owner fed by a ``Queue``
# ----------------------------
# The owner process holds the per-user counters in an ordinary dict. Workers
# put ``(user, 1)`` on a queue; the owner applies each message in turn, so no
# two updates overlap. Each worker ends with ``None``; when the owner has seen
# one per worker, it sends its dict back through a ``Pipe``.

import collections
import multiprocessing
import os

USERS = ["alice", "bob", "carol"]
WORKERS = 4
QUERIES = 300  # per worker


def queries_of(worker):
    return [USERS[(worker + query) % len(USERS)] for query in range(QUERIES)]


def send_updates(updates, worker):
    for user in queries_of(worker):
        updates.put((user, 1))
    updates.put(None)


def own_counters(updates, reply, workers):
    counters = dict.fromkeys(USERS, 0)
    finished = 0
    while finished < workers:
        message = updates.get()
        if message is None:
            finished += 1
        else:
            user, amount = message
            counters[user] += amount
    reply.send(counters)
    reply.close()


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    updates = context.Queue()
    answer, reply = context.Pipe(duplex=False)
    owner = context.Process(target=own_counters, args=(updates, reply, WORKERS))
    workers = [
        context.Process(target=send_updates, args=(updates, worker))
        for worker in range(WORKERS)
    ]
    for process in [owner, *workers]:
        process.start()
    reply.close()  # the owner has its own copy; ours would keep recv() waiting
    if not answer.poll(120):
        raise TimeoutError("the owner sent nothing within 120 s")
    owned = answer.recv()
    for process in [owner, *workers]:
        process.join(timeout=60)
        assert process.exitcode == 0, f"a process failed: exit code {process.exitcode}"
    answer.close()
    updates.close()
    updates.join_thread()
    print("the owner counted:", owned)
    assert sum(owned.values()) == WORKERS * QUERIES

# %%
# The parent receives the result *before* joining the processes. The
# :mod:`multiprocessing` documentation warns about the opposite order: before
# it exits, a process that has put items on a queue waits until they are all
# written to the queue's pipe, which blocks while the pipe is full; joining it
# before its items are taken can wait forever.
#
# Questions through a ``Pipe``
# ----------------------------
# Reads go to the owner too: a worker sends a question on its end of a
# ``Pipe`` and waits for the answer, a round trip per read, as with a Manager,
# whose server is exactly such an owner. Here the owner answers "how many
# queries has this user made?" from a table only it holds.


def answer_questions(connection, table):
    while (user := connection.recv()) is not None:
        connection.send(table.get(user, 0))
    connection.close()


if __name__ == "__main__":
    mine, theirs = context.Pipe()
    owner = context.Process(target=answer_questions, args=(theirs, owned))
    owner.start()
    theirs.close()
    for user in ("alice", "dave"):
        mine.send(user)
        print(f"asked the owner about {user}:", mine.recv())
    mine.send(None)
    owner.join(timeout=60)
    mine.close()
    assert owner.exitcode == 0

# %%
# No shared state: return and merge
# ---------------------------------
# Often the workers need nothing from each other while they work. Then each
# counts its own queries in a local :class:`collections.Counter` and returns
# it; the parent adds the counters up. Nothing is shared, so there is nothing
# to lock and nothing to lose, and the pool's ``map`` re-raises any worker's
# exception in the parent.


def count_locally(worker):
    return collections.Counter(queries_of(worker))


if __name__ == "__main__":
    with context.Pool(2) as pool:
        partial_counts = pool.map(count_locally, range(WORKERS))
    merged = sum(partial_counts, collections.Counter())
    print("one worker's counts:", dict(partial_counts[0]))
    print("merged:", dict(merged))
    from mpguide.figures import Observation, draw_outcome

    expected = WORKERS * QUERIES
    draw_outcome(
        "Counts without shared state",
        [
            Observation(
                label="one owner counts",
                result=f"{sum(owned.values())} of {expected}",
                ok=sum(owned.values()) == expected,
                fraction=sum(owned.values()) / expected,
            ),
            Observation(
                label="merged at the end",
                result=f"{merged.total()} of {expected}",
                ok=merged == collections.Counter(owned),
                fraction=merged.total() / expected,
            ),
        ],
    )
    assert merged == collections.Counter(owned)

# %%
# Trade-offs
# ----------
# - **One owner** serializes updates without locks, and the state can be any
#   Python object. Every update is a message (pickled, sent, unpickled), and
#   the owner is a bottleneck if it cannot keep up. Reads are round trips.
# - **Return and merge** is the fastest and simplest when results combine
#   (counts add, lists concatenate); it does not fit when a worker must see
#   the others' updates while it runs.
# - Both avoid the Manager's copy traps: what a worker sends is, visibly, a
#   copy.
