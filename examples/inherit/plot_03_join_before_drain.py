"""
``join()`` never returns: a child that put data on a ``Queue``
==============================================================

A child process puts its results on a ``multiprocessing.Queue`` and its
function returns, but ``child.join()`` in the parent waits for ever (and so
does the parent's exit, which joins its children too). The child is waiting as
well: a process that put items on a queue does not exit until they are all
written into the queue's pipe, and nobody empties the pipe. This page
reproduces the hang with a bounded wait, measures how much a pipe holds (why
a small test does not hang), fixes it by receiving before joining, and measures
what ``cancel_join_thread()`` costs: the items still in the child's buffer.
"""

# %%
# The child
# ---------
# ``produce`` puts ``count`` items of about a kilobyte each, then sets an
# event to say that its function has returned. Each item, pickled, is well
# under the ``select.PIPE_BUF`` bytes (4096 on Linux) that a pipe writes in
# one piece, so no item is ever cut in two (which matters below).

import multiprocessing
import os
import queue as queue_module
from multiprocessing.reduction import ForkingPickler

ITEMS = 200  # about 200 KB: more than a pipe holds
FEW = 10  # about 10 KB: less
PAYLOAD = b"x" * 1000
JOIN_WAIT = 1.5  # seconds: the child has nothing left to do but exit
WAIT = 60  # seconds: a bound a working run never reaches


def produce(results, count, returned, cancel=False):
    for index in range(count):
        results.put((index, PAYLOAD))
    if cancel:
        results.cancel_join_thread()
    returned.set()


def start_producer(context, count, cancel=False):
    """Start a child that puts ``count`` items; return it, its queue and its event."""
    results, returned = context.Queue(), context.Event()
    child = context.Process(target=produce, args=(results, count, returned, cancel))
    child.start()
    return child, results, returned


def receive_all(results, count):
    return [results.get(timeout=WAIT) for _ in range(count)]


def close(results):
    results.close()
    results.join_thread()


# %%
# Reproduce: join first
# ---------------------
# The parent waits until the child's function has returned, then joins it,
# for at most ``JOIN_WAIT`` seconds instead of for ever.

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    child, results, returned = start_producer(context, ITEMS)
    function_returned = returned.wait(timeout=WAIT)
    child.join(timeout=JOIN_WAIT)
    hung = child.is_alive()
    print(f"the child's function returned: {function_returned}")
    print(f"after join(timeout={JOIN_WAIT}), the child is alive: {hung}")
    drained = receive_all(results, ITEMS)
    child.join(timeout=WAIT)
    print(f"after the parent took {len(drained)} items, exit code: {child.exitcode}")
    close(results)

# %%
# Why
# ---
# ``put()`` does not write to the pipe: it appends the item to a buffer in the
# child, and a *feeder* thread that the first ``put()`` starts writes the
# buffer into the queue's pipe (``Queue.put`` and ``Queue._feed`` in
# ``multiprocessing/queues.py``). When the process ends, ``multiprocessing``
# runs the finalizers its objects registered: the queue's
# (``Queue._finalize_join``, registered by ``Queue._start_thread``) joins the
# feeder thread, which ends only after writing every item in the buffer. A
# pipe holds a limited amount (measured below); once it is full, the feeder's
# write waits for a reader, so the exit waits, and so does the parent's
# ``join()``. Where the
# finalizers run changed, not what they do: ``BaseProcess._bootstrap`` calls
# ``util._exit_function`` after the target returns on 3.11 and 3.12; on 3.13
# the child calls it from ``atexit`` (``popen_fork.Popen._launch``,
# ``forkserver.main``, and the interpreter's normal exit under ``spawn``).
# The :ref:`programming guidelines <multiprocessing-programming>` say so under
# "Joining processes that use queues".
#
# The parent's own exit has the same wait: ``util._exit_function`` joins every
# non-daemonic child still running (3.11 to 3.13), so a script that never reads
# its queue does not end either.
#
# How much a pipe holds
# ---------------------
# ``multiprocessing.Queue`` writes into ``Pipe(duplex=False)``, which is an
# ``os.pipe()`` on Linux and macOS (``Pipe`` in ``multiprocessing/connection.py``),
# and sends each item (up to 16 KB) as one write: a 4-byte length, then the pickle
# (``Connection._send_bytes``). Writing into a non-blocking pipe until it
# refuses measures how much it holds, with writes of 4096 bytes and with writes
# the size of one item's message.


def pipe_capacity(write_size):
    """Bytes written into a new pipe, ``write_size`` at a time, before it is full."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    written = 0
    try:
        while True:
            written += os.write(write_end, b"x" * write_size)
    except BlockingIOError:
        return written
    finally:
        os.close(read_end)
        os.close(write_end)


if __name__ == "__main__":
    message = 4 + len(ForkingPickler.dumps((ITEMS, PAYLOAD)))
    capacity = pipe_capacity(4096)
    fit = pipe_capacity(message) // message
    print(f"a pipe holds {capacity} bytes written 4096 at a time")
    print(f"and {fit} messages of {message} bytes ({fit * message} bytes)")
    print(f"{ITEMS} items are {ITEMS * message} bytes; {FEW} items, {FEW * message}")

# %%
# Small writes fill the pipe sooner: on Linux a pipe keeps its data in pages
# of 4096 bytes (16 of them by default), and a write joins the last page only
# if it fits there whole (``pipe_write`` in the kernel's ``fs/pipe.c``).
#
# A child whose items all fit in the pipe exits at once, joined before anyone
# reads: that is why the hang appears only when the data grow, in production
# rather than in a small test.

if __name__ == "__main__":
    child, results, returned = start_producer(context, FEW)
    returned.wait(timeout=WAIT)
    child.join(timeout=WAIT)
    few_exit = child.exitcode
    few_received = len(receive_all(results, FEW))
    print(f"{FEW} items: joined first, exit code {few_exit}; then received {few_received}")
    close(results)

# %%
# Fix: receive, then join
# -----------------------
# Take every item the child sends before joining it. The parent must know when
# to stop reading: here it knows the count; otherwise the child sends a
# sentinel such as ``None`` last, as in
# :ref:`sphx_glr_gallery_alternatives_plot_03_message_passing.py`. A ``Pool``
# and a ``ProcessPoolExecutor`` read their result queues for you.

if __name__ == "__main__":
    child, results, returned = start_producer(context, ITEMS)
    received = receive_all(results, ITEMS)
    child.join(timeout=WAIT)
    in_order = [index for index, _ in received] == list(range(ITEMS))
    print(f"received {len(received)} items (in order: {in_order}), ", end="")
    fixed_exit = child.exitcode
    print(f"then join: exit code {fixed_exit}")
    fixed = len(received) == ITEMS and in_order and fixed_exit == 0
    close(results)

# %%
# ``python -m mpguide lint`` finds the join before the queue is drained without running
# it (rule MPG010, :doc:`/reference/lint`), and prints nothing for the join after it:

from mpguide.lint import lint_snippet

BROKEN = """\
import multiprocessing


def produce(results):
    results.put(b"x" * 1_000_000)


if __name__ == "__main__":
    results = multiprocessing.Queue()
    child = multiprocessing.Process(target=produce, args=(results,))
    child.start()
    child.join()
    print(len(results.get()))
"""
FIXED = """\
import multiprocessing


def produce(results):
    results.put(b"x" * 1_000_000)


if __name__ == "__main__":
    results = multiprocessing.Queue()
    child = multiprocessing.Process(target=produce, args=(results,))
    child.start()
    print(len(results.get()))
    child.join()
"""

if __name__ == "__main__":
    lint_broken, lint_fixed = lint_snippet(BROKEN), lint_snippet(FIXED)
    print(*lint_broken, sep="\n")
    print("for the fix:", lint_fixed or "nothing")
    assert len(lint_broken) == 1 and all(" MPG010 " in line for line in lint_broken)
    assert lint_fixed == []

# %%
# ``cancel_join_thread()``: the exit no longer waits, and the rest is lost
# ------------------------------------------------------------------------
# Called in the child, it removes the queue's finalizer, so the child exits
# without waiting for its feeder thread (``Queue.cancel_join_thread``), and
# whatever was still in its buffer goes with it. The parent joins first, then
# takes what reached the pipe: at most what the pipe holds, and fewer when the
# feeder thread had not caught up when the process ended. Only items whose
# message fits in ``select.PIPE_BUF`` bytes arrive whole or not at all; a
# larger one can be cut off by the exit, and the parent's ``get()`` then waits
# for ever for the rest, whatever its timeout (which bounds only the wait for
# the first byte).

if __name__ == "__main__":
    child, results, returned = start_producer(context, ITEMS, cancel=True)
    returned.wait(timeout=WAIT)
    child.join(timeout=WAIT)
    cancelled_exit = child.exitcode
    kept = 0
    try:
        while True:
            results.get(timeout=0.2)  # the child is gone: all that came is there
            kept += 1
    except queue_module.Empty:
        pass
    close(results)
    print(f"cancel_join_thread(): exit code {cancelled_exit}, ", end="")
    print(f"received {kept} of {ITEMS}, lost {ITEMS - kept}")

# %%
# Use it only for data you can lose (progress reports, say). ``SimpleQueue``
# has no feeder thread: its ``put()`` writes into the pipe itself
# (``SimpleQueue.put``), so a full pipe blocks the ``put()`` call, in plain
# sight, instead of the exit.
#
# What happened
# -------------

if __name__ == "__main__":
    print(
        f"failure reproduced: {'yes' if hung else 'no'} (join timed out, "
        f"the child alive after its function returned)"
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} ({len(received)} of {ITEMS} received, "
        f"then join returned)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"A child put {ITEMS} items on a Queue",
        [
            Observation(
                label="join() before get()",
                result=f"alive after {JOIN_WAIT} s" if hung else "exited",
                ok=not hung,
            ),
            Observation(
                label=f"{FEW} items, join() first",
                result=f"exit code {few_exit}",
                ok=None,
            ),
            Observation(
                label="get() every item, then join()",
                result=f"{len(received)} of {ITEMS}, exit code {fixed_exit}",
                ok=fixed,
                fraction=len(received) / ITEMS,
            ),
            Observation(
                label="cancel_join_thread()",
                result=f"{kept} of {ITEMS} received",
                ok=kept == ITEMS,
                fraction=kept / ITEMS,
            ),
        ],
    )
    assert function_returned and hung and len(drained) == ITEMS
    assert ITEMS * message > 2 * capacity and fit * message <= capacity
    assert fit > FEW
    assert few_exit == 0 and few_received == FEW
    assert fixed
    assert cancelled_exit == 0 and kept <= fit < ITEMS
    assert not multiprocessing.active_children()
