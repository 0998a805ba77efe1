"""
The same workload on Dask: coordinate by name, never by identity
================================================================

When one machine is not enough, we do not recommend a remote Manager; we
recommend an engine built for clusters, such as `Dask distributed
<https://distributed.dask.org>`_. The lesson of this site carries over exactly:
on a cluster every task argument is a copy, so an object key with identity
equality fails the same way, and coordination works through a stable *name*.
This page runs the report's workload (per-user locks, ``query_times`` counters
updated by many tasks) on a local cluster of four worker processes, shows the
identity trap on Dask, and compares the cost of a locked access with a Manager
dict of locks and with :class:`~mpguide.KeyedLocks`, measured in the same run.
"""

# %%
# A cluster
# ---------
# ``LocalCluster`` starts a scheduler and worker processes on this machine. Its
# workers start with this page's start method, except ``fork``: the scheduler
# runs its event loop in a thread of this process, and forking a process that
# has threads can leave the child waiting forever for a lock that a thread held
# at the moment of the fork (Python 3.12 and newer warn about it). Dask's own
# default is ``spawn``, and under ``fork`` this page uses that. To use a real
# cluster, connect the client to its scheduler instead: this page does when
# ``DASK_SCHEDULER_ADDRESS`` is set, for example ``tcp://10.0.0.5:8786``.

import dataclasses
import multiprocessing
import os
from contextlib import ExitStack

import dask
from distributed import Client, LocalCluster, Lock, Variable

from mpguide import KeyedLocks, check_key
from mpguide.bench import best_time, format_seconds

WORKERS = 4


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    name: str


class PlainUser:
    def __init__(self, id, name):
        self.id = id
        self.name = name


def start_client(stack, method):
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return stack.enter_context(Client(address))
    workers_method = "spawn" if method == "fork" else method
    print("Dask's workers start with:", workers_method)
    stack.enter_context(
        dask.config.set({"distributed.worker.multiprocessing-method": workers_method})
    )
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        )
    )
    return stack.enter_context(Client(cluster))


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    stack = ExitStack()
    client = start_client(stack, method)
    workers = sorted(client.scheduler_info()["workers"])
    print("worker processes:", len(workers))

# %%
# The identity trap, on Dask
# --------------------------
# A task receives copies of its arguments, exactly like a Manager's server. One
# twist makes the bug intermittent: *within one message* pickle keeps shared
# references, so a dict and a user sent in the same call still match. Sent in
# separate messages (the dict built by one task and kept on a worker, the user
# sent with the next), they are separate copies.


def queries_for(users):
    return {user: 0 for user in users}


def queries_of(queries, user):
    return queries[user]


def look_up(queries, user):
    try:
        return client.submit(queries_of, queries, user).result()
    except KeyError:
        return "KeyError"


if __name__ == "__main__":
    alice = PlainUser(id=1, name="alice")
    same_message = look_up({alice: 0}, alice)
    print("dict and user in one call:", same_message)
    stored = client.submit(queries_for, [alice])  # stays on a worker
    trap = look_up(stored, alice)
    print("dict built by an earlier task, user sent now:", trap)
    report = check_key(alice)
    print("check_key:", [finding.problem.value for finding in report.errors])

# %%
# Per-user locks and counters, by name
# ------------------------------------
# ``Lock(name)`` and ``Variable(name)`` live in the scheduler; any task, on any
# worker, that uses the same name gets the same lock and the same value. The
# name comes from the user's stable id, never from the object. Each counter is
# read and written under its user's lock: the scheduler keeps both, so they
# survive a worker's death. (Dask's actors would count faster, but their state
# lives in one worker and is lost with it; Dask documents them as
# experimental.)

USERS = [
    User(id=n, name=name) for n, name in enumerate(["alice", "bob", "carol", "dave"], 1)
]
TASKS_PER_USER = 10
INCREMENTS = 50


def count_queries(user_id, increments, locked=True):
    lock = Lock(f"user-{user_id}")
    query_times = Variable(f"query-times-{user_id}")
    for _ in range(increments):
        if locked:
            with lock:
                query_times.set(query_times.get() + 1)
        else:
            query_times.set(query_times.get() + 1)
    return os.getpid()


if __name__ == "__main__":
    for user in USERS:
        Variable(f"query-times-{user.id}").set(0)
    jobs = [
        client.submit(
            count_queries,
            user_id=user.id,
            increments=INCREMENTS,
            pure=False,
            workers=[workers[n % WORKERS]],
        )
        for n, user in enumerate(USERS * TASKS_PER_USER)
    ]
    pids = set(client.gather(jobs))
    counts = {user.name: Variable(f"query-times-{user.id}").get() for user in USERS}
    expected = TASKS_PER_USER * INCREMENTS
    print(f"{len(jobs)} tasks on {len(pids)} worker processes; expected {expected} each:")
    print(counts)

# %%
# Without the lock, the same tasks lose updates: a read and a write are two
# messages to the scheduler, as with ``manager.Value`` (pitfall 2).

if __name__ == "__main__":
    Variable("query-times-0").set(0)
    racing = [
        client.submit(
            count_queries,
            user_id=0,
            increments=INCREMENTS,
            locked=False,
            pure=False,
            workers=[worker],
        )
        for worker in workers
    ]
    client.gather(racing)
    unlocked = Variable("query-times-0").get()
    print(f"without the lock: {unlocked} of {INCREMENTS * len(workers)}")

# %%
# Side by side
# ------------
# One locked access (acquire and release, nothing inside), each measured in
# this run: a Dask lock from a task on a worker, a Manager lock fetched from a
# Manager dict on every use (the report's pattern), and ``KeyedLocks``.


def dask_lock_seconds(count):
    lock = Lock("user-1")

    def locked_access():
        with lock:
            pass

    return best_time(locked_access, count=count, repeats=3)


def manager_lock_seconds(context, count):
    with context.Manager() as manager:
        user_locks = manager.dict({1: manager.Lock()})

        def locked_access():
            with user_locks[1]:
                pass

        return best_time(locked_access, count=count, repeats=3)


if __name__ == "__main__":
    context = multiprocessing.get_context(method)
    keyed = KeyedLocks(64, context=context)

    def keyed_access():
        with keyed.hold(1):
            pass

    costs = {
        "Manager dict of locks": manager_lock_seconds(context, count=200),
        "KeyedLocks": best_time(keyed_access, count=20_000, repeats=3),
        "Dask Lock(name)": client.submit(dask_lock_seconds, 100, pure=False).result(),
    }
    rows = [
        (
            "Manager dict of locks",
            "one machine; a server process",
            "mutual exclusion per key",
        ),
        ("KeyedLocks", "one machine; shared memory", "per key (stripes may share)"),
        ("Dask Lock(name)", "a cluster; the scheduler", "per name; leases expire"),
    ]
    base = costs["KeyedLocks"]
    print(f"{'':<22} {'per locked access':>18} {'ratio':>8}  where / guarantee")
    for name, where, guarantee in rows:
        cost, ratio = format_seconds(costs[name]), costs[name] / base
        print(f"{name:<22} {cost:>18} {ratio:>7,.0f}x  {where}; {guarantee}")
    stack.close()  # closes the client, then the cluster and its worker processes

# %%
# Dask's lock is built on a lease that expires if its holder stops responding
# for this long, so a stalled holder can lose the lock to another task: keep
# critical sections short, or see ``distributed.scheduler.locks`` in Dask's
# configuration. A Manager and ``KeyedLocks`` stay on one machine; Dask spans
# many, at the price of a scheduler round trip per operation.

if __name__ == "__main__":
    print("lease timeout:", dask.config.get("distributed.scheduler.locks.lease-timeout"))

# %%
# What happened
# -------------

if __name__ == "__main__":
    from mpguide.figures import Observation, draw_outcome

    total = INCREMENTS * len(workers)
    draw_outcome(
        "Coordinating on Dask",
        [
            Observation(
                label="lock looked up by the User",
                result=trap,
                ok=trap != "KeyError",
            ),
            Observation(
                label="Lock(f'user-{id}') per user",
                result=f"{sum(counts.values())} of {expected * len(counts)} counted",
                ok=all(count == expected for count in counts.values()),
                fraction=sum(counts.values()) / (expected * len(counts)),
            ),
            Observation(
                label="without the lock",
                result=f"{unlocked} of {total} counted",
                ok=unlocked == total,
                fraction=unlocked / total,
            ),
        ],
    )
    assert same_message == 0 and trap == "KeyError"
    assert [finding.problem.value for finding in report.errors] == ["identity-equality"]
    assert counts == dict.fromkeys((user.name for user in USERS), expected)
    assert len(pids) == WORKERS or os.environ.get("DASK_SCHEDULER_ADDRESS")
    assert unlocked < INCREMENTS * len(workers)
    print("no lost update with the locks; the cluster is closed")
