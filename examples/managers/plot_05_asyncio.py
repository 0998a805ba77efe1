"""
Manager proxies in ``asyncio`` code: keep the calls off the event loop
======================================================================

Every proxy call is a blocking round trip to the Manager's server. Called from
a coroutine, it blocks the event loop's thread, and every other coroutine
waits: a slow call (a ``wait()`` on a shared event, a lock held by another
process, a busy server) stalls the whole program. This page measures the
stall with a heartbeat coroutine, then moves the calls to threads with
``loop.run_in_executor``, one proxy per thread.
"""

# %%
# A heartbeat, and a proxy call on the loop
# -----------------------------------------
# The heartbeat records the time every 10 ms. Another coroutine calls
# ``gate.wait(1.0)`` on a shared ``Event`` nobody sets: the server waits one
# second, then answers ``False``.

import asyncio
import itertools
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ThreadPoolExecutor

TICK = 0.01
BLOCKING_WAIT = 1.0
TICKS_BEFORE_OPENING = 5


def run(coroutine):
    """``asyncio.run(coroutine)``; in a notebook, whose kernel already runs an
    event loop in this thread, on a new loop in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def heartbeat(ticks, stop, after_ticks=None):
    """Record a time every TICK seconds; run ``after_ticks()`` after a few ticks."""
    while not stop.is_set():
        ticks.append(time.monotonic())
        if after_ticks is not None and len(ticks) == TICKS_BEFORE_OPENING:
            await after_ticks()
        await asyncio.sleep(TICK)


def summary(ticks, started, ended):
    """Ticks during the call, and the longest gap between two ticks."""
    during = sum(started < tick < ended for tick in ticks)
    return during, max(later - earlier for earlier, later in itertools.pairwise(ticks))


async def call_on_the_loop(gate):
    ticks, stop = [], asyncio.Event()
    beating = asyncio.create_task(heartbeat(ticks, stop))
    await asyncio.sleep(3 * TICK)
    started = time.monotonic()
    opened = gate.wait(BLOCKING_WAIT)  # blocks this thread, so the loop
    ended = time.monotonic()
    await asyncio.sleep(3 * TICK)
    stop.set()
    await beating
    return opened, *summary(ticks=ticks, started=started, ended=ended)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    gate = manager.Event()
    opened, during, gap = run(call_on_the_loop(gate))
    print(f"gate.wait({BLOCKING_WAIT}) on the loop returned {opened}")
    print(f"heartbeat ticks during the call: {during}; longest gap: {gap:.2f} s")

# %%
# Why
# ---
# ``gate.wait(1.0)`` is ``BaseProxy._callmethod``: send a message, then block
# in ``recv()`` until the server answers. ``asyncio`` runs coroutines one at a
# time on one thread, and only switches at an ``await``; a blocking call has
# none, so the heartbeat cannot run until the answer arrives. ``asyncio``'s
# :ref:`debug mode <asyncio-debug-mode>` (``python -X dev``, or
# ``PYTHONASYNCIODEBUG=1``) finds such calls: it logs every step of a task
# that holds the loop longer than 0.1 s, as ``Executing <Task ...> took 1.002
# seconds``.
#
# Fix: run proxy calls in threads
# -------------------------------
# ``await loop.run_in_executor(executor, gate.wait, 60)`` runs the call in a
# thread and lets the loop run meanwhile. Which threads? A proxy keeps its
# connection to the server in a thread-local (``BaseProxy._tls``), so each
# thread that calls it opens a connection of its own. The
# :ref:`multiprocessing programming guidelines <multiprocessing-programming>`
# still say not to use one proxy object from several threads without a lock,
# and ``asyncio.to_thread`` may run successive calls in different threads of
# the loop's default executor. So here each proxy gets its own single-thread
# executor: every call on that proxy runs in that one thread, one after the
# other.
#
# To prove the loop runs during the wait, the heartbeat itself opens the gate
# after a few ticks, through a second proxy to the same ``Event`` (loading a
# pickled proxy builds another proxy to its object; the first one stays
# alive meanwhile) in a second thread. The wait can only return ``True`` if
# the heartbeat ticked while it was waiting.


async def call_in_a_thread(gate):
    loop = asyncio.get_running_loop()
    opener = pickle.loads(pickle.dumps(gate))  # a second proxy, for a second thread
    with (
        ThreadPoolExecutor(1, thread_name_prefix="gate") as gate_thread,
        ThreadPoolExecutor(1, thread_name_prefix="opener") as opener_thread,
    ):

        async def open_gate():
            await loop.run_in_executor(opener_thread, opener.set)

        ticks, stop = [], asyncio.Event()
        beating = asyncio.create_task(heartbeat(ticks, stop, after_ticks=open_gate))
        started = time.monotonic()
        opened = await loop.run_in_executor(gate_thread, gate.wait, 60)
        ended = time.monotonic()
        await asyncio.sleep(3 * TICK)
        stop.set()
        await beating
    return opened, *summary(ticks=ticks, started=started, ended=ended)


if __name__ == "__main__":
    opened_in_thread, during_in_thread, gap_in_thread = run(call_in_a_thread(gate))
    print(f"gate.wait(60) in a thread returned {opened_in_thread}")
    print(
        f"heartbeat ticks during the call: {during_in_thread}; "
        f"longest gap: {gap_in_thread:.2f} s"
    )
    del gate
    manager.shutdown()

# %%
# The gaps are measured in this run and vary with the machine's load; the
# tick counts do not: zero while the loop is blocked, and at least
# ``TICKS_BEFORE_OPENING`` when the call runs in a thread, since only the
# heartbeat opens the gate.

if __name__ == "__main__":
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Heartbeats during a blocking call",
        [
            Observation(
                label="called on the event loop",
                result=f"{during} ticks, {gap:.1f} s gap",
                ok=during > 0,
            ),
            Observation(
                label="called in a thread",
                result=f"{during_in_thread} ticks, {gap_in_thread:.1f} s gap",
                ok=during_in_thread > 0,
            ),
        ],
    )
    assert opened is False and during == 0 and gap >= BLOCKING_WAIT
    assert opened_in_thread is True and during_in_thread >= TICKS_BEFORE_OPENING
