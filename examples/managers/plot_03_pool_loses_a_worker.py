"""
A pool loses a worker: ``Pool`` waits forever, ``ProcessPoolExecutor`` says so
==============================================================================

When a worker process dies in the middle of a task (killed by ``SIGKILL``, as
the out-of-memory killer does), ``multiprocessing.Pool`` replaces the worker
and forgets the task: ``pool.map`` then waits forever. A
``concurrent.futures.ProcessPoolExecutor`` notices, fails every unfinished
future with ``BrokenProcessPool``, and refuses new work. This page shows both
with every wait bounded, then detects the break, and restarts the unfinished
work in a new pool.
"""

# %%
# The task
# --------
# One item's task kills its own worker with ``SIGKILL`` the first time it
# runs (sent by the task itself, so that it happens mid-task every time; the
# out-of-memory killer sends the same signal from outside). ``attempt`` counts
# the restarts.

import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

ITEMS = range(8)
DOOMED = 5
POOL_WAIT = 2  # seconds: the other tasks need well under one
WAIT = 60  # seconds: a bound that a working executor never reaches


def square(item, attempt=0):
    if item == DOOMED and attempt == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return item * item


# %%
# ``multiprocessing.Pool``: the result never comes
# ------------------------------------------------
# ``pool.map(square, ITEMS)`` would block forever here, so the page calls
# ``map_async`` and waits at most ``POOL_WAIT`` seconds. Leaving the ``with`` block
# calls ``terminate()``, which stops the workers; ``join()`` waits for them.

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    with context.Pool(2) as pool:
        result = pool.map_async(square, ITEMS)
        try:
            result.get(timeout=POOL_WAIT)
            pool_outcome = "finished"
        except multiprocessing.TimeoutError:
            pool_outcome = f"no result after {POOL_WAIT} s (TimeoutError)"
        pool_ready = result.ready()
    pool.join()
    print("Pool.map_async(...).get(timeout):", pool_outcome)
    print("and the result is ready:", pool_ready)

# %%
# Why
# ---
# ``Pool`` runs a thread that notices exited workers and starts new ones
# (``Pool._maintain_pool`` in ``multiprocessing/pool.py``), but nothing
# records which task the dead worker held: its result stays pending for ever,
# and ``map``, ``get()`` without a timeout, or ``close()`` followed by
# ``join()`` wait for it (CPython 3.11, 3.12 and 3.13). With a ``Pool``, bound
# every ``get()`` with a timeout, and on a timeout ``terminate()`` the pool.
#
# ``ProcessPoolExecutor``: the break is reported
# ----------------------------------------------
# Its manager thread watches every worker; when one exits unexpectedly it
# fails every pending future with ``BrokenProcessPool``
# (:ref:`error-broken-process-pool`), terminates the other
# workers, and marks the executor broken, so ``submit`` raises too
# (``terminate_broken`` in ``concurrent/futures/process.py``). Which of the
# other tasks had finished first depends on timing.


def outcome_of(future):
    try:
        return future.result(timeout=0)
    except BrokenProcessPool:
        return "BrokenProcessPool"


if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as executor:
        futures = [executor.submit(square, item) for item in ITEMS]
        _, unfinished = wait(futures, timeout=WAIT)
        assert not unfinished, "the executor did not report the break in time"
        outcomes = [outcome_of(future) for future in futures]
        try:
            executor.submit(square, 0)
            submit_after = "accepted"
        except BrokenProcessPool:
            submit_after = "BrokenProcessPool"
    broken = outcomes.count("BrokenProcessPool")
    print(f"item {DOOMED}: {outcomes[DOOMED]}")
    print(f"all items: {len(outcomes) - broken} results, {broken} BrokenProcessPool")
    print("submit after the break:", submit_after)

# %%
# Detect, recover, restart
# ------------------------
# Keep the results that arrived, start a new executor, and submit only the
# unfinished items, a bounded number of times. Retrying is safe only for tasks
# that can run twice (here, squaring); a task that writes somewhere must
# tolerate a second run.


def run_with_restarts(context, items, pools=3):
    results = {}
    started = 0
    for attempt in range(pools):
        todo = [item for item in items if item not in results]
        if not todo:
            break
        started += 1
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as executor:
            futures = {executor.submit(square, item, attempt): item for item in todo}
            _, unfinished = wait(futures, timeout=WAIT)
            if unfinished:
                raise TimeoutError(f"{len(unfinished)} tasks ran past {WAIT} s")
            for future, item in futures.items():
                if not isinstance(future.exception(timeout=0), BrokenProcessPool):
                    results[item] = future.result(timeout=0)
    return [results.get(item) for item in items], started


if __name__ == "__main__":
    recovered, pools_used = run_with_restarts(context, ITEMS)
    print(f"results after {pools_used} pools: {recovered}")
    print("processes left running:", len(multiprocessing.active_children()))

# %%
# This is why the recipes on this site use ``ProcessPoolExecutor``: a dead
# worker is an exception you can catch, not a wait that never ends. A worker
# that is merely slow is a different problem: bound the wait
# (``wait(..., timeout=...)``, ``future.result(timeout=...)``) in either kind
# of pool.

if __name__ == "__main__":
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A worker dies mid-task",
        [
            Observation(
                label="Pool: result ready",
                result="yes" if pool_ready else "no",
                ok=pool_ready,
            ),
            Observation(
                label="Executor: the lost item",
                result=outcomes[DOOMED],
                ok=outcomes[DOOMED] == "BrokenProcessPool",
            ),
            Observation(
                label="resubmitted to new pools",
                result=f"{len(recovered)} of {len(ITEMS)} results",
                ok=len(recovered) == len(ITEMS),
                fraction=len(recovered) / len(ITEMS),
            ),
        ],
    )
    assert not pool_ready and outcomes[DOOMED] == "BrokenProcessPool"
    assert submit_after == "BrokenProcessPool"
    assert recovered == [item * item for item in ITEMS] and pools_used == 2
    assert not multiprocessing.active_children()
