"""
``terminate()`` stops the worker, not the programs it started
==============================================================

A worker starts programs of its own: a ``subprocess`` (a converter, a
browser, a server) or a ``multiprocessing.Process``. The parent calls
``worker.terminate()``: the worker is gone, and its children keep running,
now children of no one the program knows, until they end by themselves or
someone finds them. Under ``fork`` the parent's ``join(timeout)`` waits for
them too. This page reproduces it, finds the survivors by their pids and ends
them, and fixes it twice: the worker stops its children when it gets
``SIGTERM``, or the parent kills the worker's whole process group. POSIX
only: on Windows ``terminate()`` runs no handler and there is no
``os.killpg``.
"""

# %%
# Reproduce
# ---------
# The worker starts a program (a Python that sleeps) and a helper process, and
# sends their pids to the parent; the parent terminates the worker and looks
# for both pids.

import functools
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import wait

WAIT = 60  # seconds: how long the children would run; a bound no fix reaches
JOIN_WAIT = 2.0  # seconds the parent waits on the worker's sentinel after stopping it
LOOK_FOR = 1.0  # seconds the parent watches for the children to end
# How long a fix may take to stop everything (a handler runs Python, on a busy
# machine slowly): far less than WAIT, so that a fix that failed still shows.
FIX_WAIT = WAIT / 3
GRACE = 5.0  # seconds a child gets to end after SIGTERM, before SIGKILL


def is_running(pid):
    """Whether ``pid`` is a process that has not ended. An ended child nobody
    has waited for (a zombie) still has a pid: on Linux, /proc says so."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # ended just now, or no /proc (macOS)
        return not os.path.isdir("/proc")


def still_running(pids, seconds):
    """The pids still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while any(map(is_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if is_running(pid)]


def wait_for_exit(process, seconds):
    """The process's exit code, once it has one (``None`` after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while process.exitcode is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return process.exitcode


def exit_on_sigterm(owner_pid, signum, frame):
    """``SIGTERM`` as ``sys.exit()``, so that ``finally`` blocks run, in the
    process that set the handler only. A child forked later inherits the
    handler; in the child, ``SIGTERM`` ends it at once, as by default."""
    if os.getpid() != owner_pid:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(128 + signum)


def run_children(method, report, how_to_stop):
    """In the worker: start a program and a helper process, report their pids,
    wait. ``how_to_stop`` prepares the worker for one of the fixes."""
    if how_to_stop == "on SIGTERM":
        signal.signal(signal.SIGTERM, functools.partial(exit_on_sigterm, os.getpid()))
    elif how_to_stop == "as a group":
        os.setpgid(0, 0)  # a process group of its own, which its children join
    program = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({WAIT})"])
    helper = multiprocessing.get_context(method).Process(
        target=time.sleep, args=(WAIT,), daemon=True
    )
    helper.start()
    try:
        report.send([program.pid, helper.pid])
        time.sleep(WAIT)
    finally:  # runs on SystemExit, the handler's; SIGTERM's default kills at once
        program.terminate()
        helper.terminate()
        program.wait(WAIT)
        helper.join(GRACE)
        if helper.exitcode is None:  # its SIGTERM was lost: see Fix 1 below
            helper.kill()
            helper.join(WAIT)


def stop_a_worker(context, how_to_stop, join_wait=JOIN_WAIT, look_for=LOOK_FOR):
    """Start a worker with children, stop it, and say what was left: its exit
    code, whether its sentinel was ready within ``join_wait`` seconds, its
    children's pids, and those still running after up to ``look_for`` more."""
    reader, writer = context.Pipe(duplex=False)
    worker = context.Process(
        target=run_children, args=(context.get_start_method(), writer, how_to_stop)
    )
    worker.start()
    writer.close()
    pids = reader.recv() if reader.poll(WAIT) else []
    reader.close()
    if how_to_stop == "as a group":
        os.killpg(worker.pid, signal.SIGTERM)
    else:
        worker.terminate()
    # what join(timeout) waits for (Popen.wait in popen_fork.py)
    sentinel_ready = bool(wait([worker.sentinel], timeout=join_wait))
    exitcode = wait_for_exit(worker, WAIT)
    return exitcode, sentinel_ready, pids, still_running(pids, look_for)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    exitcode, sentinel_ready, pids, survivors = stop_a_worker(context, "terminate()")
    print("the worker's exit code after terminate():", exitcode)
    print("the program and the helper, by pid:", ", ".join(map(str, pids)))
    print(f"still running {LOOK_FOR:.0f} s later:", ", ".join(map(str, survivors)))
    print(f"the worker's sentinel ready within {JOIN_WAIT:.0f} s:", sentinel_ready)

# %%
# Nothing else will end them, so the page does, by pid, and checks that none is
# left.

if __name__ == "__main__":
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    left_after_cleanup = still_running(pids, WAIT)
    print("still running after the clean-up:", left_after_cleanup or "none")

# %%
# Why
# ---
# ``Process.terminate()`` sends ``SIGTERM`` to the worker's pid and nothing else
# (``Popen._send_signal`` in ``multiprocessing/popen_fork.py``, which the spawn
# and forkserver ``Popen`` classes inherit; 3.11 to 3.13). ``SIGTERM``'s default
# action ends the worker at once: no ``finally`` block, no ``atexit`` handler,
# not even ``multiprocessing``'s own clean-up, which would have terminated a
# daemonic helper. Its children do not get the signal; the system gives them a
# new parent (``init``, or on Linux the nearest process marked a "child
# subreaper"), and they run on. ``daemon=True`` does not help: it is a promise
# kept by the worker's clean-up at exit, which never runs.
#
# Under ``fork`` there is one more effect: the parent's ``join(timeout)`` waits
# for the worker's *sentinel*, the read end of a pipe whose write end the worker
# holds (``Popen._launch`` and ``Popen.wait`` in ``popen_fork.py``). A helper
# the worker forked holds a copy of that write end, so the sentinel stays open
# until the helper ends too: ``join(timeout)`` and
# ``multiprocessing.connection.wait`` on the sentinel wait out their timeout
# (the sentinel's state is printed above); a ``join()`` with no timeout waits
# for the worker's pid instead, and returns. A program started with
# ``subprocess`` holds no copy: ``Popen`` closes inherited
# file descriptors by default. Under spawn the helper is a new program that
# gets only the descriptors it needs, and under forkserver the sentinel is a
# socket on which the server writes the worker's exit code
# (``popen_forkserver.py``): either way it is ready when the worker ends.

# %%
# Fix 1: the worker stops its children on ``SIGTERM``
# ---------------------------------------------------
# A handler turns ``SIGTERM`` into ``sys.exit()``, so the worker's ``finally``
# block runs and terminates and waits for what it started. It cannot help
# against ``SIGKILL`` (``Process.kill()``), which no process can catch.
#
# The handler acts only in the worker. Under ``fork`` the helper inherits it,
# and the worker's ``helper.terminate()`` may reach the helper while it is still
# starting, inside an at-fork hook such as the one that reseeds ``random``. A
# ``SystemExit`` raised there is printed and ignored (``run_at_forkers`` in
# ``Modules/posixmodule.c``, 3.11 to 3.13), and the helper would run on. In any
# process but the worker, the handler restores ``SIGTERM``'s default and sends
# it again. A ``SIGTERM`` that reaches the helper even earlier, between the
# fork and the moment its interpreter resets its signal state, is lost: the
# interpreter drops the signals caught then, so that a signal meant for the
# parent is not handled twice (``_PySignal_AfterFork`` in
# ``Modules/signalmodule.c``, CPython issue 9535). Only a Python handler can
# lose it this way; ``SIGTERM``'s default action ends a process in the kernel.
# So the ``finally`` block gives each child ``GRACE`` seconds after
# ``terminate()``, then calls ``kill()``.
#
# Fix 2: kill the worker's process group
# --------------------------------------
# The worker first makes itself the leader of a new process group
# (``os.setpgid(0, 0)``); everything it starts then joins that group, and the
# parent signals the group, ``os.killpg(worker.pid, signal.SIGTERM)``. Under
# forkserver too: a worker that starts a process starts a forkserver of its
# own (it holds no connection to the server it came from), and that server, in
# the worker's group, forks the helper into it. This works even when the
# worker cannot run a handler. (``subprocess.Popen``'s
# ``process_group=0`` or ``start_new_session=True`` do the same for one
# program and its own children.)

if __name__ == "__main__":
    fixes = {}
    for how_to_stop in ("on SIGTERM", "as a group"):
        fixes[how_to_stop] = stop_a_worker(context, how_to_stop, FIX_WAIT, FIX_WAIT)
        exitcode, fixed_sentinel_ready, _, fixed_survivors = fixes[how_to_stop]
        print(f"stopped {how_to_stop}: the worker's exit code {exitcode},", end=" ")
        print(f"sentinel ready: {fixed_sentinel_ready},", end=" ")
        print("children still running:", ", ".join(map(str, fixed_survivors)) or "none")

# %%
# What happened
# -------------

if __name__ == "__main__":
    reproduced = len(pids) == 2 and survivors == pids and exitcode is not None
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (after terminate(), "
        f"{len(survivors)} of the worker's 2 children still ran)"
    )
    fixed = all(
        survivors == [] and sentinel for _, sentinel, _, survivors in fixes.values()
    )
    print(f"fix works: {'yes' if fixed else 'no'} (both fixes left no child running)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Children of a terminated worker",
        [
            Observation(
                label="terminate()",
                result=f"{len(survivors)} of 2 left running",
                ok=not survivors,
            ),
            Observation(
                label="handler for SIGTERM",
                result=f"{len(fixes['on SIGTERM'][3])} left",
                ok=fixed,
            ),
            Observation(
                label="killpg() the group",
                result=f"{len(fixes['as a group'][3])} left",
                ok=fixed,
            ),
        ],
    )
    assert reproduced and left_after_cleanup == []
    assert sentinel_ready == (context.get_start_method() != "fork")
    assert fixed
    sigterm_exit = 128 + signal.SIGTERM
    assert fixes["on SIGTERM"][0] == sigterm_exit
    assert fixes["as a group"][0] == -signal.SIGTERM
    assert not multiprocessing.active_children()
