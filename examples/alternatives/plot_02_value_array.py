"""
``Value`` and ``Array``: shared counters with their own lock
============================================================

:func:`multiprocessing.Value` and :func:`multiprocessing.Array` put C numbers
in shared memory, each with a lock. The report's ``query_times`` counter needs
no Manager: ``with query_times.get_lock(): query_times.value += 1``. Without
``get_lock()``, ``+=`` loses updates here too. And they reach workers only by
inheritance: as arguments when a process starts, never inside a task.
"""

# %%
# ``+=`` is a read and a write
# ----------------------------
# A synchronized ``Value`` locks each read and each write, but not the two
# together. Done by hand in one process, in the order two workers can do it:

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

WORKERS = 4
INCREMENTS = 20_000
USERS = ["alice", "bob", "carol"]

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    query_times = context.Value("q", 0)
    first_read = query_times.value  # worker A reads 0
    second_read = query_times.value  # worker B reads 0
    query_times.value = first_read + 1  # worker A writes 1
    query_times.value = second_read + 1  # worker B writes 1: A's update is gone
    print("two increments, value:", query_times.value)

# %%
# With real workers
# -----------------
# Four processes increment one ``Value`` 20,000 times each, started together;
# then again with ``get_lock()`` around each ``+=``. How many updates the first
# run loses depends on timing, on how often another process reads between one
# process's read and its write, so the number changes from run to run and is
# not guaranteed. The locked run counts every one, every time.


def count(query_times, ready, use_lock):
    ready.wait()
    for _ in range(INCREMENTS):
        if use_lock:
            with query_times.get_lock():
                query_times.value += 1
        else:
            query_times.value += 1


def run_workers(context, use_lock):
    query_times = context.Value("q", 0)
    ready = context.Barrier(WORKERS)
    workers = [
        context.Process(target=count, args=(query_times, ready, use_lock))
        for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0, f"a worker failed: exit code {worker.exitcode}"
    return query_times.value


if __name__ == "__main__":
    expected = WORKERS * INCREMENTS
    unlocked = run_workers(context, use_lock=False)
    print(f"without the lock: counted {unlocked} of {expected}, lost {expected - unlocked}")
    locked = run_workers(context, use_lock=True)
    print(f"with get_lock(): counted {locked} of {expected}")
    assert locked == expected

# %%
# Per-user counters: ``Array``
# ----------------------------
# ``Array("q", 3)`` holds one counter per user, with one lock for the whole
# array. ``Array("q", 3, lock=False)`` holds no lock: pair it with locks of
# your own, one per user, so that workers counting different users do not wait
# for each other.

STEPS = 300


def count_users(counters, user_locks, worker):
    for step in range(STEPS):
        user = (worker + step) % len(USERS)
        with user_locks[user]:
            counters[user] += 1


if __name__ == "__main__":
    whole_array_lock = context.Array("q", len(USERS))
    print("Array has get_lock():", hasattr(whole_array_lock, "get_lock"))
    counters = context.Array("q", len(USERS), lock=False)
    print("Array(lock=False) has get_lock():", hasattr(counters, "get_lock"))
    user_locks = [context.Lock() for _ in USERS]
    workers = [
        context.Process(target=count_users, args=(counters, user_locks, worker))
        for worker in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0, f"a worker failed: exit code {worker.exitcode}"
    per_user = dict(zip(USERS, counters, strict=True))
    print("per user:", per_user, "expected", WORKERS * STEPS, "in all")
    assert sum(per_user.values()) == WORKERS * STEPS

# %%
# Inherited, not passed
# ---------------------
# A ``Value`` (or ``Array``, or lock) given to a process when it starts, as a
# ``Process`` argument or a pool's ``initializer`` argument, is the same
# shared memory in the child. Sent later, inside a pool task, it is refused,
# under every start method: a task is pickled onto a queue, and shared memory
# and semaphores cannot travel that way.

shared = {}


def keep(query_times):
    shared["query_times"] = query_times


def count_one():
    query_times = shared["query_times"]
    with query_times.get_lock():
        query_times.value += 1


def count_one_passed(query_times):
    with query_times.get_lock():
        query_times.value += 1


if __name__ == "__main__":
    query_times = context.Value("q", 0)
    with ProcessPoolExecutor(
        2, mp_context=context, initializer=keep, initargs=(query_times,)
    ) as pool:
        for job in [pool.submit(count_one) for _ in range(10)]:
            job.result()
        print("through the initializer:", query_times.value, "of 10")
        passed_as_argument = "ran"
        try:
            pool.submit(count_one_passed, query_times).result()
        except RuntimeError as error:
            passed_as_argument = "RuntimeError"
            print("as a task argument: RuntimeError:", error)
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Value with its own lock",
        [
            Observation(
                label="through the initializer",
                result=f"counted {query_times.value}",
                ok=query_times.value == 10,
            ),
            Observation(
                label="as a task argument",
                result=passed_as_argument,
                ok=passed_as_argument == "ran",
            ),
        ],
    )
    assert query_times.value == 10

# %%
# In the error index: :ref:`error-synchronized-inheritance`.

# %%
# Trade-offs
# ----------
# - **Numbers only.** ``Value`` and ``Array`` hold C types (``"q"`` is a
#   64-bit integer, ``"d"`` a double); no strings of varying size, no dicts.
#   Index users yourself.
# - **Created before the workers.** Like locks, they are handed over at start;
#   a pool's workers get them through ``initializer``.
# - **Cheap.** A locked ``+=`` is a lock taken and released around a read and
#   a write of shared memory (the ``Value``'s own lock is re-entrant, so the
#   read and the write take it again without waiting), against round trips to
#   a server for a Manager ``Value`` and its lock
#   (:ref:`sphx_glr_gallery_pitfalls_plot_02_value_race.py`).
