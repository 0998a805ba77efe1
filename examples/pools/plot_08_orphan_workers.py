"""
Workers that outlive their parent after ``kill -9``
===================================================

The main process was killed (``kill -9``, the kernel's out-of-memory killer, a
container runtime, a job scheduler), and its worker processes are still there,
holding memory, GPUs or ports, until someone kills them by hand. This page
starts a program with a ``Pool`` and two ``Process`` objects, kills it with
``SIGKILL``, and lists which of its processes are still running under the
start method in use. Then it fixes it in the workers: a parent-death signal
from the Linux kernel, or a thread that watches for the parent to go.
"""

# %%
# Reproduce
# ---------
# The program starts a ``Pool`` of two workers, a daemonic ``Process`` and a
# plain one (both sleep), prints their pids and waits. The page kills the
# program with ``SIGKILL``, waits ``SETTLE`` seconds, and lists every process
# the program started that is still running: they are all in the session it
# was started in (``start_new_session=True``). Then the page kills those by
# their pids, so that nothing is left, and the resource tracker last: once the
# others have ended, it unlinks the semaphores they registered and exits by
# itself (killed with them, it would leave those in ``/dev/shm``). (Each of
# the program's processes also ends by itself after a minute, ``LIFETIME``, in
# case the page is stopped half-way.)

import contextlib
import json
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAIT = 60  # seconds: a bound that a working run never reaches
SETTLE = 2.0  # seconds after the kill: a watchdog polling every 0.1 s is long done

PROGRAM = """
import ctypes, json, os, signal, sys, threading, time
import multiprocessing, multiprocessing.connection

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
LIFETIME = 60  # seconds: no process here outlives a page stopped half-way


def exit_with_parent_signal():
    # Linux only: the kernel sends SIGTERM to this process when the thread
    # that started it ends (here, with the whole parent process).
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before prctl()
        os._exit(1)


def exit_with_parent_polling():
    # POSIX: a process whose parent died is given another parent (init, or a
    # subreaper); a thread notices and ends the process.
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def exit_with_parent_sentinel():
    # Every start method and platform: multiprocessing gives each child a
    # sentinel that becomes ready when the process that started it ends.
    sentinel = multiprocessing.parent_process().sentinel

    def watch():
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


FIXES = {
    "none": lambda: None,
    "parent-death signal": exit_with_parent_signal,
    "getppid() polled": exit_with_parent_polling,
    "parent sentinel": exit_with_parent_sentinel,
}


def set_up(fix, ready):
    lifetime = threading.Timer(LIFETIME, os._exit, (0,))
    lifetime.daemon = True
    lifetime.start()
    FIXES[fix]()
    ready.put(os.getpid())


def sleep_guarded(fix, ready):
    set_up(fix, ready)
    time.sleep(LIFETIME)


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    fix, started = sys.argv[2], sys.argv[3]
    ready = context.SimpleQueue()
    pool = context.Pool(2, set_up, (fix, ready))
    workers = {child.pid for child in multiprocessing.active_children()}
    roles = {pid: "Pool worker" for pid in workers}
    if started == "a Pool and two Processes":
        daemonic = context.Process(target=sleep_guarded, args=(fix, ready), daemon=True)
        plain = context.Process(target=sleep_guarded, args=(fix, ready))
        daemonic.start()
        plain.start()
        roles |= {daemonic.pid: "daemonic Process", plain.pid: "Process"}
    assert {ready.get() for _ in roles} == set(roles)  # every guard is set up
    print(json.dumps(roles), flush=True)
    time.sleep(LIFETIME)
"""


def running(pid):
    """Whether ``pid`` is a process that runs (not gone, not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def session_processes(session):
    """The running processes of ``session`` (Linux: ``/proc``)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue  # gone
        if int(fields[3]) == session and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def kill_and_wait(pids):
    """SIGKILL each pid and wait until none runs."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + WAIT
    while any(running(pid) for pid in pids):
        assert time.monotonic() < deadline, "a process outlived SIGKILL"
        time.sleep(0.05)


def end_all(left):
    """End what ``left`` names: the resource tracker last, and by itself.

    Once every other process of the program has ended, the tracker unlinks the
    semaphores they registered and exits; killed with them, it would leave the
    semaphores behind (on Linux, in ``/dev/shm``) for good.
    """
    trackers = {pid for pid, name in left.items() if name == "resource tracker"}
    kill_and_wait(set(left) - trackers)
    deadline = time.monotonic() + WAIT
    while any(running(pid) for pid in trackers) and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_and_wait(trackers)


def kill_the_parent(program, fix, started="a Pool and two Processes"):
    """Start the program, SIGKILL it once its children run; return what it
    started and what still ran ``SETTLE`` seconds later, each by pid, named."""
    started = subprocess.Popen(
        [sys.executable, str(program), method, fix, started],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        ready, _, _ = select.select([started.stdout], [], [], WAIT)
        assert ready, f"the program printed nothing in {WAIT} s"
        roles = {
            int(pid): role for pid, role in json.loads(started.stdout.readline()).items()
        }
    finally:
        started.kill()
        started.wait(WAIT)
        started.stdout.close()
    time.sleep(SETTLE)
    left = {
        pid: roles.get(pid) or helper_name(pid) for pid in session_processes(started.pid)
    }
    end_all(left)
    return roles, left


def helper_name(pid):
    """What a process the program did not name is, from its command line."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    for helper in (b"resource_tracker", b"forkserver"):
        if helper in command:
            return helper.decode().replace("_", " ")
    return "another process"


def describe(left):
    """The processes left running, by what they are."""
    return ", ".join(sorted(left.values())) or "none"


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    workspace = tempfile.TemporaryDirectory()
    program = Path(workspace.name, "program.py")
    program.write_text(PROGRAM)
    roles, left = kill_the_parent(program, "none")
    print("started:", ", ".join(sorted(roles.values())))
    print("running after the parent's SIGKILL:", describe(left))
    pool_alone = describe(kill_the_parent(program, "none", "a Pool alone")[1])
    print("a Pool alone, running after the parent's SIGKILL:", pool_alone)

# %%
# Why
# ---
# ``SIGKILL`` ends a process at once: no ``atexit`` handler, no ``finally``
# runs. ``daemon=True`` acts only in such a handler: at a normal exit,
# ``multiprocessing.util._exit_function`` (registered with ``atexit``)
# terminates the daemonic children. No process learns of its parent's death
# unless it looks, and of the processes here only a ``Pool`` worker does, by
# way of its task pipe:
#
# - A ``Pool`` worker waits for its next task on a pipe, and each worker closes
#   its own copy of the pipe's write end at start (``worker()`` in
#   ``multiprocessing/pool.py``, 3.11 to 3.13). When the last copy closes, the
#   worker reads an end of file and exits. Under ``spawn`` and ``forkserver`` the
#   parent held the last one: the workers exit with it. Under ``fork`` they do
#   too when the program has only the pool (above, "a Pool alone"), but every
#   process forked *after* the pool (here the two ``Process`` objects; another
#   pool's workers would too) inherited a copy, and keeps the workers waiting.
# - A ``Process`` runs its own code; nothing in it watches the parent.
# - The helpers (the resource tracker, and the forkserver) end when the last
#   process holding their pipe ends: the orphans hold them, so they stay too.
#   The forkserver hands each child a copy of its "alive" pipe (``_serve_one``
#   in ``multiprocessing/forkserver.py``, 3.11 to 3.13), so a forkserver child
#   outliving the parent keeps the forkserver running.
#
# Fix: each child watches for its parent's death
# ----------------------------------------------
# The program above takes a ``fix``, which every worker (in the pool's
# ``initializer``) and every ``Process`` sets up first, before it tells the
# program it is ready:
#
# - ``parent-death signal``: ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` through
#   ``ctypes`` (Linux only): the kernel signals the process when its parent
#   *thread* ends, so a process started from a thread that ends early is
#   killed early too (``prctl(2)``).
# - ``getppid() polled``: a thread notices that the process got another
#   parent (POSIX).
# - ``parent sentinel``: a thread waits on
#   ``multiprocessing.parent_process().sentinel``, which becomes ready when the
#   process that started this one ends (every start method and platform). On
#   POSIX it is the read end of a pipe whose write end the parent holds
#   (``popen_fork.py``, ``popen_spawn_posix.py``, ``popen_forkserver.py``). Under
#   ``fork`` a child forked later holds a copy too, as with the pool's pipe: an
#   early child's sentinel is ready once the parent and the children forked
#   after it have ended. Here every child watches, so they end in turn.
#
# The first two watch the operating system's parent. A ``forkserver`` child's
# is the forkserver, which, as above, stays; only the sentinel watches the
# process that started it. The program here waits until every child has set up
# its guard before it can be killed: a child whose parent died before that
# would read the new parent in ``getppid()`` and watch it, while a sentinel
# would be ready at once.

FIXES = ("parent-death signal", "getppid() polled", "parent sentinel")

if __name__ == "__main__":
    fixed_runs = {fix: kill_the_parent(program, fix) for fix in FIXES}
    for fix, (_, fixed_left) in fixed_runs.items():
        print(f"with {fix}, running after the SIGKILL:", describe(fixed_left))

# %%
# What happened
# -------------

if __name__ == "__main__":
    workspace.cleanup()
    orphans = describe(left)
    print(f"failure reproduced: {'yes' if left else 'no'} (left running: {orphans})")
    sentinel_left = describe(fixed_runs["parent sentinel"][1])
    print(
        f"fix works: {'yes' if sentinel_left == 'none' else 'no'} (a thread waiting on "
        f"the parent's sentinel: left running: {sentinel_left})"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"Children of a killed {method} parent",
        [
            Observation(label="no guard", result=f"{len(left)} left running", ok=not left),
            *(
                Observation(
                    label=fix,
                    result=f"{len(fixed_runs[fix][1])} left running",
                    ok=not fixed_runs[fix][1],
                )
                for fix in FIXES
            ),
        ],
    )
    processes = "Process, daemonic Process"
    if method == "fork":
        assert orphans == f"Pool worker, Pool worker, {processes}", orphans
    elif method == "spawn":
        assert orphans == f"{processes}, resource tracker", orphans
    else:
        assert orphans == "Process, daemonic Process, forkserver, resource tracker"
    for fix in FIXES[:2]:
        fixed_left = describe(fixed_runs[fix][1])
        assert fixed_left == (orphans if method == "forkserver" else "none"), fixed_left
    assert sentinel_left == "none" and pool_alone == "none"
    assert not multiprocessing.active_children()
