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
# Why it happens: :doc:`/explanation/how-a-manager-works`.

# %%
# The race, step by step
# ----------------------
# Two proxies of the same value, in one process, doing exactly what two
# workers can do: both read, then both write.

import multiprocessing
import os
import time
from multiprocessing.managers import BaseManager

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
# together. A race needs the workers to overlap, which a busy machine can
# prevent for a whole round: a round that loses nothing is run again, up to
# five times, and the output says which round lost updates.


def count_queries(query_times, lock, ready):
    ready.wait()
    for _ in range(INCREMENTS):
        if lock is None:
            query_times.value += 1
        else:
            with lock:
                query_times.value += 1


def until_lost(run_round, expected, rounds=5):
    """Run ``run_round()`` until it returns fewer than ``expected``, at most ``rounds``
    times; return the last count and the round it came from."""
    for attempt in range(1, rounds + 1):
        count = run_round()
        if count < expected:
            return count, attempt
    return count, rounds


def run_workers(target, **kwargs):
    """Run ``target(**kwargs, ready=...)`` in WORKERS processes that start together."""
    ready = context.Barrier(WORKERS)
    workers = [
        context.Process(target=target, kwargs={**kwargs, "ready": ready})
        for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0, f"a worker failed: exit code {worker.exitcode}"


if __name__ == "__main__":
    expected = WORKERS * INCREMENTS

    def count_without_lock():
        query_times = manager.Value("i", 0)
        run_workers(count_queries, query_times=query_times, lock=None)
        return query_times.value

    counted, attempt = until_lost(count_without_lock, expected)
    print(f"expected {expected}, counted {counted}: lost {expected - counted}", end="")
    print(f" (round {attempt})")

# %%
# Why
# ---
# ``query_times.value += 1`` is ``query_times.value = query_times.value + 1``:
# a ``get`` message to the server, an addition in the worker, a ``set``
# message. Nothing holds the two messages together, and a proxy has no ``+=``
# of its own to send as one message.
#
# One message is not one atomic step either. The server serves each connection
# (one per thread of each process) in a thread of its own, and calls the method
# without taking any lock. A built-in method such as ``list.append`` is a
# single C call, which no other thread interrupts while it holds the GIL, so it
# loses nothing. A method of your own, registered with a manager, that reads,
# computes and writes can be interrupted between the read and the write, like
# any Python code shared by threads. Here ``Tally.add_one`` does exactly that,
# with a ``time.sleep(0)`` standing for any work between the two that lets
# other threads run (I/O, a log line, a long computation).


class Tally:
    def __init__(self):
        self.count = 0

    def add_one(self):
        count = self.count
        time.sleep(0)
        self.count = count + 1

    def get(self):
        return self.count


class TallyManager(BaseManager):
    pass


TallyManager.register("Tally", Tally)


def append_ones(shared_list, ready):
    ready.wait()
    for _ in range(INCREMENTS):
        shared_list.append(1)


def add_ones(tally, ready):
    ready.wait()
    for _ in range(INCREMENTS):
        tally.add_one()


if __name__ == "__main__":
    appended = manager.list()
    run_workers(append_ones, shared_list=appended)
    kept = len(appended)
    print(f"list.append, one message per item: {kept} of {expected} kept")
    with TallyManager(ctx=context) as tally_manager:

        def add_without_lock():
            tally = tally_manager.Tally()
            run_workers(add_ones, tally=tally)
            return tally.get()

        added, attempt = until_lost(add_without_lock, expected)
    print(f"Tally.add_one, one message per item: {added} of {expected} kept", end="")
    print(f" (round {attempt})")
#
# Fix: a lock around the read and the write
# -----------------------------------------
# Any lock all workers share works: a ``manager.Lock()`` as here (two more round
# trips per increment), or, without a Manager, a ``multiprocessing.Value``
# with its built-in lock: ``with counter.get_lock(): counter.value += 1``.

if __name__ == "__main__":
    query_times = manager.Value("i", 0)
    run_workers(count_queries, query_times=query_times, lock=manager.Lock())
    locked = query_times.value
    print(f"expected {expected}, counted {locked} with a lock")
    manager.shutdown()

# %%
# ``python -m mpguide lint`` finds the unlocked ``+=`` in a worker without running it
# (rule MPG006, :doc:`/reference/lint`), and prints nothing for the locked one:

from mpguide.lint import lint_snippet

BROKEN = """\
import multiprocessing


def count(counter):
    counter.value += 1


if __name__ == "__main__":
    counter = multiprocessing.Value("i", 0)
    multiprocessing.Process(target=count, args=(counter,)).start()
"""
FIXED = """\
import multiprocessing


def count(counter):
    with counter.get_lock():
        counter.value += 1


if __name__ == "__main__":
    counter = multiprocessing.Value("i", 0)
    multiprocessing.Process(target=count, args=(counter,)).start()
"""

if __name__ == "__main__":
    lint_broken, lint_fixed = lint_snippet(BROKEN), lint_snippet(FIXED)
    print(*lint_broken, sep="\n")
    print("for the fix:", lint_fixed or "nothing")
    assert len(lint_broken) == 1 and all(" MPG006 " in line for line in lint_broken)
    assert lint_fixed == []

# %%
# What happened
# -------------

if __name__ == "__main__":
    lost = expected - counted
    print(f"failure reproduced: {'yes' if lost > 0 else 'no'} (lost {lost} of {expected})")
    print(f"fix works: {'yes' if locked == expected else 'no'} ({locked} of {expected})")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"{WORKERS} workers, {expected} increments",
        [
            Observation(
                label="query_times.value += 1",
                result=f"kept {counted} of {expected}",
                ok=counted == expected,
                fraction=counted / expected,
            ),
            Observation(
                label="Tally.add_one()",
                result=f"kept {added} of {expected}",
                ok=added == expected,
                fraction=added / expected,
            ),
            Observation(
                label="list.append",
                result=f"kept {kept} of {expected}",
                ok=kept == expected,
                fraction=kept / expected,
            ),
            Observation(
                label="+= under a manager.Lock()",
                result=f"kept {locked} of {expected}",
                ok=locked == expected,
                fraction=locked / expected,
            ),
        ],
    )
    assert lost > 0 and locked == expected
    assert kept == expected and added < expected
