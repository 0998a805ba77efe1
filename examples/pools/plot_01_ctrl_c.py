"""
Ctrl-C during ``Pool.map`` and ``ProcessPoolExecutor.map``
==========================================================

You press Ctrl-C while a pool is working. With ``multiprocessing.Pool`` the
program stops, with the parent's ``KeyboardInterrupt`` traceback and one from
each worker that prints before ``terminate()`` kills it (under ``spawn``,
often none); it hangs if the signal reaches another thread of the parent
(shown below). With
``concurrent.futures.ProcessPoolExecutor`` nothing seems to happen: the
program goes on until the tasks already handed to the workers have finished.
This page presses Ctrl-C for real, as a terminal does (``SIGINT`` to every
process of the foreground process group), on six small programs, and shows
what the parent and the workers receive, which programs end, and what is
left running; why the usual advice for ``Pool`` does not stop an executor;
and a fix for each kind of pool.
"""

# %%
# The programs
# ------------
# Each task prints a line as it starts, then sleeps for a minute. The
# variants differ in the pool, in how its workers treat ``SIGINT`` (as Python
# does by default: raise ``KeyboardInterrupt``; ignore it, ``SIG_IGN``; or
# end the process, the operating system's default action, ``SIG_DFL``), and in
# how the parent waits. The page writes the program to a temporary directory
# and runs each variant as a separate program in a new session, so that it
# has a process group of its own, as a program started from a shell has.

import contextlib
import multiprocessing
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAM = """
import multiprocessing, os, signal, sys, time
from concurrent.futures import ProcessPoolExecutor, wait


def slow_square(item):
    print(f"task {item} started", flush=True)
    time.sleep(60)
    return item * item


def ignore_sigint():  # a Pool's workers: the parent decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def end_on_sigint():  # an executor's workers: Ctrl-C ends them
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sigint_to_another_thread():  # forces the case a blocking wait loses
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def pool_plain(context):
    with context.Pool(2) as pool:
        pool.map(slow_square, range(8), chunksize=1)


def executor_plain(context):
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        list(executor.map(slow_square, range(8)))


def executor_ignoring(context):
    executor = ProcessPoolExecutor(2, mp_context=context, initializer=ignore_sigint)
    try:
        list(executor.map(slow_square, range(8)))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def pool_blocking(context):
    with context.Pool(2, initializer=ignore_sigint) as pool:
        sigint_to_another_thread()
        result = pool.map_async(slow_square, range(8), chunksize=1)
        result.get()  # as pool.map() waits


def pool_fixed(context):
    with context.Pool(2, initializer=ignore_sigint) as pool:
        sigint_to_another_thread()
        result = pool.map_async(slow_square, range(8), chunksize=1)
        while not result.ready():
            result.wait(0.2)  # returns, so Python can raise KeyboardInterrupt
        return result.get()


def executor_fixed(context):
    with ProcessPoolExecutor(2, mp_context=context, initializer=end_on_sigint) as executor:
        futures = [executor.submit(slow_square, item) for item in range(8)]
        sigint_to_another_thread()
        while wait(futures, timeout=0.2).not_done:
            pass
        return [future.result() for future in futures]


if __name__ == "__main__":
    # Ctrl-C raises KeyboardInterrupt, as in a program started from a terminal,
    # even if this one was started with SIGINT ignored (a shell's background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    globals()[sys.argv[1]](context)
"""

VARIANTS = (
    "pool_plain",
    "executor_plain",
    "executor_ignoring",
    "pool_blocking",
    "pool_fixed",
    "executor_fixed",
)
BUSY = 2  # tasks started (both workers busy) before Ctrl-C
WAIT = 2.0  # seconds without an exit: those that exit need well under 0.5 s

# %%
# Pressing Ctrl-C
# ---------------
# All six programs run at once. Once each has printed two ``task ... started``
# lines (both workers busy), the page sends ``SIGINT`` to each program's whole
# process group with ``os.killpg``, as the terminal does on Ctrl-C, then
# waits until every program has ended, or none has ended for ``WAIT``
# seconds (a quiet time rather than a fixed one, so that a busy machine,
# which slows the programs that do end, does not make them look stuck). It
# lists the live processes of each group before Ctrl-C and at the
# end of the wait, by role: the main program, its workers, and the helpers
# the start method adds (the ``forkserver`` process under forkserver, the
# resource tracker under spawn and forkserver). Whatever is still running
# then is killed with ``SIGKILL``, the resource trackers last: once the rest
# of its program has ended, a tracker unlinks the semaphores they registered
# and exits by itself (killed with them, it would leave those in ``/dev/shm``).


def start(variant, method, directory):
    env = {**os.environ, "MPGUIDE_START_METHOD": method, "PYTHON_COLORS": "0"}
    return subprocess.Popen(
        [sys.executable, "program.py", variant],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, led by the program
    )


def wait_until_busy(programs, timeout=60):
    """Read each program's output until BUSY tasks have started; return it."""
    seen = {variant: b"" for variant in programs}
    with selectors.DefaultSelector() as selector:
        for variant, program in programs.items():
            selector.register(program.stdout, selectors.EVENT_READ, variant)
        deadline = time.monotonic() + timeout
        while any(out.count(b"started") < BUSY for out in seen.values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"tasks did not start within {timeout} s: {seen}")
            for key, _ in selector.select(timeout=1):
                chunk = os.read(key.fileobj.fileno(), 4096)
                seen[key.data] += chunk
                if not chunk:
                    raise RuntimeError(f"{key.data} ended before its tasks started")
    return seen


def process_table():
    """(pid, parent pid, process group, state, command) of every process: read
    from ``/proc`` on Linux, from ``ps`` elsewhere (macOS)."""
    rows = []
    if Path("/proc/self/stat").exists():
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:  # it ended meanwhile
                continue
            state, ppid, pgid = stat[stat.rindex(")") + 2 :].split()[:3]
            rows.append((int(entry.name), int(ppid), int(pgid), state, command.decode()))
        return rows
    listing = subprocess.run(
        ["ps", "-A", "-ww", "-o", "pid=,ppid=,pgid=,stat=,args="],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    for line in listing.splitlines():
        pid, ppid, pgid, state, command = line.split(None, 4)
        rows.append((int(pid), int(ppid), int(pgid), state, command))
    return rows


def live_processes(groups):
    """The live processes of each process group, by role."""
    roles = {group: [] for group in groups}
    for pid, ppid, group, state, command in process_table():
        if group not in roles or state.startswith("Z"):  # Z: ended, not yet reaped
            continue
        if pid == group:
            roles[group].append("main program")
        elif "resource_tracker" in command:
            roles[group].append("resource tracker")
        elif "forkserver" in command and ppid == group:
            roles[group].append("forkserver")
        else:
            roles[group].append("worker")
    return roles


def end_all(groups, timeout=60):
    """SIGKILL what still runs in ``groups``, the resource trackers last.

    Once every other process of its program has ended, a tracker unlinks the
    semaphores they registered and exits by itself; killed with them, it
    would leave those behind (on Linux, in ``/dev/shm``) for good.
    """
    for pid, _, group, state, command in process_table():
        tracker = "resource_tracker" in command
        if group in groups and not state.startswith("Z") and not tracker:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(live_processes(groups).values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for group, roles in live_processes(groups).items():
        if roles:
            os.killpg(group, signal.SIGKILL)


def describe(roles):
    if not roles:
        return "none"
    counts = {role: roles.count(role) for role in dict.fromkeys(sorted(roles))}
    return ", ".join(f"{n} {role}s" if n > 1 else role for role, n in counts.items())


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    directory = tempfile.TemporaryDirectory()
    Path(directory.name, "program.py").write_text(PROGRAM)
    programs = {variant: start(variant, method, directory.name) for variant in VARIANTS}
    try:
        before_output = wait_until_busy(programs)
        groups = [program.pid for program in programs.values()]
        before = live_processes(groups)
        for program in programs.values():
            os.killpg(program.pid, signal.SIGINT)  # Ctrl-C
        pressed = last_exit = time.monotonic()
        exited_after = {}
        while len(exited_after) < len(programs) and time.monotonic() < last_exit + WAIT:
            for variant, program in programs.items():
                if variant not in exited_after and program.poll() is not None:
                    last_exit = time.monotonic()
                    exited_after[variant] = last_exit - pressed
            time.sleep(0.01)
        quiet = time.monotonic() - last_exit
        left = live_processes(groups)
    finally:
        end_all([program.pid for program in programs.values()])
        outputs = {variant: p.communicate(timeout=60) for variant, p in programs.items()}
        directory.cleanup()
    print(f"Ctrl-C sent to {len(programs)} programs, each with {BUSY} tasks running;")
    print(f"{len(exited_after)} exited, then none for {quiet:.1f} s")

# %%
# Reading what each program printed: the parent's traceback passes through
# the variant's own function, whose line the page shows; a worker's traceback
# starts with ``Process <name>:``
# (written by ``BaseProcess._bootstrap`` in ``multiprocessing/process.py``
# for a process ended by an exception, CPython 3.11 to 3.13).


def report(variant):
    """What one program did, as a dict, and printed as lines."""
    out, err = (stream.decode(errors="replace") for stream in outputs[variant])
    started = (before_output[variant] + out.encode()).count(b"started")
    parent = re.search(rf"line \d+, in {variant}\n\s*(.+?)(?:  #.*)?\n", err)
    facts = {
        "before": describe(before[programs[variant].pid]),
        "parent": parent.group(1) if parent else None,
        "worker tracebacks": len(re.findall(r"^Process \S+:$", err, re.M)),
        "tasks started after Ctrl-C": started - BUSY,
        "exited": variant in exited_after,
        "left": describe(left[programs[variant].pid]),
    }
    print(f"{variant}:")
    print("  processes before Ctrl-C:", facts["before"])
    print(
        "  parent's traceback:",
        f"KeyboardInterrupt in {facts['parent']}" if facts["parent"] else "none yet",
    )
    print("  worker tracebacks:", facts["worker tracebacks"])
    print("  tasks started after Ctrl-C:", facts["tasks started after Ctrl-C"])
    if facts["exited"]:
        status = programs[variant].returncode
        print(f"  exited {exited_after[variant]:.2f} s after Ctrl-C, status {status}")
    else:
        print("  still running at the end of the wait")
    print("  processes left then:", facts["left"])
    return facts


# %%
# ``Pool``: it usually stops, with a traceback from each worker
# -------------------------------------------------------------

if __name__ == "__main__":
    pool_plain = report("pool_plain")

# %%
# Every process in the group gets ``SIGINT``. The parent is waiting in
# ``pool.map``, which is ``_map_async(...).get()`` (``Pool.map`` in
# ``multiprocessing/pool.py``, CPython 3.11 to 3.13): a wait on a
# ``threading.Event`` without a timeout. When the main thread takes the
# signal, that wait is interrupted and the parent raises ``KeyboardInterrupt``
# at once (the ``with`` block then calls ``terminate()``); when another
# thread takes it, see the blocking wait below.
# Each worker raises ``KeyboardInterrupt`` too, in the middle of its task;
# the pool's worker loop (``worker`` in ``multiprocessing/pool.py``) catches
# only ``Exception``, so the worker process ends and prints its traceback,
# unless ``terminate()`` kills it first: how many of those tracebacks reach
# the terminal varies from run to run. An exit status of -2 means that the
# program ended by ``SIGINT``, as Python does after an uncaught
# ``KeyboardInterrupt``; the programs below that block ``SIGINT`` in their
# main thread exit with status 130 (128 + 2) instead. The start method's
# helpers ignore ``SIGINT`` (``main`` in ``multiprocessing/forkserver.py`` and
# in ``multiprocessing/resource_tracker.py``, CPython 3.11 to 3.13) and end
# once the program has ended: none is left.
#
# ``ProcessPoolExecutor``: Ctrl-C seems to do nothing
# ---------------------------------------------------

if __name__ == "__main__":
    executor_plain = report("executor_plain")

# %%
# The parent raises ``KeyboardInterrupt`` too, but leaving the ``with`` block
# calls ``shutdown(wait=True)``, which waits for the work already handed to
# the workers; the traceback appears only when that wait ends. The workers
# do not end: the executor's worker loop (``_process_worker`` in
# ``concurrent/futures/process.py``, CPython 3.11 to 3.13) catches
# ``BaseException`` around each task, ``KeyboardInterrupt`` included, sends
# it back as that task's result, and takes the next task from its call
# queue. The executor moves up to ``max_workers + 1`` tasks into that queue
# (``EXTRA_QUEUED_CALLS = 1``) and marks them running, so they cannot be
# cancelled: the line above counts the ones that started after Ctrl-C, and
# each runs for its full minute. ``Executor.map`` cancels only the tasks not
# yet queued (its ``result_iterator`` in ``concurrent/futures/_base.py``);
# tasks sent with ``submit()`` would all run, as ``shutdown()`` without
# ``cancel_futures=True`` cancels none.
#
# Ignoring ``SIGINT`` in the workers does not stop an executor
# ------------------------------------------------------------
# The usual advice for ``Pool``: an ``initializer`` makes the workers ignore
# ``SIGINT`` (``signal.SIG_IGN``), and the parent cleans up in a ``finally``,
# here with ``shutdown(wait=False, cancel_futures=True)``.

if __name__ == "__main__":
    executor_ignoring = report("executor_ignoring")

# %%
# The parent prints its traceback (when it receives the signal), but the
# program does not end: the running tasks go on, since their workers ignore
# the signal, and the interpreter, on its way out, waits for the executor's
# thread (``_python_exit`` in ``concurrent/futures/process.py``), which waits
# for them. ``cancel_futures=True`` cancels only the tasks the executor has not
# yet moved to its call queue: the one already queued there is marked running
# (``add_call_item_to_queue``) and still starts when a worker is free, so this
# program runs for about two task lengths after Ctrl-C; and
# ``ProcessPoolExecutor`` has no public way to stop a running task before
# Python 3.14, which adds ``terminate_workers()`` and ``kill_workers()``
# (CPython gh-128041).
#
# A wait without a timeout can miss Ctrl-C
# ----------------------------------------
# A signal sent to a process is delivered to any one of its threads that does
# not block it (POSIX leaves the choice to the system; Linux prefers the main
# thread unless that thread blocks the signal or already has one pending),
# and a pool's parent
# has several: ``Pool`` runs three (``_handle_workers``, ``_handle_tasks``,
# ``_handle_results``), an executor two (its manager thread and a queue's
# feeder thread). Python's low-level handler only sets a flag; the Python
# handler, which raises ``KeyboardInterrupt``, runs in the main thread when
# that thread next executes Python code (the ``signal`` module's
# documentation: "Execution of Python signal handlers", "Signals and
# threads"). When another thread took the signal, a main thread blocked in a
# wait without a timeout is not woken: it raises only when the wait ends by
# itself, here when the whole ``map`` has finished. The next two programs make
# it happen every time by blocking ``SIGINT`` in their main thread once the pool and
# its threads are running (``sigint_to_another_thread``). Their workers
# ignore ``SIGINT``, and this one waits as ``pool.map`` does:

if __name__ == "__main__":
    pool_blocking = report("pool_blocking")

# %%
# No traceback, nothing ended. A wait that returns now and then, such as
# ``result.wait(0.2)`` in a loop, gives the main thread the chance to run the
# handler: that is the fix below, tried in the same forced case.
#
# The fix for ``Pool``: workers ignore ``SIGINT``, the parent polls
# -----------------------------------------------------------------
# The workers ignore ``SIGINT``, so only the parent reacts to Ctrl-C; the
# parent waits in steps of 0.2 s; leaving the ``with`` block calls
# ``terminate()``, which ends the workers with ``SIGTERM`` (without a ``with``
# block, call ``pool.terminate()`` in a ``finally``).

if __name__ == "__main__":
    pool_fixed = report("pool_fixed")

# %%
# The fix for an executor: let Ctrl-C end the workers
# ---------------------------------------------------
# An ``initializer`` restores the operating system's default action,
# ``signal.signal(signal.SIGINT, signal.SIG_DFL)``: Ctrl-C ends each worker at
# once, without a traceback. The executor notices that its workers died, marks
# itself broken, fails every unfinished future with ``BrokenProcessPool``
# and stops the other workers (``terminate_broken`` in
# ``concurrent/futures/process.py``), so ``shutdown()`` returns at once. The
# parent waits with ``concurrent.futures.wait(futures, timeout=0.2)`` in a
# loop; this program too blocks ``SIGINT`` in its main thread. A task ended
# this way runs no ``finally`` or ``with`` cleanup, exactly as with
# ``terminate()`` on a ``Pool``; a task that must clean up has to watch a
# flag the parent sets instead.

if __name__ == "__main__":
    executor_fixed = report("executor_fixed")

# %%
# On Windows (not run here)
# -------------------------
# This page runs on Linux; what follows comes from CPython's source and
# tracker, not from a run. A console sends Ctrl-C to every process attached to
# it, and the system runs the handler in a new thread of each (Microsoft's
# "CTRL+C and CTRL+BREAK Signals"): a pool's workers, which ``spawn`` starts
# in the same console (``creationflags`` 0 in ``popen_spawn_win32.py``, 3.11
# to 3.13), get it too. In the parent, Python's handler sets the flag, as on
# Linux (and, on Windows, an event for Ctrl-C), but the main thread is never
# the one that took the signal, so the case forced above is the usual one; and
# a wait on a ``threading`` lock does not end for Ctrl-C on Windows before
# Python 3.14: the ``_thread`` documentation of 3.13 says lock acquisition
# "can be interrupted on POSIX, but not on Windows" (backported to the 3.13
# branch after 3.13.0; CPython gh-74157, gh-80116 for
# ``threading.Event.wait``, gh-82609 for ``Pool``). ``pool.map`` and
# ``result.get()`` wait on such a lock: ``ApplyResult.wait`` calls
# ``threading.Event.wait``, whose ``Condition.wait`` calls
# ``waiter.acquire()`` with no timeout (``multiprocessing/pool.py`` and
# ``threading.py``, 3.11 to 3.13). With workers that ignore ``SIGINT``, Ctrl-C
# is raised only once the whole ``map`` has finished. With default workers,
# each worker gets Ctrl-C too and dies of ``KeyboardInterrupt`` mid-task
# (``worker`` in ``pool.py`` catches only ``Exception``): the pool replaces
# it, its task is lost, the ``map`` never finishes and the program hangs
# (gh-82609). Python 3.14 lets the main thread's lock waits end for Ctrl-C on
# Windows too (gh-125541, pull request gh-125546:
# ``_PySemaphore_PlatformWait`` in ``Python/parking_lot.c`` also waits for the
# event the Ctrl-C handler sets).
#
# The waiting loop above works there unchanged (``signal.pthread_sigmask``,
# which the fixed programs also call, does not exist on Windows):
# ``result.wait(0.2)`` and ``concurrent.futures.wait(futures, timeout=0.2)``
# (through ``threading.Event.wait``: ``wait`` in
# ``concurrent/futures/_base.py``) reach ``waiter.acquire(True, timeout)`` in
# ``Condition.wait``, which returns when the timeout expires; the main thread
# then runs Python code again, where the interpreter runs the pending handler
# and raises ``KeyboardInterrupt``.
# A worker that dies mid-task for another reason is
# :ref:`sphx_glr_gallery_managers_plot_03_pool_loses_a_worker.py`.
#
# What happened
# -------------

if __name__ == "__main__":
    hangs = [not executor_plain["exited"], not executor_ignoring["exited"]]
    missed = not pool_blocking["exited"] and pool_blocking["parent"] is None
    fixed = [pool_fixed, executor_fixed]
    clean = all(
        f["exited"] and f["left"] == "none" and f["worker tracebacks"] == 0 for f in fixed
    )
    print(
        f"failure reproduced: {'yes' if all(hangs) and missed else 'no'} (executor "
        "still running after Ctrl-C, also with SIG_IGN workers; a wait "
        "without timeout missed Ctrl-C taken by another thread)"
    )
    print(
        f"fix works: {'yes' if clean else 'no'} (waits with a timeout, Pool with SIG_IGN "
        "and executor with SIG_DFL workers: both exited, nothing left)"
    )
    from mpguide.figures import Observation, draw_outcome

    def stopped(facts):
        return "stopped" if facts["exited"] else "still running"

    draw_outcome(
        "Ctrl-C during a pool's map",
        [
            Observation("ProcessPoolExecutor", stopped(executor_plain), False),
            Observation("Pool, blocking wait", stopped(pool_blocking), False),
            Observation("Pool, fixed", stopped(pool_fixed), pool_fixed["exited"]),
            Observation(
                "executor, fixed", stopped(executor_fixed), executor_fixed["exited"]
            ),
        ],
    )
    if pool_plain["exited"]:
        assert pool_plain["left"] == "none", pool_plain
        assert pool_plain["parent"] == "pool.map(slow_square, range(8), chunksize=1)"
    assert all(hangs) and missed, (executor_plain, executor_ignoring, pool_blocking)
    assert 1 <= executor_plain["tasks started after Ctrl-C"] <= BUSY + 1, executor_plain
    assert executor_plain["parent"] is None, executor_plain
    assert executor_plain["worker tracebacks"] == 0, executor_plain
    assert executor_plain["left"] == executor_plain["before"], executor_plain
    assert executor_ignoring["tasks started after Ctrl-C"] == 0, executor_ignoring
    assert pool_blocking["worker tracebacks"] == 0, pool_blocking
    assert clean, (pool_fixed, executor_fixed)
    assert pool_fixed["parent"].startswith("result.wait(0.2)")
    assert executor_fixed["parent"] is not None
    helpers = {"fork": [], "spawn": ["resource tracker"]}
    helpers["forkserver"] = ["forkserver", "resource tracker"]
    for variant in VARIANTS:
        roles = before[programs[variant].pid]
        assert roles.count("worker") == 2, (variant, roles)
        helper_roles = [r for r in roles if r not in ("main program", "worker")]
        assert sorted(helper_roles) == helpers[method], (variant, roles)
    assert not multiprocessing.active_children()
