"""
``Executor.map`` reads the whole input before the first result
==============================================================

``ProcessPoolExecutor.map(fn, items)`` looks like the built-in ``map``, which
takes one item at a time. It is not: before it returns, it reads every item of
``items`` and submits a task for each, so a generator of a million rows is
read, and a million futures made, before the first result; an endless
generator never returns at all. ``Pool.imap`` reads ahead too, but only as far
as the pipe to the workers holds. This page counts how many items each read
before its first result, and fixes it with a loop that keeps a fixed number of
tasks in flight.
"""

# %%
# Reproduce
# ---------
# ``CountedItems`` yields ``ITEMS`` numbers and counts how many were taken. Each
# task takes ``TASK_SECONDS``, so the whole input would take minutes: each
# reader takes its first result, then cancels the rest.

import collections
import itertools
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

ITEMS = 10_000
TASK_SECONDS = 0.1
WORKERS = 2
WAIT = 60  # seconds: a bound that a working run never reaches


class CountedItems:
    """The numbers ``0 .. count - 1``, counting how many were taken."""

    def __init__(self, count):
        self.count = count
        self.taken = 0

    def __iter__(self):
        for number in range(self.count):
            self.taken += 1
            yield number


def slow_square(number):
    time.sleep(TASK_SECONDS)
    return number * number


def square(number):
    return number * number


def executor_map(context, function, chunksize):
    """Items taken when ``map()`` returned, and when its first result came."""
    items = CountedItems(ITEMS)
    with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
        results = executor.map(function, items, timeout=WAIT, chunksize=chunksize)
        at_return = items.taken
        first = next(results)
        at_first = items.taken
        executor.shutdown(cancel_futures=True)
    return at_return, at_first, first


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    at_return, at_first, first = executor_map(context, slow_square, chunksize=1)
    print(f"Executor.map: {at_return} items taken when map() returned,", end=" ")
    print(f"{at_first} when the first result ({first}) came")
    # quick tasks: a chunk of 100 slow ones would take 10 s to finish
    chunked_at_return, _, _ = executor_map(context, square, chunksize=100)
    print(f"Executor.map, chunksize=100: {chunked_at_return} items taken by map()")

# %%
# ``Pool.imap`` for comparison: its results come one by one, and the items are
# read by the pool's task thread, not by the call.

if __name__ == "__main__":
    items = CountedItems(ITEMS)
    with context.Pool(WORKERS) as pool:
        results = pool.imap(slow_square, items)
        imap_first = results.next(timeout=WAIT)
        imap_at_first = items.taken
    print(f"Pool.imap: {imap_at_first} items taken when the first result came")

# %%
# Why
# ---
# ``Executor.map`` builds its list of futures before it returns the iterator
# of results (``concurrent/futures/_base.py``, 3.11 to 3.13)::
#
#     fs = [self.submit(fn, *args) for args in zip(*iterables)]
#
# ``ProcessPoolExecutor.map`` passes that method its items cut into chunks
# (``_get_chunks`` on 3.11 and 3.12, ``itertools.batched`` on 3.13), lazily,
# but the list comprehension still reads every chunk: a ``chunksize`` makes
# fewer futures, not a lazier read. Python 3.14 adds
# ``Executor.map(..., buffersize=n)``, which keeps ``n`` tasks submitted ahead
# (cpython issue 74028, pull request 125663).
#
# ``Pool.imap`` hands the items to the pool's task thread, which takes them
# one by one and writes each task to the pipe the workers read
# (``Pool._handle_tasks`` in ``multiprocessing/pool.py``, 3.11 to 3.13). That
# write blocks when the pipe is full, so the thread reads ahead as far as the
# pipe holds (a Linux pipe holds 64 KiB: the count above is how many of these
# small tasks fit), and then as fast as the workers empty it. Bigger tasks
# fill the pipe sooner; the bound is the pipe's size, not a number one
# chooses, and results not yet read pile up in the iterator.
# ``Pool.map`` is not lazy at all: ``Pool._map_async`` turns an input without a
# length into a list first.

# %%
# Fix: keep a fixed number of tasks in flight
# -------------------------------------------
# ``bounded_map`` submits ``in_flight`` tasks, and submits the next item only
# after it yields a result, in input order like ``map``. The input is read
# ``in_flight`` items ahead, whatever its length: an endless generator works.


def bounded_map(executor, function, items, in_flight):
    items = iter(items)
    pending = collections.deque(
        executor.submit(function, item) for item in itertools.islice(items, in_flight)
    )
    while pending:
        yield pending.popleft().result(timeout=WAIT)
        for item in itertools.islice(items, 1):
            pending.append(executor.submit(function, item))


IN_FLIGHT = 2 * WORKERS

if __name__ == "__main__":
    items = CountedItems(ITEMS)
    with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
        results = bounded_map(executor, slow_square, items, IN_FLIGHT)
        bounded_first = next(results)
        bounded_at_first = items.taken
        bounded_next = [next(results) for _ in range(3)]
        bounded_after = items.taken
        results.close()
    print(
        f"bounded_map, {IN_FLIGHT} in flight: {bounded_at_first} items taken when", end=" "
    )
    print(f"the first result ({bounded_first}) came, {bounded_after} after 3 more")
    endless = CountedItems(10**12)  # as good as endless
    with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
        endless_results = list(
            itertools.islice(bounded_map(executor, slow_square, endless, IN_FLIGHT), 6)
        )
    print(f"bounded_map over {endless.count} items: {endless_results},", end=" ")
    print(f"{endless.taken} items taken")

# %%
# What happened
# -------------

if __name__ == "__main__":
    eager = at_return == at_first == chunked_at_return == ITEMS
    print(
        f"failure reproduced: {'yes' if eager else 'no'} (Executor.map took all "
        f"{at_return} items before returning; Pool.imap took {imap_at_first})"
    )
    fixed = (
        bounded_at_first == IN_FLIGHT
        and bounded_after == IN_FLIGHT + 3
        and [bounded_first, *bounded_next] == [0, 1, 4, 9]
        and endless_results == [n * n for n in range(6)]
        and endless.taken == IN_FLIGHT + 5
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} (bounded_map took {bounded_at_first} "
        "items before its first result)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Items read before the first result",
        [
            Observation(
                label="Executor.map",
                result=f"{at_first} of {ITEMS}",
                ok=not eager,
                fraction=at_first / ITEMS,
            ),
            Observation(
                label="Pool.imap",
                result=f"{imap_at_first} of {ITEMS}",
                ok=None,
                fraction=imap_at_first / ITEMS,
            ),
            Observation(
                label=f"bounded_map ({IN_FLIGHT} in flight)",
                result=f"{bounded_at_first} of {ITEMS}",
                ok=fixed,
                fraction=bounded_at_first / ITEMS,
            ),
        ],
    )
    assert eager and first == 0
    assert WORKERS < imap_at_first < ITEMS and imap_first == 0
    assert fixed
    assert not multiprocessing.active_children()
