"""
Pitfall 14: ``Queue.put()`` of an object that cannot be pickled returns, and ``get()`` waits
============================================================================================

A worker puts its result on a ``multiprocessing.Queue``; the result holds
something that cannot be pickled (here a lock). ``put()`` returns as if it had
worked, the worker exits with code 0, a traceback appears on the worker's
standard error, and the consumer's ``get()`` waits for ever for an item that
will never come. This page reproduces it with every wait bounded, shows which
thread prints the traceback and why ``put()`` cannot raise, and makes the
failure reach the code that can handle it: pickle in the caller, or use a
``SimpleQueue``, whose ``put()`` pickles before it returns. The same hand-over
makes ``empty()`` return ``True``, and ``get_nowait()`` raise ``queue.Empty``,
right after a ``put()``: the page counts how often, and shows why.
"""

# %%
# Why it happens in general: :doc:`/explanation/copies-not-references`.

# %%
# Reproduce
# ---------
# The worker's standard error is replaced by a writer that notes which thread
# wrote each line, and sent back to the parent through a pipe once the
# worker's queue has flushed (``close()`` then ``join_thread()``).

import io
import multiprocessing
import os
import queue
import sys
import threading
import time

GET_WAIT = 2.0  # seconds: the consumer's bound on a get() that would never return
WAIT = 60  # seconds: a bound that a working run never reaches


class ThreadTaggedWriter(io.TextIOBase):
    """A stand-in for ``sys.stderr`` that keeps each line with its thread's name."""

    def __init__(self):
        self.lines = []

    def write(self, text):
        name = threading.current_thread().name
        self.lines += [(name, line) for line in text.splitlines() if line.strip()]
        return len(text)


def make_result():
    """A worker's result that cannot be pickled: it holds a lock."""
    return {"total": 42, "guard": threading.RLock()}


def put_result(results, report):
    """In a worker: put the result on the queue, then report what stderr got."""
    sys.stderr = writer = ThreadTaggedWriter()
    results.put(make_result())
    returned = "put() returned"
    results.close()
    results.join_thread()  # the queue's thread has tried to send everything
    report.send((returned, writer.lines))


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    results = context.Queue()
    reader, writer = context.Pipe(duplex=False)
    worker = context.Process(target=put_result, args=(results, writer))
    worker.start()
    try:
        received = results.get(timeout=GET_WAIT)
    except queue.Empty:
        received = f"nothing after {GET_WAIT} s (queue.Empty)"
    put_outcome, stderr_lines = reader.recv() if reader.poll(WAIT) else ("", [])
    worker.join(WAIT)
    reader.close()
    writer.close()
    results.close()
    print("the consumer's get():", received)
    print("in the worker:", put_outcome, end="; ")
    print("its exit code:", worker.exitcode)
    print("the worker's standard error, first and last line, by thread:")
    for name, line in stderr_lines[:1] + stderr_lines[-1:]:
        print(f"  {name}: {line}")

# %%
# Why
# ---
# ``Queue.put()`` does not pickle. It appends the object to a buffer in the
# putting process and wakes the queue's feeder thread, named
# ``QueueFeederThread``, which that first ``put()`` started
# (``Queue.put`` and ``Queue._start_thread`` in ``multiprocessing/queues.py``,
# 3.11 to 3.13). The feeder thread pickles each object with
# ``_ForkingPickler.dumps(obj)`` and writes the bytes to the pipe, in
# ``Queue._feed``. ``put()`` does not wait for that, so an exception there has
# nobody to reach: ``_feed`` catches it, releases the queue's size
# semaphore ("as if the object had been silently removed from the queue") and
# calls ``Queue._on_queue_feeder_error``, which only calls
# ``traceback.print_exc()``. The traceback goes to the putting process's
# standard error, from the feeder thread, as printed above; nothing was written
# to the pipe, so the consumer's ``get()`` has nothing to read. The same code
# is in 3.11, 3.12 and 3.13. (``ProcessPoolExecutor`` overrides the hook in
# ``concurrent/futures/process.py``, ``_SafeQueue._on_queue_feeder_error``, to
# set the exception on the task's future: there the error does arrive.)

# %%
# Fix: pickle where the error can be handled
# ------------------------------------------
# Pickling in the caller turns the feeder thread's traceback into an exception
# in the worker's own code, which can send something the consumer understands.
# ``multiprocessing.reduction.ForkingPickler.dumps`` is the pickler the queue
# uses; the queue then pickles the object again, so the check costs one more
# pickling of each item. A ``SimpleQueue`` has no feeder thread: its ``put()``
# calls ``_ForkingPickler.dumps(obj)`` itself and then writes to the pipe
# (``SimpleQueue.put``, 3.11 to 3.13), so the ``TypeError`` is raised by
# ``put()``, in the caller. The price: with no buffer in between, its
# ``put()`` blocks while the pipe is full, until the consumer reads.

from multiprocessing.reduction import ForkingPickler


def put_checked(results, item):
    """Put ``item``, or, if it cannot be pickled, the error that says why."""
    try:
        ForkingPickler.dumps(item)
    except Exception as error:
        item = f"{type(error).__name__}: {error}"
    results.put(item)


def put_result_checked(results):
    put_checked(results, make_result())


def put_result_simple(results):
    try:
        results.put(make_result())
    except TypeError as error:
        results.put(f"put() raised {type(error).__name__}: {error}")


def get_within(results, seconds):
    """The next item, or a note that none came in ``seconds`` (a SimpleQueue's
    ``get()`` takes no timeout, so both kinds are polled)."""
    deadline = time.monotonic() + seconds
    while results.empty():
        if time.monotonic() > deadline:
            return f"nothing after {seconds} s"
        time.sleep(0.01)
    return results.get()


def consume(context, target, results):
    worker = context.Process(target=target, args=(results,))
    worker.start()
    item = get_within(results, WAIT)
    worker.join(WAIT)
    results.close()
    return item


if __name__ == "__main__":
    checked = consume(context, put_result_checked, context.Queue())
    print("pickled first, the consumer got:", checked)
    simple = consume(context, put_result_simple, context.SimpleQueue())
    print("with a SimpleQueue, the consumer got:", simple)

# %%
# The same thread makes ``empty()`` say ``True`` after a ``put()``
# ----------------------------------------------------------------
# Because ``put()`` only hands the object to the feeder thread, the queue's
# pipe can still be empty when ``put()`` returns. ``empty()`` looks at the
# pipe and nothing else (``return not self._poll()`` in ``Queue.empty``), and
# ``get_nowait()``, that is ``get(block=False)``, raises ``queue.Empty`` when
# the same look finds nothing (``Queue.get``); both in
# ``multiprocessing/queues.py``, 3.11 to 3.13. Items put by another process
# are in the same place until its feeder thread writes them: a consumer that
# stops at the first ``empty()`` can stop before the producer's items arrive.
# ``get_nowait()`` also raises ``queue.Empty`` while another process or thread
# holds the queue's read lock, in the middle of its own ``get()``
# (``self._rlock.acquire(block, timeout)``, same function), with items waiting.
#
# The run asks right after each of ``TRIES`` puts of a small item; how often
# the feeder thread has not written it yet depends on the machine, so the page
# prints the count. Then one item whose pickling waits until the caller has
# asked (``PickledLate``, a stand-in for an object that takes long to pickle)
# shows the answer while the feeder thread is still at work.

TRIES = 200


class PickledLate:
    """Pickles as a string, once ``release`` is set."""

    def __init__(self, release):
        self.release = release

    def __reduce__(self):
        self.release.wait(WAIT)  # runs in the feeder thread
        return str, ("pickled late",)


def get_nowait_or_none(items):
    try:
        return items.get_nowait()
    except queue.Empty:
        return None


if __name__ == "__main__":
    items = context.Queue()
    said_empty = said_nothing = got_back = 0
    for number in range(TRIES):
        items.put(number)
        said_empty += items.empty()
        got_back += items.get(timeout=WAIT) == number
    for number in range(TRIES):
        items.put(number)
        got = get_nowait_or_none(items)
        said_nothing += got is None
        got_back += (got if got is not None else items.get(timeout=WAIT)) == number
    print(f"right after put(): empty() was True in {said_empty} of {TRIES} tries,", end=" ")
    print(f"get_nowait() raised queue.Empty in {said_nothing} of {TRIES}")
    print(f"get(timeout={WAIT}) then received {got_back} of {2 * TRIES} items")

    release = threading.Event()
    items.put(PickledLate(release))
    late_empty = items.empty()
    late_nowait = get_nowait_or_none(items)
    release.set()
    late_item = items.get(timeout=WAIT)
    items.close()
    items.join_thread()
    print(f"while the item was being pickled: empty() {late_empty},", end=" ")
    print(f"get_nowait() {'raised queue.Empty' if late_nowait is None else 'got it'};")
    print(f"then get(timeout={WAIT}) returned {late_item!r}")

# %%
# The fix: do not let ``empty()``, ``qsize()`` or
# ``get_nowait()`` decide that nothing more will come. Block in
# ``get(timeout=...)`` and stop on a sentinel (``None`` put last by each
# producer) or on a count of the items expected, as
# :ref:`sphx_glr_gallery_alternatives_plot_03_message_passing.py` does; the
# cost is a wait of up to ``timeout`` when something did go wrong. Stop a
# consumer that way too, not with ``terminate()``: a consumer ended inside
# ``get()`` leaves the queue's read lock taken for good, and every later
# ``get()`` on that queue fails with ``queue.Empty`` or waits for ever
# (:ref:`error-queue-reader-terminated`). A
# ``SimpleQueue`` writes the item into its pipe before ``put()`` returns, so
# in the process that put it, ``empty()`` is ``False`` once ``put()`` has
# returned; across processes it is still only a hint.
#
# What ``put()`` does wait for is a free slot. A ``Queue`` counts its free
# slots with a ``BoundedSemaphore(maxsize)``: ``put()`` acquires one
# (``self._sem.acquire(block, timeout)``) before it hands the item to the
# feeder thread, and raises ``queue.Full`` when none came free within its
# ``timeout``; ``get()`` releases one, and so does the feeder thread when the
# item fails to pickle (``_feed``; all in ``multiprocessing/queues.py``, 3.11
# to 3.13). A ``Queue()`` given no ``maxsize`` takes ``SEM_VALUE_MAX``, the
# platform's largest semaphore value: ``queue.Full`` in the error index
# (:ref:`error-queue-full`) shows Linux's, 2147483647; macOS's is 32767, and
# there a ``Queue(maxsize)`` above it fails with ``OSError: [Errno 22]``, as
# ``sem_open`` refuses the value (:ref:`error-queue-maxsize-macos`).

if __name__ == "__main__":
    simple_items = context.SimpleQueue()
    simple_said_empty = 0
    for number in range(TRIES):
        simple_items.put(number)
        simple_said_empty += simple_items.empty()
        simple_items.get()
    simple_items.close()
    print("SimpleQueue, right after put(): empty() was True in", end=" ")
    print(f"{simple_said_empty} of {TRIES} tries")

# %%
# What happened
# -------------

if __name__ == "__main__":
    message = "TypeError: cannot pickle '_thread.RLock' object"
    writers = {name for name, line in stderr_lines}
    reproduced = (
        received.startswith("nothing after")
        and put_outcome == "put() returned"
        and worker.exitcode == 0
        and writers == {"QueueFeederThread"}
        and stderr_lines[0][1] == "Traceback (most recent call last):"
        and stderr_lines[-1][1] == message
    )
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (put() returned, the "
        f"feeder thread printed {message}, get() got nothing in {GET_WAIT} s)"
    )
    fixed = checked == message and simple == f"put() raised {message}"
    print(f"fix works: {'yes' if fixed else 'no'} (the consumer got the error both ways)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Queue.put() of an unpicklable object",
        [
            Observation(label="Queue.put()", result="returned", ok=not reproduced),
            Observation(
                label="consumer's get()",
                result="nothing came" if reproduced else str(received),
                ok=not reproduced,
            ),
            Observation(label="pickled first", result="TypeError sent", ok=fixed),
            Observation(label="SimpleQueue.put()", result="raised TypeError", ok=fixed),
        ],
    )
    assert reproduced
    assert fixed
    assert got_back == 2 * TRIES
    assert late_empty and late_nowait is None and late_item == "pickled late"
    assert simple_said_empty == 0
    assert not multiprocessing.active_children()
