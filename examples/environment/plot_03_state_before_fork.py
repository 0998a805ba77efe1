"""
A library set up before ``fork``: "Cannot re-initialize CUDA in forked subprocess"
==================================================================================

A library that starts threads, opens a device or a connection when it is first
used keeps that state in the process. A ``fork`` child gets a copy of the
memory that describes the state, and none of the threads, devices or
connections behind it. Some libraries detect it and refuse, as PyTorch does
with CUDA; most go on and fail later, or wait for ever. This page reproduces it
with a library any Python has, a thread pool set up at import and used once
before the workers start: under ``fork`` the workers' tasks never run. It shows
why from CPython's code, and fixes it two ways: set the library up in each
worker, or start the workers from a context that does not fork the set-up
process.
"""

# %%
# A library with a background thread
# ----------------------------------
# ``client`` stands for a library's module-level object: an HTTP client with a
# background pool, a metrics exporter, a GPU context. Like such libraries, it
# is created at import and used at once (``warm_up``), before any worker exists.

import concurrent.futures
import multiprocessing
import os
import threading
import warnings

TASK_WAIT = 2.0  # seconds: a task in a working thread pool takes microseconds
WAIT = 60  # seconds: a bound that a working run never reaches


class Client:
    """Runs calls on a background thread, as many client libraries do."""

    def __init__(self):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.pid = os.getpid()

    def warm_up(self):
        self.pool.submit(len, "connect").result(timeout=WAIT)

    def call(self, value):
        return self.pool.submit(pow, value, 2).result(timeout=TASK_WAIT)


client = Client()
client.warm_up()


def use_client(value):
    """A worker's task: the library call, or what stopped it."""
    try:
        return client.call(value)
    except concurrent.futures.TimeoutError:
        return f"no result after {TASK_WAIT} s"


def run_tasks(context, initializer=None):
    """Four tasks on two workers of ``context``; the warnings the parent got."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        with context.Pool(2, initializer=initializer) as pool:
            results = pool.map(use_client, range(4), chunksize=1)
    forked_with_threads = [w for w in caught if "multi-threaded" in str(w.message)]
    return results, len(forked_with_threads)


# %%
# Reproduce
# ---------

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    print("threads in the parent:", threading.active_count())
    results, fork_warnings = run_tasks(context)
    print("the workers' results:", results)
    print("fork-with-threads warnings in the parent:", fork_warnings)

# %%
# Why
# ---
# ``fork()`` copies the whole memory of the process and only the thread that
# called it. The child's copy of ``client.pool`` still lists the thread that
# ran ``warm_up`` in its ``_threads``, and that thread released the pool's
# ``_idle_semaphore`` when it went idle. So in the child the first ``submit()``
# finds an "idle thread" and starts none, and later ones find the pool full
# (``ThreadPoolExecutor._adjust_thread_count`` in
# ``concurrent/futures/thread.py``, 3.11 to 3.13): every task waits in a queue
# that no thread reads. Only the pool's module-wide shutdown lock is reset after
# a fork (``os.register_at_fork`` in the same file).
#
# A ``spawn`` worker is a new interpreter: it imports the module again and
# builds a client of its own, with live threads. A ``forkserver`` worker is a
# fork of the forkserver, and what it holds depends on the version: on the
# CPythons this page ran on (3.11, 3.12 and 3.13.0), the forkserver never
# imports the main module, so its workers import it themselves and work; from
# 3.13.8 and 3.14.1 (cpython issue 126631) the forkserver imports the main
# module first, runs ``Client()`` and ``warm_up()`` itself, and every worker
# forked from it holds a pool without its thread, as under ``fork``. A library
# set up by a module given to ``set_forkserver_preload`` is inherited the same
# way. From Python 3.12, ``os.fork()`` in a process with more than one thread
# also issues a ``DeprecationWarning`` ("This process ... is multi-threaded,
# use of fork() may lead to deadlocks in the child"), counted above: Python's
# default filters hide it, so a program sees it only with ``python -X dev`` or
# ``-W default``; see
# :ref:`sphx_glr_gallery_start_methods_plot_03_fork_with_threads.py`.
#
# Libraries that know about it refuse instead of waiting. PyTorch marks a
# process that forks after CUDA was initialised, and its ``_lazy_init`` (in
# ``torch/cuda/__init__.py``) then raises, in the child::
#
#     RuntimeError: Cannot re-initialize CUDA in forked subprocess. To use CUDA
#     with multiprocessing, you must use the 'spawn' start method
#
# That message is quoted from PyTorch's source, not produced here: this site's
# build has no GPU. The cause and the fixes below are the same.

# %%
# Fix 1: set the library up in each worker
# ----------------------------------------
# A pool's ``initializer`` runs in every worker before its first task: it
# replaces the inherited copy with a client of the worker's own. This holds
# under every start method and version, the forkserver of 3.14 included. (A
# library can do this for its users: key its state by ``os.getpid()``, or
# reset it with ``os.register_at_fork(after_in_child=...)``.)


def fresh_client():
    global client
    if client.pid != os.getpid():
        client = Client()


if __name__ == "__main__":
    per_worker, _ = run_tasks(context, initializer=fresh_client)
    print("a client made in each worker:", per_worker)

# %%
# Fix 2: ``spawn`` workers
# ------------------------
# A ``spawn`` worker never holds a copy of another process's library state.
# This is what PyTorch's message asks for, and the default on macOS and
# Windows. Every argument and result must then pickle, and each worker imports
# the main module again: see :doc:`/howto/choose-start-method`. (``forkserver``
# is no such fix from 3.13.8 and 3.14.1, as above.)

if __name__ == "__main__":
    fresh_method = "spawn"
    fresh_interpreter, _ = run_tasks(multiprocessing.get_context(fresh_method))
    print(f"workers from {fresh_method}:", fresh_interpreter)

# %%
# What happened
# -------------

if __name__ == "__main__":
    expected = [value**2 for value in range(4)]

    def ran(outcomes):
        return sum(
            outcome == value for outcome, value in zip(outcomes, expected, strict=True)
        )

    stuck = sum(isinstance(result, str) for result in results)
    print(
        f"failure reproduced: {'yes' if stuck else 'no'} ({stuck} of {len(results)} "
        "library calls in the workers never ran)"
    )
    fixed = per_worker == expected and fresh_interpreter == expected
    print(
        f"fix works: {'yes' if fixed else 'no'} (a client per worker, and workers "
        f"from {fresh_method}: every call ran)"
    )
    print(
        "depends on the start method: only a fork worker holds a copy of the parent's "
        "thread pool without its threads (and, from 3.13.8 and 3.14.1, a forkserver "
        "worker, a copy of the forkserver's)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A thread pool set up before the workers started",
        [
            Observation(
                label=f"{method} workers, inherited pool",
                result=f"{len(results) - stuck} of {len(results)} calls ran",
                ok=not stuck,
                fraction=(len(results) - stuck) / len(results),
            ),
            Observation(
                label="a client made in each worker",
                result=f"{ran(per_worker)} of 4 ran",
                ok=per_worker == expected,
            ),
            Observation(
                label=f"{fresh_method} workers",
                result=f"{ran(fresh_interpreter)} of 4 ran",
                ok=fresh_interpreter == expected,
            ),
        ],
    )
    assert (stuck == len(results)) == (method == "fork"), results
    assert stuck or results == expected
    if method == "fork":
        import sys

        assert (fork_warnings > 0) == (sys.version_info >= (3, 12)), fork_warnings
    else:
        assert fork_warnings == 0
    assert fixed
    assert not multiprocessing.active_children()
