"""
A parent that ignores ``SIGCHLD`` never learns that its workers ended
=====================================================================

Servers and daemons often set ``signal.signal(signal.SIGCHLD,
signal.SIG_IGN)`` so that children they start never linger as zombies, or
install a ``SIGCHLD`` handler that reaps every child that ends. In such a
process, under the ``fork`` and ``spawn`` start methods, multiprocessing
loses its own workers' exit statuses, all of them with ``SIG_IGN`` and some
with a reaping handler: with ``SIG_IGN`` a finished
``Process`` has ``exitcode`` ``None`` and ``is_alive()`` ``True`` for ever,
and a ``Pool`` that should replace the workers that retire never runs the
rest of its tasks (with a reaping handler, now and then). This page
reproduces both, shows why from CPython's code, fixes them by leaving
``SIGCHLD`` alone where workers start, and counts the zombies a program
sees until multiprocessing reaps them by itself. POSIX only: Windows has no
``SIGCHLD``.
"""

# %%
# Reproduce
# ---------
# A parent ignores ``SIGCHLD``, starts a process that returns at once and
# joins it; then it runs six tasks in a pool whose workers retire after one
# task each (``maxtasksperchild=1``), and gives the pool ``GIVE_UP`` seconds,
# where a few milliseconds are enough. That parent is a process of its own,
# started by this page's: the processes it loses stay in its
# ``active_children()`` for as long as it lives, and it reports how many.

import multiprocessing
import os
import signal
import time

WAIT = 5.0  # seconds: a bound on every wait that should end
GIVE_UP = 2.0  # seconds: the pool's tasks take milliseconds


def nothing():
    pass


def run_one_process_and_a_pool(context):
    """Join a process that returns at once, then run six tasks in a pool
    whose workers retire after one task each; return what was seen."""
    process = context.Process(target=nothing)
    process.start()
    began = time.monotonic()
    process.join(WAIT)
    joined_after = time.monotonic() - began
    seen = {
        "join() returned": joined_after < WAIT,
        "exitcode": process.exitcode,
        "is_alive()": process.is_alive(),
    }
    with context.Pool(2, maxtasksperchild=1) as pool:
        results = pool.map_async(abs, range(-6, 0), chunksize=1)
        try:
            seen["pool results"] = results.get(timeout=GIVE_UP)
        except multiprocessing.TimeoutError:
            seen["pool results"] = f"none in {GIVE_UP:.0f} s"
    return seen


def parent_that_ignores_sigchld(method, report):
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    seen = run_one_process_and_a_pool(multiprocessing.get_context(method))
    seen["left in active_children()"] = len(multiprocessing.active_children())
    report.send(seen)


def show(seen):
    for what, value in seen.items():
        print(f"  {what}: {value}")


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    reader, writer = context.Pipe(duplex=False)
    parent = context.Process(target=parent_that_ignores_sigchld, args=(method, writer))
    parent.start()
    writer.close()
    if not reader.poll(2 * WAIT + GIVE_UP):
        parent.terminate()
        raise TimeoutError("the parent that ignores SIGCHLD reported nothing")
    ignored = reader.recv()
    reader.close()
    parent.join(WAIT)
    print("with SIGCHLD ignored:")
    show(ignored)

# %%
# Why
# ---
# A parent learns how a child ended from ``waitpid()``, which also removes
# the zombie the ended child has left. With ``SIGCHLD`` set to ``SIG_IGN``,
# the kernel removes ended children itself, at once, and keeps no status:
# ``waitpid()`` for one of them fails with ``ECHILD`` ("No child processes";
# POSIX.1-2001, and Linux's ``wait(2)``). A handler that reaps every child
# (``os.waitpid(-1, os.WNOHANG)`` in a loop) races multiprocessing for each
# status: whichever calls ``waitpid()`` first gets it, so some exit codes are
# lost and some are not, and a pool stalls in one run and finishes in the
# next. Once no child is left at all, the handler's own next
# ``os.waitpid(-1, ...)`` raises ``ChildProcessError: [Errno 10] No child
# processes`` (``OSError`` on Python 2) out of whatever the main thread was
# doing (``start()``, ``join()``, ``AsyncResult.get()``): the message such
# programs report.
#
# - ``fork`` and ``spawn``: the worker is the parent's own child, and
#   ``Popen.poll`` asks ``os.waitpid(self.pid, flag)`` for its status; it
#   takes any ``OSError`` to mean that the child has not been created yet and
#   returns ``None`` (``multiprocessing/popen_fork.py``, whose ``Popen`` the
#   spawn one subclasses; 3.11 to 3.13). ``join(timeout)`` first waits for
#   the process's sentinel, which becomes readable when the child ends, then
#   polls; a ``join()`` with no timeout calls a blocking ``waitpid()``, which
#   fails with ``ECHILD`` once the child has ended. Either way it returns on
#   time, but ``exitcode`` stays ``None``, ``is_alive()`` stays ``True``
#   (``BaseProcess.is_alive`` in ``multiprocessing/process.py`` calls
#   ``poll()``), and the process stays in ``active_children()``, as do the
#   pool's two workers, whose ``join()`` fares no better. A ``Pool``
#   replaces a worker only once its ``exitcode`` is not ``None``
#   (``Pool._join_exited_workers`` in ``multiprocessing/pool.py``, 3.11 to
#   3.13): the two workers retire after their first task, none replaces them,
#   and the other four tasks are never run. Meanwhile the pool's
#   worker-handler thread keeps waking on the retired workers' sentinels, and
#   spins until the pool is terminated.
# - ``forkserver``: the workers are children of the fork server, which reaps
#   them in its main loop (its ``SIGCHLD`` handler only wakes that loop,
#   through ``signal.set_wakeup_fd``) and writes each exit code to the parent
#   through the worker's sentinel pipe; the parent's ``Popen.poll`` reads it
#   from there (``main`` in ``multiprocessing/forkserver.py`` and
#   ``Popen.poll`` in ``popen_forkserver.py``, 3.11 to 3.13). The parent's
#   ``SIGCHLD`` setting does not matter: this is one thing that works under
#   Python 3.14's default on Linux and breaks under ``fork`` and ``spawn``,
#   the defaults before it and on macOS.
#
# Under every start method the workers inherit ``SIG_IGN`` itself: a fork
# child copies it, ``exec`` keeps an ignored signal ignored in a spawned
# interpreter, and the fork server gives each child the dispositions it
# inherited when it was launched (``_serve_one``): under forkserver, what
# counts is the disposition at the first forkserver ``start()``, which
# launches the server. A worker that starts processes of its own under fork or
# spawn has the same problem with them (under forkserver it launches a fork
# server of its own, which reaps them).

# %%
# Fix: leave ``SIGCHLD`` alone in a process that starts workers
# -------------------------------------------------------------
# multiprocessing reaps its own children: ``start()`` and
# ``active_children()`` reap every ended process it started (``_cleanup`` in
# ``multiprocessing/process.py``, 3.11 to 3.13), and ``join()``,
# ``is_alive()`` and ``exitcode`` reap the one they are called on; a pool
# reaps each worker that exits while it runs (``Pool._join_exited_workers``)
# and the rest in ``terminate()`` or ``join()`` (``_terminate_pool``). The
# parent needs no ``SIGCHLD`` setting to keep zombies from piling up (the next
# section counts them). Put the default back (``signal.SIG_DFL``) before
# starting workers (under forkserver, before the first ``start()``), and keep
# it while they run, when a framework or a library changed it: the kernel
# looks at it when a child ends. A ``SIGCHLD`` handler whose job is
# to remove zombies can call
# ``multiprocessing.active_children()``, which reaps the ended processes
# multiprocessing started and keeps their exit codes; children the program
# starts by other means it reaps by pid (``os.waitpid(pid, os.WNOHANG)`` for
# each, and a ``subprocess.Popen`` with its own ``poll()``), never with
# ``-1``. Or use ``forkserver``, as this page's run under
# forkserver shows (see the start-method matrix). Cost: a process that has
# ended stays a zombie until the next of those calls that covers it, or until
# the program exits. Under
# ``fork``, Python 3.12 and later also warn here, in development mode
# (``-X dev``), that the pool forks its replacement workers from a process
# with threads: the pool's own (a ``DeprecationWarning``, gh-100228).

if __name__ == "__main__":
    print("with SIGCHLD at its default:")
    default = run_one_process_and_a_pool(context)
    show(default)

# %%
# Zombies: what multiprocessing reaps, and when
# ---------------------------------------------
# A process that has ended stays in the process table as a zombie (``Z`` in
# ``ps``) until its parent reaps it. With ``SIGCHLD`` at its default, the
# parent starts three processes, lets them end together once all three have
# started (a ``start()`` would reap one that ended before it), waits until
# each has ended without reaping any, and counts the zombies with ``ps``;
# then it calls ``active_children()`` and counts again.

import subprocess
from multiprocessing.connection import wait


def wait_for(go):
    go.wait(WAIT)


def states(pids):
    """Each listed pid's state letter from ps ('Z': a zombie); a reaped pid
    is not listed."""
    listing = subprocess.run(
        ["ps", "-o", "pid=", "-o", "stat=", "-p", ",".join(map(str, pids))],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return {int(pid): stat[0] for pid, stat in map(str.split, listing.splitlines())}


def zombies_until_reaped(context):
    go = context.Event()
    processes = [context.Process(target=wait_for, args=(go,)) for _ in range(3)]
    for process in processes:
        process.start()
    go.set()
    pids = [process.pid for process in processes]
    deadline = time.monotonic() + WAIT
    ended = wait([process.sentinel for process in processes], WAIT)
    while len(ended) < 3 and time.monotonic() < deadline:
        ended = wait([process.sentinel for process in processes], WAIT)
    # Under fork and spawn, an ended child's sentinel is readable a moment
    # before the child is a zombie.
    while set(states(pids).values()) - {"Z"} and time.monotonic() < deadline:
        time.sleep(0.01)
    zombies = list(states(pids).values()).count("Z")
    multiprocessing.active_children()
    return zombies, list(states(pids).values()).count("Z")


if __name__ == "__main__":
    zombies, zombies_after = zombies_until_reaped(context)
    print("zombies once the three had ended:", zombies)
    print("zombies after active_children():", zombies_after)

# %%
# Under ``fork`` and ``spawn`` the three stay zombies, each holding its pid,
# until one of the calls listed under the fix, or until the program exits
# (multiprocessing's exit handler joins every child). Dropping the
# ``Process`` objects changes nothing: multiprocessing keeps every process it
# started in a set until it has reaped it (``_children`` in
# ``multiprocessing/process.py``). So a program that starts processes in a
# loop and never joins them has at most the ones that ended since its last
# ``start()`` began. Under ``forkserver`` the fork server is their parent: it
# reaps each as it ends, before it writes the exit code that makes the
# sentinel readable, so the program has none to reap.

# %%
# What happened
# -------------

if __name__ == "__main__":
    lost = ignored["exitcode"] is None
    hung = ignored["pool results"] != [6, 5, 4, 3, 2, 1]
    print(
        f"failure reproduced: {'yes' if lost and hung else 'no'} (with SIGCHLD "
        f"ignored, a process that ended has exit code {ignored['exitcode']} and "
        f"is_alive() {ignored['is_alive()']}; the pool gave {ignored['pool results']})"
    )
    if method == "forkserver":
        print(
            "depends on the start method: forkserver workers are the fork "
            "server's children, and it reports their exit codes to the parent"
        )
    fixed = default == {
        "join() returned": True,
        "exitcode": 0,
        "is_alive()": False,
        "pool results": [6, 5, 4, 3, 2, 1],
    }
    print(
        f"fix works: {'yes' if fixed else 'no'} (with SIGCHLD at its default, "
        f"exit code {default['exitcode']}, the pool gave {default['pool results']})"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A parent that ignores SIGCHLD",
        [
            Observation(
                label="SIGCHLD ignored",
                result=f"exit code {ignored['exitcode']}, pool: {ignored['pool results']}",
                ok=not (lost or hung),
            ),
            Observation(
                label="SIGCHLD default",
                result=f"exit code {default['exitcode']}, pool: {default['pool results']}",
                ok=fixed,
            ),
        ],
    )
    assert ignored["join() returned"]
    assert lost == hung == (method != "forkserver")
    assert ignored["is_alive()"] == lost
    assert ignored["left in active_children()"] == (3 if lost else 0)
    assert parent.exitcode == 0
    assert fixed
    assert (zombies, zombies_after) == ((0 if method == "forkserver" else 3), 0)
    assert not multiprocessing.active_children()
