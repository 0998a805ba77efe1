"""
Fork with threads: the DeprecationWarning, and the deadlock behind it
=====================================================================

From Python 3.12, ``os.fork()`` warns when the process has other threads:
``DeprecationWarning: This process (pid=...) is multi-threaded, use of fork()
may lead to deadlocks in the child.`` The ``fork`` start method calls
``os.fork()``, so starting a process while any thread runs (yours, a
library's, a thread pool's) triggers it; Python 3.11 says nothing. The
warning is about a real hazard: the child gets a copy of every lock, but only
the thread that forked. A lock that another thread held at that moment stays
locked in the child forever. The fix is a start method that does not fork the
threaded process: ``forkserver`` or ``spawn``.
"""

# %%
# Reproduce
# ---------
# A thread takes a lock and holds it, as a logging handler, a cache or a
# connection pool would while busy. The main thread then starts a child under
# ``fork``; the child tries to take that lock, with a time limit so that this
# page cannot hang. Warnings are recorded, not printed, to show exactly what
# was emitted.

import multiprocessing
import os
import sys
import threading
import warnings

BUSY = threading.Lock()  # a lock some thread may hold at any moment
CHILD_WAIT = 2.0  # seconds the child tries to take the lock


def take_the_lock():
    """Exit 0 if the lock can be taken within CHILD_WAIT seconds, else 3."""
    taken = BUSY.acquire(timeout=CHILD_WAIT)
    sys.exit(0 if taken else 3)


def hold_lock_until(released):
    with BUSY:
        released.wait(60)


def start_while_a_thread_holds_the_lock(method):
    """Start a child under ``method`` while a thread holds BUSY.

    Returns the child's exit code and the warnings recorded while starting it.
    """
    released = threading.Event()
    holder = threading.Thread(target=hold_lock_until, args=(released,))
    holder.start()
    try:
        while not BUSY.locked():
            released.wait(0.01)
        child = multiprocessing.get_context(method).Process(target=take_the_lock)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            child.start()
        child.join(CHILD_WAIT + 30)
        if child.is_alive():  # never expected: the child's wait is bounded
            child.terminate()
            child.join()
    finally:
        released.set()
        holder.join()
    messages = [
        f"{w.category.__name__}: {w.message}".replace(str(os.getpid()), "<pid>")
        for w in caught
    ]
    return child.exitcode, messages


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    print("Python", sys.version.split()[0])
    fork_exit, fork_warnings = start_while_a_thread_holds_the_lock("fork")
    print("fork: child exit code", fork_exit, "(3: it could not take the lock)")
    print("fork: warnings:", fork_warnings or "none")

# %%
# Why
# ---
# ``fork()`` copies the whole memory of the process, locks included, into a
# child that has one thread: the one that called ``fork()``. The lock's owner
# does not exist there, so nobody will ever release it. Here the child gives up
# after two seconds; real code (``logging``, ``malloc`` in C libraries, an
# HTTP client's pool) waits forever, which is the deadlock the warning names.
# CPython added the warning in 3.12 (`gh-100228
# <https://github.com/python/cpython/issues/100228>`_); it is emitted in the
# parent, from ``multiprocessing/popen_fork.py``, so by default it is shown
# only when warnings are enabled (``python -X dev``, ``-W default``, pytest).
# :doc:`/explanation/fork-and-threads` has the details.

# %%
# Fix: a start method that does not fork this process
# ---------------------------------------------------
# ``forkserver`` forks children from a separate server process that has one
# thread; ``spawn`` starts a new interpreter. Either way the child imports this
# module and gets its own, unlocked ``BUSY``. On this page the fix uses the
# site's start method, or ``forkserver`` when that is ``fork``.

if __name__ == "__main__":
    fix_method = method if method != "fork" else "forkserver"
    if fix_method not in multiprocessing.get_all_start_methods():
        fix_method = "spawn"
    fixed_exit, fixed_warnings = start_while_a_thread_holds_the_lock(fix_method)
    print(f"{fix_method}: child exit code", fixed_exit)
    print(f"{fix_method}: warnings:", fixed_warnings or "none")

# %%
# What happened
# -------------

if __name__ == "__main__":
    warned = any("multi-threaded, use of fork()" in w for w in fork_warnings)
    expected_warning = sys.version_info >= (3, 12)
    print(
        f"failure reproduced: {'yes' if fork_exit == 3 else 'no'} "
        f"(the fork child could not take a lock held by a thread it does not have; "
        f"warned on Python {sys.version_info.major}.{sys.version_info.minor}: "
        f"{'yes' if warned else 'no'})"
    )
    works = fixed_exit == 0 and not fixed_warnings
    print(
        f"fix works: {'yes' if works else 'no'} "
        f"({fix_method} child took the lock, no warning)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Fork while a thread holds a lock",
        [
            Observation(
                label="fork child takes the lock",
                result="stuck" if fork_exit == 3 else f"exit {fork_exit}",
                ok=fork_exit == 0,
            ),
            Observation(
                label="DeprecationWarning",
                result="yes" if warned else "no",
                ok=None,
            ),
            Observation(
                label=f"{fix_method} child takes the lock",
                result=f"exit {fixed_exit}",
                ok=works,
            ),
        ],
    )
    assert fork_exit == 3 and warned == expected_warning and works
