"""
Pitfall 2: ``query_times.value += 1`` from several workers loses updates
=========================================================================

The report counted queries with ``query_times = manager.Value("i", 0)`` and
``query_times.value += 1`` in every worker. That line is two calls to the
server, a read and a write, and another worker can write in between: its
increment is then overwritten. Nothing fails; the count is just low. The fix is
a lock around the read and the write.
"""

# %%
# The race, step by step
# ----------------------
# Two proxies of the same value, in one process, doing exactly what two
# workers can do: both read, then both write.

import multiprocessing
import os

WORKERS = 4
INCREMENTS = 200

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    query_times = manager.Value("i", 0)
    first_read = query_times.value  # worker A reads 0
    second_read = query_times.value  # worker B reads 0
    query_times.value = first_read + 1  # worker A writes 1
    query_times.value = second_read + 1  # worker B writes 1: A's update is gone
    print("two increments, value:", query_times.value)

# %%
# Measured with real workers
# --------------------------
# Four processes increment the same ``Value`` 200 times each, starting
# together.


def count_queries(query_times, ready, lock=None):
    ready.wait()
    for _ in range(INCREMENTS):
        if lock is None:
            query_times.value += 1
        else:
            with lock:
                query_times.value += 1


def run_workers(query_times, lock=None):
    ready = context.Barrier(WORKERS)
    workers = [
        context.Process(target=count_queries, args=(query_times, ready, lock))
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
    counted = run_workers(manager.Value("i", 0))
    print(f"expected {expected}, counted {counted}: lost {expected - counted}")

# %%
# Why
# ---
# ``query_times.value += 1`` is ``query_times.value = query_times.value + 1``:
# a ``get`` message to the server, an addition in the worker, a ``set``
# message. The server runs each message atomically, but nothing holds the two
# together. A proxy has no ``+=`` of its own to send as one message.
#
# Fix: a lock around the read and the write
# -----------------------------------------
# Any lock all workers share works: a ``manager.Lock()`` as here (two more round
# trips per increment), or, without a Manager, a ``multiprocessing.Value``
# with its built-in lock: ``with counter.get_lock(): counter.value += 1``.

if __name__ == "__main__":
    locked = run_workers(manager.Value("i", 0), lock=manager.Lock())
    print(f"expected {expected}, counted {locked} with a lock")
    manager.shutdown()

# %%
# What happened
# -------------

if __name__ == "__main__":
    lost = expected - counted
    print(f"failure reproduced: {'yes' if lost > 0 else 'no'} (lost {lost} of {expected})")
    print(f"fix works: {'yes' if locked == expected else 'no'} ({locked} of {expected})")
    assert lost > 0 and locked == expected
