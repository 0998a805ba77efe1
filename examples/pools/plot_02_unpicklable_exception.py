"""
An exception that cannot be unpickled: ``Pool`` hangs, the executor breaks
==========================================================================

A worker raises an exception class of your own, and it never reaches you.
With ``multiprocessing.Pool``, ``pool.map`` or ``pool.apply`` never return,
and a traceback from a thread named ``_handle_results`` says ``TypeError:
QueryError.__init__() missing 1 required positional argument: 'code'``. With
``ProcessPoolExecutor`` you get ``BrokenProcessPool: A process in the process
pool was terminated abruptly``, although no process had ended. The exception was
sent back; rebuilding it in the parent failed, because pickle rebuilds an
exception by calling its class with ``self.args``, and this class's
``__init__`` takes other arguments than the ones it passes to
``super().__init__``. This page shows why, what each pool does, and two
fixes.
"""

# %%
# The messages as the build produced them: :ref:`error-unpicklable-exception`,
# :ref:`error-broken-pool-unpickle`, :ref:`error-result-handler-not-alive`,
# :ref:`error-executor-not-usable`.

# %%
# The exception
# -------------
# ``QueryError`` takes a query and a code, and passes one formatted message to
# ``Exception.__init__``: ``self.args`` is that message alone.

import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path


class QueryError(Exception):
    def __init__(self, query, code):
        super().__init__(f"query {query!r} failed with code {code}")
        self.query = query
        self.code = code


def run_query(query, error_class=QueryError):
    raise error_class(query, code=42)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    error = QueryError("SELECT 1", 42)
    cls, args, state = error.__reduce__()
    print(f"pickle stores: {cls.__name__}(*{args!r}), then sets {state}")
    try:
        pickle.loads(pickle.dumps(error))
        round_trip = "ok"
    except TypeError as unpickling_error:
        round_trip = f"TypeError: {unpickling_error}"
    print("pickle.loads(pickle.dumps(error)):", round_trip)

# %%
# ``pickle.dumps`` works: an exception's ``__reduce__`` says "call the class
# with ``self.args``, then set ``__dict__``". ``pickle.loads`` makes that call,
# ``QueryError("query 'SELECT 1' failed with code 42")``, and ``__init__``
# wants two arguments. A worker pickles the exception it caught without
# trouble; the failure happens in the parent, as the result arrives.
#
# ``Pool``: the result never arrives, and the pool is dead
# --------------------------------------------------------
# What follows breaks the pool for good and can leave its workers running,
# so it runs as a separate program. Once the workers have started, it waits
# for ``map_async(...).get()`` at most 1 s (``pool.map`` waits the same way,
# without a timeout), lists the pool's threads, submits a valid task, and
# finally calls ``terminate()``.

POOL_PROGRAM = """
import multiprocessing, os, threading


class QueryError(Exception):
    def __init__(self, query, code):
        super().__init__(f"query {query!r} failed with code {code}")
        self.query = query
        self.code = code


def run_query(query):
    raise QueryError(query, code=42)


def pool_threads():  # thread names end with their function: Thread-3 (_handle_results)
    return [t.name.split("(")[-1][:-1] for t in threading.enumerate() if "(" in t.name]


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    pool = context.Pool(2)
    pool.apply_async(abs, (-1,)).get(timeout=60)  # the workers have started
    print("pool threads before:", ", ".join(pool_threads()))
    result = pool.map_async(run_query, ["SELECT 1"])
    try:
        result.get(timeout=1)
    except multiprocessing.TimeoutError:
        print("map_async(...).get(timeout=1): TimeoutError")
    print("pool threads after:", ", ".join(pool_threads()))
    later = pool.apply_async(abs, (-1,))
    later.wait(timeout=0.5)
    print("abs(-1) submitted afterwards, ready after 0.5 s:", later.ready())
    try:
        pool.terminate()
        print("terminate(): returned")
    except AssertionError as error:
        print("terminate(): AssertionError:", error)
    print("workers still running after it:", len(multiprocessing.active_children()))
"""


def run_program(source, method):
    """Run ``source`` as a program in a temporary directory; return what it did."""
    env = {**os.environ, "MPGUIDE_START_METHOD": method, "PYTHON_COLORS": "0"}
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "program.py").write_text(source)
        return subprocess.run(
            [sys.executable, "program.py"],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


if __name__ == "__main__":
    done = run_program(POOL_PROGRAM, context.get_start_method())
    print(done.stdout, end="")
    thread_error = re.search(r"^(Exception in thread .*):$", done.stderr, re.M)
    raised = re.findall(r"^\w+Error: .*$", done.stderr, re.M)
    print("on stderr:", thread_error.group(1) if thread_error else "nothing")
    print("  ending:", raised[-1] if raised else "nothing")
    print("program exit status:", done.returncode)

# %%
# Why
# ---
# Results come back through one pipe, read by one thread of the parent,
# ``Pool._handle_results`` in ``multiprocessing/pool.py`` (CPython 3.11, 3.12
# and 3.13, the same code). It unpickles each result with ``get()`` and
# catches only ``OSError`` and ``EOFError`` there: the ``TypeError`` ends the
# thread, and the thread's exception is printed to stderr. Nothing else reads
# results, so this task's result and every later one stay pending: ``map``,
# ``apply`` and ``get()`` without a timeout wait for ever, and so does
# ``close()`` followed by ``join()`` (``_handle_workers`` keeps running while
# any result is pending). ``terminate()`` finds results pending and no thread
# to receive them, raises that ``AssertionError`` (spelt ``result_hander`` in
# 3.11), and stops before it has terminated the workers; those still running
# end when the program exits, as ``multiprocessing``'s exit handler
# terminates daemonic processes (``_exit_function`` in
# ``multiprocessing/util.py``).
#
# The other direction is guarded: a worker that cannot *pickle* its result
# sends a ``MaybeEncodingError`` instead (``worker`` in
# ``multiprocessing/pool.py``; :ref:`error-unpicklable-result`).
#
# ``ProcessPoolExecutor``: ``BrokenProcessPool``
# ----------------------------------------------

if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        future = executor.submit(run_query, "SELECT 1")
        try:
            future.result(timeout=60)
        except BrokenProcessPool as error:
            broken = error
        try:
            executor.submit(abs, -1)
            refused = None
        except BrokenProcessPool as error:
            refused = error
    print("future.result(): BrokenProcessPool:", broken)
    cause_lines = re.findall(r"^\w+Error: .*$", str(broken.__cause__), re.M)
    print("its __cause__ ends:", cause_lines[-1] if cause_lines else "no cause")
    print("submit() afterwards: BrokenProcessPool:", refused)
    print("processes left running:", len(multiprocessing.active_children()))

# %%
# The executor's manager thread reads results too, but wraps the read in
# ``except BaseException`` (``wait_result_broken_or_wakeup`` in
# ``concurrent/futures/process.py``, CPython 3.11 to 3.13). It cannot tell
# which task the unreadable result belonged to, so it treats the pool as
# broken: it fails every pending future with ``BrokenProcessPool``, whose
# ``__cause__`` holds the unpickling traceback, terminates the workers and
# refuses new tasks (``terminate_broken``). The message blames a process that
# "terminated abruptly" in both cases, though every process was alive: it is
# the message of a worker that really died (:ref:`error-broken-process-pool`).
# Read the cause, printed above the ``BrokenProcessPool`` in a traceback.
#
# Fix 1: pass every argument to ``super().__init__``
# --------------------------------------------------
# Then ``self.args`` is ``(query, code)``, exactly what ``__init__`` takes,
# and ``__str__`` builds the message.


class QueryErrorWithArgs(Exception):
    def __init__(self, query, code):
        super().__init__(query, code)
        self.query = query
        self.code = code

    def __str__(self):
        return f"query {self.query!r} failed with code {self.code}"


# %%
# Fix 2: say how to rebuild it, with ``__reduce__``
# -------------------------------------------------
# When ``args`` must stay the formatted message (code that reads
# ``error.args[0]``), return the class, the arguments ``__init__`` takes, and
# the instance's ``__dict__`` (which also carries notes added with
# ``add_note()``).


class QueryErrorWithReduce(Exception):
    def __init__(self, query, code):
        super().__init__(f"query {query!r} failed with code {code}")
        self.query = query
        self.code = code

    def __reduce__(self):
        return type(self), (self.query, self.code), self.__dict__


# %%
# Both fixed classes, raised in a worker of each kind of pool:

if __name__ == "__main__":
    fixed_classes = (QueryErrorWithArgs, QueryErrorWithReduce)
    received = []
    with context.Pool(2) as pool:
        for error_class in fixed_classes:
            try:
                pool.apply_async(run_query, ("SELECT 1", error_class)).get(timeout=60)
            except error_class as error:
                received.append(("Pool", error))
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        for error_class in fixed_classes:
            try:
                executor.submit(run_query, "SELECT 1", error_class).result(timeout=60)
            except error_class as error:
                received.append(("executor", error))
    for pool_name, error in received:
        print(
            f"{pool_name}, {type(error).__name__}: {error}; "
            f"query={error.query!r}, code={error.code}; "
            f"__cause__: {type(error.__cause__).__name__}"
        )

# %%
# Each arrives as itself, with its attributes, and with the worker's
# traceback attached as ``__cause__`` (``RemoteTraceback`` from a ``Pool``,
# ``_RemoteTraceback`` from an executor), which a traceback prints above
# yours. To check an exception class before a pool meets it, run
# ``pickle.loads(pickle.dumps(error))`` on an instance in a test.
#
# What happened
# -------------

if __name__ == "__main__":
    pool_hung = "map_async(...).get(timeout=1): TimeoutError" in done.stdout
    threads_after = re.search(r"^pool threads after: (.*)$", done.stdout, re.M)
    handler_died = bool(threads_after) and "_handle_results" not in threads_after.group(1)
    executor_broke = isinstance(broken, BrokenProcessPool) and bool(cause_lines)
    reproduced = pool_hung and handler_died and executor_broke
    fixed = len(received) == 4 and all(
        (e.query, e.code) == ("SELECT 1", 42) for _, e in received
    )
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (Pool: no result, "
        "its result thread died; executor: BrokenProcessPool)"
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} ({len(received)} of 4: the exception "
        "itself, with query and code)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A worker raises QueryError",
        [
            Observation("Pool.map", "no result" if pool_hung else "a result", False),
            Observation("ProcessPoolExecutor", type(broken).__name__, False),
            Observation("args to super().__init__", "QueryError arrives", fixed),
            Observation("__reduce__", "QueryError arrives", fixed),
        ],
    )
    assert round_trip.startswith("TypeError: QueryError.__init__() missing 1 required")
    assert reproduced and fixed, (done.stdout, done.stderr)
    assert "abs(-1) submitted afterwards, ready after 0.5 s: False" in done.stdout
    assert "terminate(): AssertionError: Cannot have cache with result_ha" in done.stdout
    assert thread_error and thread_error.group(1).endswith("(_handle_results)")
    assert raised and raised[0] == round_trip, raised
    assert cause_lines[-1] == round_trip and isinstance(refused, BrokenProcessPool)
    assert {type(e.__cause__).__name__ for _, e in received} == {
        "RemoteTraceback",
        "_RemoteTraceback",
    }
    assert not multiprocessing.active_children()
