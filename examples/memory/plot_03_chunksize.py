"""
A pool slower than a loop: ``chunksize``
========================================

You moved a loop into ``Pool.imap`` or ``ProcessPoolExecutor.map`` and it got
hundreds of times slower, on a machine with several idle CPUs. Each item
travels to a worker and back as a message of its own: pickled, written to a
pipe, read, unpickled, for work that takes a fraction of a microsecond. This
page counts the messages each way of mapping sends, times each against a plain
loop in the same run, and shows how ``chunksize`` sets the count.
"""

# %%
# Counting the messages
# ---------------------
# Every message to a worker carries the function with the items, so the
# function here is a small callable object whose unpickling, in the worker,
# adds one to a counter shared by the workers (``__reduce__`` names the
# function that rebuilds it). Each way of mapping then reports exactly how many
# messages it sent. The pool's initializer also reports each worker as
# started, so that no timing includes a worker's start.

import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

ITEMS = 1000
WORKERS = 2
WAIT = 60  # seconds: a bound that working code never reaches
MESSAGES = None  # in each worker: the shared message counter


def start_worker(messages, ready):
    """The initializer: remember the counter, and say this worker has started."""
    global MESSAGES
    MESSAGES = messages
    with ready.get_lock():
        ready.value += 1


def square_from_message():
    """Rebuild the function from a message: one more message received."""
    if MESSAGES is not None:
        with MESSAGES.get_lock():
            MESSAGES.value += 1
    return Square()


class Square:
    def __call__(self, x):
        return x * x

    def __reduce__(self):
        return (square_from_message, ())


def wait_for_workers(ready):
    deadline = time.monotonic() + WAIT
    while ready.value < WORKERS:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{ready.value} of {WORKERS} workers started in {WAIT} s")
        time.sleep(0.01)


def timed(run, repeats=1):
    """The result of ``run()`` and its best time, in seconds, over ``repeats``."""
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return result, best


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    square = Square()
    items = list(range(ITEMS))
    expected, loop_seconds = timed(lambda: [square(x) for x in items], repeats=5)
    print(f"plain loop over {ITEMS} items: {loop_seconds * 1e6 / ITEMS:.2f} µs per item")

# %%
# Every way, timed against the loop
# ---------------------------------
# One pool of ``WORKERS`` processes runs each way of mapping over the same
# ``ITEMS`` numbers; the counter is reset before each. "expected" is
# ``ceil(ITEMS / chunksize)``; "time" is the run's time over the loop's.

if __name__ == "__main__":
    messages = context.Value("i", 0)
    ready = context.Value("i", 0)
    rows = []  # (way, chunksize, messages counted, time over the loop)

    def measure(way, chunksize, run):
        """Time ``run``: once when it sends a message per item, else best of 3."""
        best = math.inf
        for _ in range(1 if chunksize == 1 else 3):
            messages.value = 0
            result, seconds = timed(run)
            best = min(best, seconds)
        assert sorted(result) == expected, way
        rows.append((way, chunksize, messages.value, best / loop_seconds))

    setup = {"initializer": start_worker, "initargs": (messages, ready)}
    default = math.ceil(ITEMS / (WORKERS * 4))  # Pool._map_async's rule
    half = ITEMS // WORKERS  # one chunk per process
    with context.Pool(WORKERS, **setup) as pool:
        wait_for_workers(ready)
        measure("Pool.map, chunksize=1", 1, lambda: pool.map(square, items, chunksize=1))
        measure("Pool.map, default chunksize", default, lambda: pool.map(square, items))
        measure(
            f"Pool.map, chunksize={half}",
            half,
            lambda: pool.map(square, items, chunksize=half),
        )
        measure("Pool.imap (default: 1)", 1, lambda: list(pool.imap(square, items)))
        measure(
            "Pool.imap_unordered (default: 1)",
            1,
            lambda: list(pool.imap_unordered(square, items)),
        )
        measure(
            f"Pool.imap_unordered, chunksize={default}",
            default,
            lambda: list(pool.imap_unordered(square, items, chunksize=default)),
        )
        # map() makes a list of its input before it sends anything.
        read = 0

        def numbers():
            global read
            for x in items:
                read += 1
                yield x

        pending = pool.map_async(square, numbers())
        read_by_map_async = read
        pending.get(timeout=WAIT)
    pool.join()

    ready.value = 0
    with ProcessPoolExecutor(WORKERS, mp_context=context, **setup) as executor:
        # Under spawn and forkserver, the executor starts workers as work arrives.
        list(executor.map(square, range(WORKERS * 4)))
        wait_for_workers(ready)
        measure(
            "ProcessPoolExecutor.map (default: 1)",
            1,
            lambda: list(executor.map(square, items, timeout=WAIT)),
        )
        measure(
            f"ProcessPoolExecutor.map, chunksize={default}",
            default,
            lambda: list(executor.map(square, items, timeout=WAIT, chunksize=default)),
        )

    print(f"{'way':44} {'messages':>8} {'expected':>8} {'time':>9}")
    print(f"{'plain loop':44} {0:>8} {0:>8} {1:>8.1f}x")
    for way, chunksize, counted, ratio in rows:
        print(f"{way:44} {counted:>8} {math.ceil(ITEMS / chunksize):>8} {ratio:>8.1f}x")
    by_way = {way: (counted, ratio) for way, _, counted, ratio in rows}

# %%
# Why
# ---
# ``Pool.map`` without a ``chunksize`` cuts the input into ``4 x processes``
# chunks: ``chunksize, extra = divmod(len(iterable), len(self._pool) * 4)``,
# plus one when there is a remainder (``Pool._map_async`` in
# ``multiprocessing/pool.py``, CPython 3.11 to 3.13), here
# ``ITEMS / 8 = 125`` items per message, 8 messages. Each chunk is one task,
# run by ``mapstar`` as ``list(map(func, chunk))``. ``Pool.imap``,
# ``Pool.imap_unordered`` and ``ProcessPoolExecutor.map`` default to
# ``chunksize=1``: one message out and one back per item, each a pickle, a pipe
# write, a wake-up of another process and an unpickle, costing tens of
# microseconds against a fraction of one for ``x * x``. Four messages per
# process keep the chunks big and still let a process that finishes early take
# another; a ``chunksize`` that makes one chunk per process (here 500) sends
# the fewest messages, but a slow chunk then holds up the whole result.
#
# With work this small, no ``chunksize`` made the pool win in this run (every
# ratio in the table is above 1): it still pickles every number twice. A pool
# pays off when each message carries much more work than the message costs;
# measure both, as here, before choosing.

if __name__ == "__main__":
    per_message = by_way["Pool.map, chunksize=1"][1] * loop_seconds * 1e6 / ITEMS
    print(f"Pool.map, chunksize=1: {per_message:.0f} µs per item, messages included")
    print(f"map_async had read {read_by_map_async} of {ITEMS} items when it returned")

# %%
# ``imap_unordered``, and memory
# ------------------------------
# ``map`` turns its input into a list first (the
# ``if not hasattr(iterable, '__len__')`` in ``Pool._map_async``: the line
# above shows it had read every item before returning) and returns every
# result in one list. ``imap`` hands results over one at a time, in input
# order, keeping the ones that arrive early until their turn;
# ``imap_unordered`` hands each over as it arrives, so one slow item holds up
# nothing, and the caller can write each result away and drop it. Neither
# slows down the reading of the input, though: the pool's task-handler thread
# feeds it to the workers as fast as the pipe takes it (``Pool._handle_tasks``),
# and ``ProcessPoolExecutor.map`` submits every item before returning
# (``Executor.map`` in ``concurrent/futures/_base.py``, 3.11 to 3.13). For an
# input too large for memory, feed the pool in slices. And since both default
# to ``chunksize=1``, give them a ``chunksize``: results then arrive a chunk at
# a time.

# %%
# What happened
# -------------

if __name__ == "__main__":
    one_messages, one_ratio = by_way["Pool.map, chunksize=1"]
    default_messages, default_ratio = by_way["Pool.map, default chunksize"]
    reproduced = one_ratio > 10
    fixed = default_messages < one_messages and default_ratio < one_ratio
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (Pool.map, chunksize=1: "
        f"{one_messages} messages for {ITEMS} items, slower than the loop)"
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} (the default chunksize: "
        f"{default_messages} messages, faster than chunksize=1)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"x * x over {ITEMS} items",
        [
            Observation(label="plain loop", result="1x", ok=None),
            Observation(
                label="Pool.map, chunksize=1",
                result=f"{one_ratio:.0f}x the loop",
                ok=False,
            ),
            Observation(
                label=f"Pool.map, chunksize={default}",
                result=f"{default_ratio:.1f}x the loop",
                ok=fixed,
            ),
            Observation(
                label="ProcessPoolExecutor.map",
                result=f"{by_way['ProcessPoolExecutor.map (default: 1)'][1]:.0f}x the loop",
                ok=False,
            ),
        ],
    )
    for way, chunksize, counted, _ in rows:
        assert counted == math.ceil(ITEMS / chunksize), (way, counted)
    assert default == 125 and read_by_map_async == ITEMS
    assert reproduced and fixed
    assert by_way["ProcessPoolExecutor.map (default: 1)"][1] > 10
    assert min(ratio for *_, ratio in rows) > 1
    assert not multiprocessing.active_children()
