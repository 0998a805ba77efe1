"""
"A SemLock created in a fork context is being shared with a process in a spawn context"
=======================================================================================

A program makes its ``Queue`` (or ``Lock``, ``Event``, ``Semaphore``) with
``multiprocessing.Queue()``, which on Linux before Python 3.14 means the
``fork`` context, and starts its processes from another context: a library
that asks for ``spawn``, a ``get_context("spawn")`` added to be ready for
macOS, a pool with ``mp_context``. ``start()`` then raises ``RuntimeError``.
This page reproduces it, shows the one line of CPython that raises it and why,
and fixes it by making every object from the context that starts the processes.
"""

# %%
# Reproduce: a queue from ``fork``, a process from the page's start method
# ------------------------------------------------------------------------
# ``fork_context`` stands for the default context of Linux before 3.14.
# ``context`` is the one this page runs under: ``fork``, ``spawn`` or
# ``forkserver``.

import multiprocessing
import os
import queue
import sys
import time

WAIT = 60  # seconds: a bound that a working run never reaches


def report_back(results):
    results.put(f"hello from process {os.getpid()}")


def start_and_receive(context, results):
    """Start a child that puts one line on ``results``; return that line, or the
    error that ``start()`` raised, as text."""
    child = context.Process(target=report_back, args=(results,))
    try:
        child.start()
    except RuntimeError as error:
        return f"RuntimeError: {error}"
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            line = results.get(timeout=0.5)
            break
        except queue.Empty:
            if not child.is_alive():  # before 3.11.5 nothing stops the start
                child.join()
                return f"the child failed, exit code {child.exitcode}"
    child.join(timeout=WAIT)
    return f"received {line.split(' from ')[0]!r}, exit code {child.exitcode}"


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    fork_context = multiprocessing.get_context("fork")
    fork_queue = fork_context.Queue()
    mixed = start_and_receive(context, fork_queue)
    print("a fork-context queue, a", method, "process:", mixed)
    fork_queue.close()
    fork_queue.join_thread()

# %%
# Why
# ---
# A ``fork`` child gets the queue's semaphore without pickling: it is a copy of
# the parent's memory. A ``spawn`` or ``forkserver`` child gets everything it
# needs pickled, and a semaphore is pickled as its name, which the child opens
# again. A semaphore made in a ``fork`` context has no name left to open: its
# constructor unlinks the name at once (``unlink_now`` in
# ``SemLock.__init__``, ``multiprocessing/synchronize.py``), so that nothing is
# left behind if the program dies. Pickling it for another context is refused
# in ``SemLock.__getstate__``, with the same words whether the child is a
# ``spawn`` or a ``forkserver`` one. The check is in CPython 3.11.5 and later
# (cpython issue 77377); this page's runs show it on each version the site was
# built with.
#
# The queue's pipe is not the problem: pickling the queue pickles its lock
# (``Queue.__getstate__``), and the lock refuses. ``Lock``, ``RLock``,
# ``Semaphore``, ``Event``, ``Condition``, ``Barrier`` and ``JoinableQueue``
# hold one too.

if __name__ == "__main__":
    lock = fork_context.Lock()
    fork_named = lock._semlock.name is not None
    print("the fork-context lock's semaphore has a name:", fork_named)
    named = context.Lock()._semlock.name is not None
    print(f"a {method}-context lock's semaphore has a name:", named)

# %%
# Fix: make the objects from the context that starts the processes
# ----------------------------------------------------------------
# Take every ``Queue``, ``Lock`` and ``Event`` from the same context object as
# the ``Process`` or ``Pool`` (``context.Queue()``), or set the start method once
# with ``set_start_method`` under the main guard and use the module's functions
# throughout. A library that chooses its own context should make its objects
# from it too, or let its caller pass the context in.

if __name__ == "__main__":
    same_queue = context.Queue()
    same = start_and_receive(context, same_queue)
    print("a", method, "queue, a", method, "process:", same)
    same_queue.close()
    same_queue.join_thread()

# %%
# What happened
# -------------

if __name__ == "__main__":
    refused = not mixed.startswith("received")
    print(
        f"failure reproduced: {'yes' if refused else 'no'} (a fork-context queue "
        f"passed to a {method} process: {mixed.split(':')[0] if refused else 'it worked'})"
    )
    fixed = same == "received 'hello', exit code 0"
    print(f"fix works: {'yes' if fixed else 'no'} (the queue from the same context)")
    print(
        "depends on the start method: a fork child inherits the semaphore, a spawn or "
        "forkserver child must open it by a name that a fork-context semaphore no "
        "longer has"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A queue made in one context, a process started in another",
        [
            Observation(
                label=f"fork queue, {method} process",
                result="RuntimeError" if refused else "worked",
                ok=not refused,
            ),
            Observation(
                label=f"{method} queue, {method} process",
                result="worked" if fixed else same,
                ok=fixed,
            ),
        ],
    )
    assert refused == (method != "fork")
    if refused and sys.version_info >= (3, 11, 5):
        assert mixed.startswith("RuntimeError: A SemLock created in a fork context")
    assert refused or mixed == "received 'hello', exit code 0"
    assert not fork_named and named == (method != "fork")
    assert fixed
    assert not multiprocessing.active_children()
