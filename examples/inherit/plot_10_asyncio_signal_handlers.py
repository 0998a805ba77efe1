"""
An asyncio program's ``SIGTERM`` handler in its ``fork`` workers
================================================================

A service built on ``asyncio`` (a web application, a bot, a consumer) shuts
down cleanly on ``SIGTERM`` with ``loop.add_signal_handler``, and starts
workers with ``multiprocessing``. Under ``fork``, ``terminate()`` then no
longer stops a worker, a pool's ``terminate()`` (and so the end of a ``with
Pool()`` block) waits for ever if any of its workers is running a task when
it is called, and up to Python 3.11 the ``SIGTERM`` sent to a worker runs the
service's own shutdown, in the service. This page reproduces
all three, shows why from CPython's code, and fixes them. POSIX only: Windows
has no ``fork`` and no ``add_signal_handler``. A handler installed with
``signal.signal`` is inherited too, and runs in the worker:
:ref:`sphx_glr_gallery_inherit_plot_08_signal_handler_in_workers.py`.
"""

# %%
# Reproduce
# ---------
# The service is a program of its own, so that its signal handlers and its
# event loop are its alone (this page may itself run inside an event loop, in
# a notebook). Its ``SIGTERM`` handler, which stands for its shutdown,
# records each call. From the running loop it starts a worker and terminates
# it, then starts a pool of two, and terminates it while each worker runs a
# task of ``GRACE`` seconds (a ``terminate()`` to cancel work, or an error
# that leaves a ``with Pool()`` block); each wait has a time limit, after
# which the service kills what is left.
# The page runs it under the start method it was given, and prints what the
# service printed.

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

GRACE = 1.0  # seconds: how long a terminated worker gets to end; a pool task's length
WAIT = 60  # seconds: a bound on waits that take milliseconds

SERVICE = f"""
import asyncio, multiprocessing, os, signal, sys, threading, time


def forget_the_loops_signals():
    \"\"\"First thing in a worker: SIGTERM's and SIGINT's own handling is back,
    and no signal is written to the parent's event loop.\"\"\"
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def wait_in_worker(ready, fixed):
    if fixed:
        forget_the_loops_signals()
    ready.set()
    time.sleep({WAIT})


running = None  # in a pool worker: the semaphore its tasks release


def start_pool_worker(semaphore, fixed):
    global running
    if fixed:
        forget_the_loops_signals()
    running = semaphore


def task(seconds):
    running.release()
    time.sleep(seconds)


async def until(condition, seconds):
    \"\"\"Whether condition() came true within seconds; the loop keeps running.\"\"\"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return False


async def terminate_a_worker(context, fixed):
    ready = context.Event()
    worker = context.Process(target=wait_in_worker, args=(ready, fixed))
    worker.start()
    assert await until(ready.is_set, {WAIT})
    worker.terminate()
    if await until(lambda: not worker.is_alive(), {GRACE}):
        print("Process.terminate(): the worker ended, exit code", worker.exitcode)
    else:
        print("Process.terminate(): the worker still runs {GRACE} s later")
        worker.kill()
        worker.join()


async def terminate_a_pool(context, fixed):
    tasks_running = context.Semaphore(0)
    pool = context.Pool(2, initializer=start_pool_worker, initargs=(tasks_running, fixed))
    pool.map_async(task, [{GRACE}] * 2, chunksize=1)
    for _ in range(2):
        assert await until(lambda: tasks_running.acquire(False), {WAIT})
    workers = multiprocessing.active_children()
    stopping = threading.Thread(target=pool.terminate)  # a thread, to time it
    stopping.start()
    if await until(lambda: not stopping.is_alive(), 3 * {GRACE}):
        print("Pool.terminate(): returned")
    else:
        print("Pool.terminate(): still waits {3 * GRACE} s later, its tasks took {GRACE} s")
        for worker in workers:
            worker.kill()
        stopping.join()
    pool.join()


async def service(context, fixed):
    shutdowns = []
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, shutdowns.append, "SIGTERM")
    await terminate_a_worker(context, fixed)
    await terminate_a_pool(context, fixed)
    await asyncio.sleep(0.1)  # the loop reads any signal still in its pipe
    print("the service's own SIGTERM handler ran:", len(shutdowns), "times")


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    asyncio.run(service(context, fixed=sys.argv[1:] == ["fixed"]))
"""


def run_service(method, *arguments):
    """Run the service under ``method``; return what it printed, as
    ``{what: observation}``. A service that outlives ``WAIT`` is killed with
    its workers, and the run fails saying so."""
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "service.py").write_text(SERVICE)
        service = subprocess.Popen(
            [sys.executable, "service.py", *arguments],
            cwd=directory,
            env={**os.environ, "MPGUIDE_START_METHOD": method},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own group, to kill with its workers
        )
        try:
            stdout, stderr = service.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, signal.SIGKILL)
            service.communicate()
            raise RuntimeError(f"the service did not end within {WAIT} s") from None
    assert service.returncode == 0, stderr
    print(stdout, end="")
    return dict(line.split(": ", 1) for line in stdout.splitlines())


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    print("Python", sys.version.split()[0])
    seen = run_service(method)

# %%
# Why
# ---
# ``loop.add_signal_handler`` does two things
# (``_UnixSelectorEventLoop.add_signal_handler`` in
# ``asyncio/unix_events.py``, 3.11 to 3.13): it makes one end of the loop's
# socket pair the process's *wakeup fd* (``signal.set_wakeup_fd``), and it
# installs a Python handler that does nothing (``_sighandler_noop``). When a
# signal arrives, the interpreter's C handler writes the signal's number to
# the wakeup fd (``trip_signal`` in ``Modules/signalmodule.c``); the loop
# reads it from the other end (``_read_from_self`` in
# ``asyncio/selector_events.py``) and runs the callback
# (``_process_self_data`` in ``asyncio/unix_events.py``). A ``fork`` worker is
# a copy of the service: it has the same handler, and the same socket, shared
# with the parent.
#
# - ``terminate()`` sends ``SIGTERM`` (``Popen._send_signal`` in
#   ``multiprocessing/popen_fork.py``). In a ``fork`` worker the do-nothing
#   handler catches it, and the worker goes on: the signal is ignored.
# - ``Pool.terminate()``, which the end of a ``with`` block calls
#   (``Pool.__exit__``), first takes the lock that a worker must hold to read
#   its next task, and never gives it back (``_help_stuff_finish``); it then
#   sends ``SIGTERM`` to each worker and joins each with no time limit
#   (``_terminate_pool`` in ``multiprocessing/pool.py``, 3.11 to 3.13). A
#   worker that ignores the signal finishes its task and waits for that lock:
#   the join, and the pool's ``terminate()``, wait for ever. Workers idle at
#   that moment are blocked reading the task queue, one of them holding the
#   lock, and the parent's ``acquire()`` competes with them for it: each idle
#   worker that gets the lock before the parent reads the ``None`` that the
#   pool's task handler sends every worker when it stops, and exits with code
#   0. A worker still running its task once the parent holds the lock never
#   gets its ``None``. If every worker is busy, as here, that happens every
#   time; if some are idle, a task that ends within a millisecond or two can
#   still win the race. The same wait can come later: when a pool that was
#   never terminated is garbage-collected, or at exit, where
#   multiprocessing's exit handler runs the pool's finalizer
#   (``_terminate_pool``) and then sends ``SIGTERM`` to every daemon child
#   and joins each with no time limit (``_exit_function`` in
#   ``multiprocessing/util.py``).
# - Up to 3.11, the worker's C handler writes the signal's number to the
#   socket it shares with the service, and the service's loop runs its
#   shutdown callback, once per worker signalled. From 3.12.0, asyncio resets
#   the wakeup fd in every ``os.fork()`` child of a process that has imported
#   it (``on_fork`` in ``asyncio/events.py``, gh-66285; not in 3.11), so the
#   service is safe; the worker keeps the do-nothing handler, and the first
#   two failures remain.
# - ``asyncio.run``, called in the main thread with ``SIGINT``'s default
#   handler in place, installs a ``SIGINT`` handler of its own with
#   ``signal.signal`` (``Runner.run`` in ``asyncio/runners.py``, 3.11 to
#   3.13), and a ``fork`` worker inherits it. A first ``Ctrl+C``, which goes
#   to every process of the terminal's foreground group, only asks for the
#   worker's copy of the main task to be cancelled; the worker never runs that
#   task, so it carries on, and only a second ``Ctrl+C`` raises
#   ``KeyboardInterrupt`` in it.
# - Under ``spawn`` a worker is a new interpreter. Under ``forkserver`` it is
#   forked from the fork server, a new interpreter that never ran the
#   service's loop, and that puts the handlers it changed for itself back in
#   each child (``_serve_one`` in ``multiprocessing/forkserver.py``). Either
#   way the worker has ``SIGTERM``'s default action and no wakeup fd:
#   ``terminate()`` kills it, exit code ``-15``. ``forkserver`` is the default
#   from Python 3.14 on Linux and the other POSIX systems but macOS, which
#   defaults to ``spawn``.

# %%
# Fix: give the worker its own signal handling back
# -------------------------------------------------
# First thing in the worker (the target's first lines, or the pool's
# ``initializer``), ``forget_the_loops_signals()`` in the service above puts
# back ``SIGTERM``'s default action and ``SIGINT``'s ``KeyboardInterrupt``
# (what a ``spawn`` worker has), and stops the signals' writes to the parent's
# socket: three calls, listed in it. A service started with ``SIGINT`` ignored
# (a command started with ``&`` from a script) gets no handler from
# ``asyncio.run``: record ``signal.getsignal(signal.SIGINT)`` before
# ``asyncio.run`` and restore that instead. Add any other signal the service
# hands to its loop. Until those lines have run, the worker still ignores
# ``SIGTERM`` (and up to 3.11 passes it to the service), which is why the
# service waits for its workers to have started. A start method that does not
# fork the service has no such window:
# ``multiprocessing.get_context("forkserver")`` (or ``"spawn"``) for the
# workers of an asyncio program. Cost: three calls per worker; a worker that
# starts a new interpreter takes longer to start, as
# :ref:`sphx_glr_gallery_start_methods_plot_06_start_cost.py` measures.

if __name__ == "__main__":
    fixed = run_service(method, "fixed")

# %%
# What happened
# -------------

if __name__ == "__main__":
    worker = seen["Process.terminate()"]
    pool = seen["Pool.terminate()"]
    shutdowns = int(seen["the service's own SIGTERM handler ran"].split()[0])
    ignored = worker.startswith("the worker still runs")
    hung = pool.startswith("still waits")
    print(
        f"failure reproduced: {'yes' if ignored and hung else 'no'} (a terminated "
        f"worker: {worker}; a terminated pool: {pool}; the service's shutdown "
        f"ran {shutdowns} times)"
    )
    if method != "fork":
        print(
            "depends on the start method: spawn and forkserver workers are not "
            "forked from the service, and start with SIGTERM's default action"
        )
    works = fixed == {
        "Process.terminate()": f"the worker ended, exit code {-signal.SIGTERM}",
        "Pool.terminate()": "returned",
        "the service's own SIGTERM handler ran": "0 times",
    }
    print(
        f"fix works: {'yes' if works else 'no'} (a terminated worker: "
        f"{fixed['Process.terminate()']}; a terminated pool: "
        f"{fixed['Pool.terminate()']})"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "An asyncio service's SIGTERM handler in its workers",
        [
            Observation(
                label="inherited",
                result=f"worker: {worker}; pool: {pool}",
                ok=not (ignored or hung),
            ),
            Observation(
                label="reset in the worker",
                result=f"worker: {fixed['Process.terminate()']}",
                ok=works,
            ),
        ],
    )
    forked = method == "fork"
    assert ignored == hung == forked
    assert shutdowns == (3 if forked and sys.version_info < (3, 12) else 0)
    if not forked:
        assert worker == f"the worker ended, exit code {-signal.SIGTERM}"
    assert works
    assert not multiprocessing.active_children()
