"""
The first request never returns: a ``Pool`` made before the server forks
=========================================================================

A web application makes a ``multiprocessing.Pool`` when it is imported, and
its requests use it. Run alone, it works; under uWSGI, or gunicorn with
``--preload``, a request that uses the pool waits for ever. Those servers
import the application once, in their master process, and then make their
workers with ``fork()``: each server worker has a copy of the pool object, and
none of the threads that make a pool work. This page reproduces it with the
standard library alone (a master that imports the application, then
``os.fork()`` as the server does), shows that the pool's own start method
changes nothing, and fixes it by making the pool in each server worker, on
its first request.
"""

# %%
# A server in a few lines
# -----------------------
# The program below is the whole server: its master loads the application
# (``load_application``: what the server does when it imports your module),
# forks one server worker, and the worker serves one request, which asks the
# pool for four squares and waits at most ``REQUEST_WAIT`` seconds. The worker
# sends back what it got, how many threads it has, and which processes
# ``multiprocessing`` believes are its children, through a pipe. A worker
# that holds a copy of the master's pool ends with ``os._exit`` (why, below);
# the fix's worker closes its own pool and exits normally. The master then
# uses its own pool once more and closes it. It runs as a program of its own,
# a fresh master as a server's is, in three versions: the pool made when the
# application is loaded, a ``concurrent.futures.ProcessPoolExecutor`` made and
# used then, and the fix.

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WAIT = 60  # seconds: a bound a working run never reaches

SERVER = """
import concurrent.futures, multiprocessing, os, sys, threading, warnings

REQUEST_WAIT = 2.0  # seconds: four squares take milliseconds
WAIT = 60
context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
version = sys.argv[1]
app = {}  # what the application made when it was loaded
_pools = {}  # process id -> the pool that process made (the fix)


def square(number):
    return number * number


def load_application():
    if version == "Pool at import":
        app["pool"] = context.Pool(2)
    elif version == "executor at import":
        executor = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
        executor.submit(square, 0).result(timeout=WAIT)  # used once, at start-up
        app["executor"] = executor


def pool_of_this_process():
    \"\"\"This process's own pool, made on its first request.\"\"\"
    if os.getpid() not in _pools:
        _pools[os.getpid()] = context.Pool(2)
    return _pools[os.getpid()]


def handle_request():
    try:
        if version == "Pool at import":
            return app["pool"].map_async(square, range(4)).get(timeout=REQUEST_WAIT)
        if version == "executor at import":
            futures = [app["executor"].submit(square, n) for n in range(4)]
            return [future.result(timeout=REQUEST_WAIT) for future in futures]
        return pool_of_this_process().map_async(square, range(4)).get(timeout=WAIT)
    except (multiprocessing.TimeoutError, TimeoutError) as error:
        return f"{type(error).__module__}.{type(error).__name__} after {REQUEST_WAIT:g} s"


def server_worker(reply):
    answer = handle_request()
    children = sorted(p.pid for p in multiprocessing.active_children())
    reply.send((answer, threading.active_count(), children))
    reply.close()
    for pool in _pools.values():  # its own pool, closed as at a worker's exit
        pool.close()
        pool.join()
    if app:  # it holds a copy of the master's pool or executor
        os._exit(0)
    sys.exit(0)


if __name__ == "__main__":
    load_application()  # the server imports the application, in its master
    reader, writer = multiprocessing.Pipe(duplex=False)
    threads = threading.active_count()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        pid = os.fork()  # the server starts a worker
    if pid == 0:
        reader.close()
        server_worker(writer)
    writer.close()
    if reader.poll(WAIT):
        answer, worker_threads, worker_children = reader.recv()
    else:  # never expected: the request's wait is bounded
        answer, worker_threads, worker_children = "no report", None, []
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    reader.close()
    master_children = sorted(p.pid for p in multiprocessing.active_children())
    print("request:", answer)
    print("threads:", threads, "in the master,", worker_threads, "in the server worker")
    print("the master's children, counted as the server worker's:",
          bool(master_children) and worker_children == master_children)
    warned = [str(w.message).replace(str(os.getpid()), "<pid>") for w in caught]
    print("warning at the fork:", warned[0] if warned else "none")
    if "pool" in app:
        print("the master's pool after:", app["pool"].map(square, range(4)))
        app["pool"].close()
        app["pool"].join()
    if "executor" in app:
        print("the master's executor after:", app["executor"].submit(square, 3).result())
        app["executor"].shutdown()
"""
VERSIONS = ("Pool at import", "executor at import", "Pool per server worker")


def run_server(version, method):
    """Run SERVER as ``version`` under ``method``; its report as a dict."""
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "server.py").write_text(SERVER)
        done = subprocess.run(
            [sys.executable, "server.py", version],
            cwd=directory,
            env={**os.environ, "MPGUIDE_START_METHOD": method, "PYTHON_COLORS": "0"},
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    assert done.returncode == 0 and not done.stderr, done.stderr
    lines = (line.partition(": ") for line in done.stdout.splitlines())
    return {label: value for label, _, value in lines}


# %%
# Reproduce: a pool made when the application is loaded
# -----------------------------------------------------

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    reports = {version: run_server(version, method) for version in VERSIONS}
    preloaded = reports["Pool at import"]
    for label, value in preloaded.items():
        print(f"{label}: {value}")

# %%
# The server worker's request got nothing and gave up after its two seconds;
# without the bound it would wait for ever, as the reports' first requests
# did. The master's pool still works: nothing reached it. The result is the
# same under ``fork``, ``spawn`` and ``forkserver`` (this page's start method
# is the pool's): what fails is the server's ``fork()``, not the pool's start
# method.
#
# Why
# ---
# A ``Pool`` is three threads in the process that made it, besides its worker
# processes (``Pool.__init__`` in ``multiprocessing/pool.py``, 3.11 to 3.13):
# ``_handle_workers`` keeps the workers alive, ``_handle_tasks`` takes tasks
# from ``_taskqueue`` and writes them into the pipe the workers read, and
# ``_handle_results`` reads results and completes the waiting ``AsyncResult``.
# ``map_async`` (``Pool._map_async``) and ``apply_async`` only put the task on
# ``_taskqueue``, a ``queue.SimpleQueue``: a queue between threads, in the
# memory of one process. ``fork()`` copies that memory and only the thread
# that called it, as the threads line shows. So in the server worker the task
# lands in its copy of ``_taskqueue``, where no ``_handle_tasks`` will ever
# take it; ``_check_running`` raises nothing, since the copy's ``_state`` says
# the pool runs. The pool's workers, children of the master, see nothing: no
# task reaches their pipe, and they keep serving the master.
#
# A ``ProcessPoolExecutor`` fails the same way once the master has used it: its
# ``submit()`` queues the work item in ``_pending_work_items`` and
# ``_work_ids`` (a ``queue.Queue``), and only the executor's manager thread
# moves it to the workers (``_ExecutorManagerThread.add_call_item_to_queue``
# in ``concurrent/futures/process.py``, 3.11 to 3.13). ``submit()`` starts
# that thread only if the executor has none (``_start_executor_manager_thread``);
# the copy has the master's, which does not run in the server worker. The
# executor here has one worker, so that the server worker's ``submit()`` starts
# no worker of its own: under ``spawn`` and ``forkserver`` an executor starts
# workers on demand (``_adjust_process_count``), and under ``forkserver`` a
# server worker cannot start any, since the forkserver is the master's child
# and ``ForkServer.ensure_running`` raises ``ChildProcessError`` from its
# ``os.waitpid`` (3.11 to 3.13; the same holds for a ``Pool`` the server
# worker makes once the master has started the forkserver).

if __name__ == "__main__":
    executor = reports["executor at import"]
    print("executor at import, request:", executor["request"])
    print("the master's executor after:", executor["the master's executor after"])

# %%
# An executor the master has not used yet has neither thread nor workers, and
# its first ``submit()`` in a server worker starts them there; but its call
# and result queues, made by ``ProcessPoolExecutor.__init__``, are pipes that
# the master's copy and every server worker's copy share. That is no fix
# either.
#
# The fork also warns, in the master, from Python 3.12: ``os.fork()`` in a
# process with more than one thread issues
# ``DeprecationWarning: This process (pid=…) is multi-threaded, use of fork()
# may lead to deadlocks in the child.`` (:ref:`error-fork-with-threads`),
# recorded above with a warnings filter. Python's default filters show a
# ``DeprecationWarning`` only when the code that triggers it is in
# ``__main__``: a server that forks from a module of its own (gunicorn's
# arbiter) shows it only under ``-X dev`` or ``-W default``, and uWSGI, which
# forks in C, never issues it. On 3.11 there is no warning. The deadlock it
# warns about is the other way a pre-forked pool hangs: a lock that one of
# the pool's threads held at the moment of the fork stays locked in the
# server worker.
#
# Why the server worker ends with ``os._exit``
# --------------------------------------------
# The worker counts the master's pool workers as its own children (the line
# above): ``multiprocessing`` keeps the children of a process in a set
# (``process._children``), and ``fork()`` copied it. Its ``poll()`` cannot
# wait for a process that is not its child (``os.waitpid`` fails, and
# ``popen_fork.Popen.poll`` then answers "still running"). A normal exit runs
# ``multiprocessing.util._exit_function`` (registered with ``atexit``, 3.11 to
# 3.13), which calls ``terminate()`` for every daemonic child still running,
# so the server worker would send ``SIGTERM`` to the master's pool workers;
# its ``join()`` of them then fails with ``AssertionError: can only join a
# child process`` (:ref:`error-join-from-another-process`), and the copy of
# the pool, collected, warns
# ``ResourceWarning: unclosed running multiprocessing pool``. ``os._exit``
# runs none of that. (The pool's own clean-up, ``Pool._terminate_pool``, is a
# ``util.Finalize`` that does nothing in another process: ``Finalize.__call__``
# compares the process id.)
#
# Fix: make the pool in the server worker
# ---------------------------------------
# Make the pool after the fork, on the first request, once per process:
# ``pool_of_this_process`` in the program above keeps one pool per
# ``os.getpid()``. The master never makes one, so it has no pool threads when
# it forks. The servers have a switch that moves the whole application after
# the fork, the pool with it. uWSGI's `lazy-apps
# <https://uwsgi-docs.readthedocs.io/en/latest/Options.html#lazy-apps>`_
# option is to "Load apps in each worker instead of the master", and its
# article `The Art of Graceful Reloading
# <https://uwsgi-docs.readthedocs.io/en/latest/articles/TheArtOfGracefulReloading.html#preforking-vs-lazy-apps-vs-lazy>`_
# says that by default "uWSGI loads the whole application in the first process
# and after the app is loaded it does fork() itself multiple times", while
# "lazy-apps mode instead loads your application one time per worker".
# gunicorn's `preload_app
# <https://docs.gunicorn.org/en/stable/settings.html#preload-app>`_ setting
# (``--preload``, default ``False``) is to "Load application code before the
# worker processes are forked": leave it off. In uWSGI issue 1518,
# ``lazy-apps`` ended a pool's hang; in Flask issue 2654 and kobotoolbox/kpi
# issue 3566 it ended hangs of other state made in the master before the fork.

if __name__ == "__main__":
    lazy = reports["Pool per server worker"]
    for label, value in lazy.items():
        print(f"{label}: {value}")

# %%
# The server worker got its four squares from a pool of its own. A library
# that cannot wait for a request can instead drop an inherited pool in
# ``os.register_at_fork(after_in_child=...)``; keep the copy referenced,
# though: a collected copy runs ``Pool.__del__``, which warns and writes to a
# queue it shares with the master's pool (``_change_notifier``).
#
# What happened
# -------------

if __name__ == "__main__":
    hung = "TimeoutError after" in preloaded["request"]
    executor_hung = "TimeoutError after" in executor["request"]
    squares = str([n * n for n in range(4)])
    fixed = lazy["request"] == squares
    print(
        f"failure reproduced: {'yes' if hung and executor_hung else 'no'} (a Pool and "
        "a ProcessPoolExecutor made before the fork: no results in the server worker)"
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} (a pool made in the server worker "
        "on its first request: its results came)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A Pool made before the server forks",
        [
            Observation(
                label="Pool made at import",
                result="no results" if hung else "results",
                ok=not hung,
            ),
            Observation(
                label="ProcessPoolExecutor at import",
                result="no results" if executor_hung else "results",
                ok=not executor_hung,
            ),
            Observation(
                label="the master's pool after",
                result=preloaded["the master's pool after"],
                ok=None,
            ),
            Observation(
                label="Pool per server worker",
                result="results" if fixed else "no results",
                ok=fixed,
            ),
        ],
    )
    warning = "This process (pid=<pid>) is multi-threaded, use of fork() may lead"
    assert hung and executor_hung and fixed
    assert preloaded["the master's pool after"] == squares
    assert executor["the master's executor after"] == "9"
    assert preloaded["threads"].endswith(" 1 in the server worker")
    assert preloaded["the master's children, counted as the server worker's"] == "True"
    for report in (preloaded, executor):
        warned = report["warning at the fork"].startswith(warning)
        assert warned == (sys.version_info >= (3, 12)), report
    assert lazy["the master's children, counted as the server worker's"] == "False"
    assert lazy["warning at the fork"] == "none"
    assert not multiprocessing.active_children()
