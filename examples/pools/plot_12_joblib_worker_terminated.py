"""
joblib's ``TerminatedWorkerError``: a worker killed for its memory, every result lost
=====================================================================================

``joblib.Parallel`` (and scikit-learn with ``n_jobs``) stops with
``TerminatedWorkerError: A worker process managed by the executor was
unexpectedly terminated``, and no result comes back, not even those of the
tasks that had finished. The usual cause on Linux is the kernel's OOM killer:
the machine ran out of memory and the kernel killed the process with the
highest OOM score, which mostly counts its memory, often one of the workers,
with ``SIGKILL``. This page reproduces the error with a
``SIGKILL`` the task sends itself, shows what the parent gets and what
becomes of the workers, shows a segmentation fault for comparison, explains
both from the code of loky (joblib's process executor), and measures the fix:
a large NumPy array that each worker copies, against joblib's memory mapping,
which lets the workers share one copy.
"""

# %%
# Reproduce
# ---------
# The OOM killer cannot be called on demand without filling the machine's
# memory, so the page stands in for it: the last task sends ``SIGKILL`` to
# its own process, which is exactly what the kernel sends to the process it
# chooses (``__oom_kill_process`` in Linux's ``mm/oom_kill.c`` calls
# ``do_send_sig_info(SIGKILL, ...)`` on the victim; a process can neither
# catch nor ignore ``SIGKILL``). The task waits until the seven other tasks
# have finished, each leaving a file with its worker's process ID, so that
# their results exist when the worker dies.

import ctypes
import multiprocessing
import os
import resource
import signal
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import TerminatedWorkerError

WORKERS = 2
TASKS = 8
WAIT = 60  # seconds: a bound on every wait


def square_or_die(value, folder):
    """Square ``value``; the last task waits for the others, then is killed."""
    if value < TASKS - 1:
        Path(folder, f"{value}.done").write_text(str(os.getpid()))
        return value * value
    deadline = time.monotonic() + WAIT
    while len(list(Path(folder).glob("*.done"))) < TASKS - 1:
        if time.monotonic() > deadline:
            raise TimeoutError("the other tasks did not finish")
        time.sleep(0.01)
    Path(folder, "killed").write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer sends


def worker_pid():
    return os.getpid()


def error_line(error):
    """The exception as a traceback's last line shows it."""
    return f"{type(error).__module__}.{type(error).__qualname__}: {error}"


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    print("joblib", joblib.__version__)
    with tempfile.TemporaryDirectory() as folder:
        try:
            results = Parallel(n_jobs=WORKERS, batch_size=1, timeout=WAIT)(
                delayed(square_or_die)(value, folder) for value in range(TASKS)
            )
            killed = "Parallel returned " + str(results)
        except TerminatedWorkerError as error:
            killed = error_line(error)
            results = None
        finished = {int(p.stem): int(p.read_text()) for p in Path(folder).glob("*.done")}
        killed_pid = int(Path(folder, "killed").read_text())
    print(killed)
    print(f"tasks finished before the kill: {len(finished)} of {TASKS}")
    print("results Parallel returned:", "none" if results is None else results)
    old_workers = {killed_pid, *finished.values()}
    next_pids = Parallel(n_jobs=WORKERS)(delayed(worker_pid)() for _ in range(TASKS))
    print("the next Parallel call worked:", len(next_pids) == TASKS)
    print("its workers are new:", not old_workers & set(next_pids))

# %%
# Seven tasks had finished, yet ``Parallel`` returned none of their results:
# it raised. The exit code in the message is the one clue: ``SIGKILL(-9)``, a
# process killed from outside. The next ``Parallel`` call worked, in workers
# that were all new: the worker that had finished tasks alongside the killed
# one was replaced too.
#
# Why
# ---
# joblib's default backend runs tasks in a loky ``ProcessPoolExecutor``
# (``joblib/externals/loky/process_executor.py``, checked in joblib 1.3.2,
# 1.4.2, 1.5.1 and 1.6.0). Its manager thread waits, in
# ``_ExecutorManagerThread.wait_result_broken_or_wakeup``, on the result
# pipe *and* on every worker's sentinel, the end of a pipe that closes when
# the worker's process ends. A sentinel ready with no result means a worker
# died in a way it could not report: the thread builds
# ``TerminatedWorkerError`` with the exit codes of the workers that have
# ended (``get_exitcodes_terminated_worker`` in ``backend/utils.py``: a
# negative code is a signal's number, named, ``SIGKILL(-9)``; a code of 0 or
# more shows as ``EXIT(n)``, 255 as ``UNKNOWN(255)``; on Windows the message
# has no exit codes), then calls ``terminate_broken``: the executor is
# flagged broken, every pending future fails with that error, and the other
# workers are killed (``kill_workers``, which sends ``SIGKILL`` to each and
# its children). ``Parallel`` raises the first error it receives and, on the
# way out, terminates the executor (``LokyBackend.abort_everything``); it
# returns no list, so the results that did arrive are dropped. The executor is
# joblib's *reusable* executor, one per program: the next call asks
# ``get_reusable_executor`` (``loky/reusable_executor.py``), which finds it
# broken or shut down and starts a new one, with new workers. Nothing
# retries the lost tasks.
#
# What the start method changes
# -----------------------------
# Nothing here. The ``start method`` above is the one this page's own
# ``multiprocessing`` objects would use; loky does not read it. Its workers
# are ``LokyProcess`` objects whose start method is loky's own, ``"loky"``
# (``backend/process.py``): on Linux, ``popen_loky_posix.Popen._launch``
# runs ``fork_exec`` of ``python -m
# joblib.externals.loky.backend.popen_loky_posix``, a new interpreter that
# receives the pickled process object through a pipe, like ``spawn``, but
# does not import the main module: functions defined there travel pickled by
# value (cloudpickle). So the page prints the same under ``fork``, ``spawn``
# and ``forkserver``.

if __name__ == "__main__":
    worker_classes = Parallel(n_jobs=WORKERS)(
        delayed(lambda: type(multiprocessing.current_process()).__name__)()
        for _ in range(WORKERS)
    )
    print("joblib's workers are:", ", ".join(sorted(set(worker_classes))))

# %%
# A segmentation fault, for comparison
# ------------------------------------
# The same message also covers a crash in C code. Here a task reads memory
# at address 0 (``ctypes.string_at(0)``), which on Linux ends its process
# with ``SIGSEGV``. The task first turns core dumps off for itself, and sends
# its standard error to a file so that the page can show what loky's workers
# print when they crash: since joblib 1.5 (loky 3.5) each worker enables
# ``faulthandler`` (``_enable_faulthandler_if_needed`` in
# ``process_executor.py``), which prints the Python stack of every thread
# before the process dies. Without the redirection it goes to the standard
# error of the program that started the workers.


def crash(stderr_path):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with open(stderr_path, "wb") as stderr_file:
        os.dup2(stderr_file.fileno(), 2)
    ctypes.string_at(0)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        stderr_path = Path(folder, "worker-stderr.txt")
        try:
            Parallel(n_jobs=WORKERS, timeout=WAIT)([delayed(crash)(str(stderr_path))])
            crashed = "no error"
        except TerminatedWorkerError as error:
            crashed = error_line(error)
        worker_stderr = stderr_path.read_text(errors="replace")
    segfault_codes = next(
        (line for line in crashed.splitlines() if line.startswith("The exit codes")), "-"
    )
    print(segfault_codes)
    print("the worker's stderr began:", (worker_stderr.splitlines() or ["-"])[0])

# %%
# The exit code tells the two apart: ``SIGKILL(-9)`` for a process killed
# from outside (the OOM killer, or someone's ``kill -9``), ``SIGSEGV(-11)``
# for a crash inside it, with a faulthandler traceback on the program's
# standard error pointing at the call that crashed.
#
# How to tell it was the OOM killer
# ---------------------------------
# The kernel logs each kill. After the error, read the kernel's log (these
# commands are quoted, not run here; reading it may need root):
#
# .. code-block:: console
#
#    $ journalctl -k | grep -i "killed process"
#    $ dmesg -T | grep -i "killed process"
#
# ``__oom_kill_process`` writes one line per victim, in this form (Linux 6.x;
# ``Memory cgroup out of memory`` instead of ``Out of memory`` when a
# container's or service's memory limit was reached)::
#
#    Out of memory: Killed process 12345 (python) total-vm:...kB, anon-rss:...kB,
#    file-rss:...kB, shmem-rss:...kB, UID:1000 pgtables:...kB oom_score_adj:0
#
# A line naming a ``python`` process at the time of the error confirms it (the
# error does not give the worker's process ID); its ``anon-rss`` is the
# private memory the worker held.
#
# Fix: let the workers share large arrays, measured
# -------------------------------------------------
# Memory runs out when every worker holds its own copy of something large. A
# NumPy array passed as an argument is pickled with the task and unpickled
# in the worker: one private copy per worker that runs such a task, at most
# ``n_jobs`` at once. By default joblib avoids that: an array larger than
# ``max_nbytes`` (``'1M'``) is written to a file, in ``JOBLIB_TEMP_FOLDER``,
# else ``/dev/shm`` when it has 2 GB free, else the temporary folder
# (``joblib/_memmapping_reducer.py``), and each worker maps that file
# read-only (``mmap_mode='r'``), so all workers read the same pages. Code
# that sets ``max_nbytes=None`` turns this off. Below, each worker holds a
# 64 MB array and reads its ``/proc/self/status``: ``VmHWM``, its peak
# resident memory, ``RssAnon``, its private memory, and ``RssFile`` plus
# ``RssShmem``, the pages mapped from files or shared memory, which the
# kernel keeps once however many processes map them. The two runs use
# separate executors (a different ``max_nbytes`` makes joblib start a new
# one), so neither inherits the other's peak.

ARRAY_MB = 64
STATUS_FIELDS = ("VmHWM", "RssAnon", "RssFile", "RssShmem")


def memory_holding(array):
    """Read ``array`` whole, then this worker's memory figures in MB."""
    checksum = float(array.sum())
    time.sleep(0.3)  # long enough for the other worker to take the next task
    figures = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in STATUS_FIELDS:
                figures[name] = int(value.split()[0]) / 1024  # kB to MB
    return os.getpid(), type(array).__name__, checksum, figures


def measure(**memmapping):
    array = np.ones(ARRAY_MB * 2**20 // 8)
    reports = Parallel(n_jobs=WORKERS, batch_size=1, timeout=WAIT, **memmapping)(
        delayed(memory_holding)(array) for _ in range(WORKERS)
    )
    assert all(checksum == array.size for _, _, checksum, _ in reports)
    largest = {
        "peak": max(f["VmHWM"] for *_, f in reports),
        "private": max(f["RssAnon"] for *_, f in reports),
        "shared": max(f["RssFile"] + f["RssShmem"] for *_, f in reports),
    }
    return largest, {pid for pid, *_ in reports}, {kind for _, kind, *_ in reports}


if __name__ == "__main__":
    copied, copied_pids, copied_kinds = measure(max_nbytes=None)
    shared, shared_pids, shared_kinds = measure()  # joblib's default, '1M'
    for label, figures, kinds in [
        ("(a) max_nbytes=None, copied", copied, copied_kinds),
        ("(b) default, memory-mapped", shared, shared_kinds),
    ]:
        print(
            f"{label}: the task received {', '.join(sorted(kinds))}; per worker "
            f"peak {figures['peak']:.0f} MB, private {figures['private']:.0f} MB, "
            f"shared {figures['shared']:.0f} MB"
        )
    extra_private = (copied["private"] - shared["private"]) / ARRAY_MB
    peak_ratio = copied["peak"] / shared["peak"]
    print(f"private memory (a) minus (b): {extra_private:.2f} x the {ARRAY_MB} MB array")
    print(f"peak memory per worker, (a) / (b): {peak_ratio:.1f}")
    print("the two runs had separate workers:", not copied_pids & shared_pids)

# %%
# Copied, the array is private memory in every worker, and the worker's peak
# is higher still: while it unpickles the task, the pickled bytes and the
# array built from them are in its memory together. Mapped, the private
# memory is the interpreter's own, and the array's pages count as shared: one
# copy, in ``/dev/shm`` or a temporary file, for all workers. On a machine
# near its limit that difference, times ``n_jobs``, is what decides whether
# the OOM killer steps in.
#
# So: keep joblib's default ``max_nbytes`` (or lower it) for large arrays;
# pass the array as a task's argument rather than building large data inside
# each task; and when each task must hold much memory of its own, run fewer
# at once (``n_jobs``), since every running worker holds its own. The
# message's other cause, a segmentation fault, is fixed in the code that
# crashes: the faulthandler traceback names it.

# %%
# What happened
# -------------

if __name__ == "__main__":
    # Every worker of the reusable executor ends here, not at the program's exit.
    get_reusable_executor(reuse=True).shutdown(wait=True)
    message_start = (
        "joblib.externals.loky.process_executor.TerminatedWorkerError: A worker process "
        "managed by the executor was unexpectedly terminated."
    )
    reproduced = (
        killed.startswith(message_start)
        and "The exit codes of the workers are {SIGKILL(-9)}" in killed
        and results is None
        and len(finished) == TASKS - 1
    )
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (SIGKILL(-9) in the "
        f"message; {len(finished)} of {TASKS} tasks had finished, no result returned)"
    )
    fixed = extra_private >= 0.9 and peak_ratio > 1 and shared["shared"] >= 0.9 * ARRAY_MB
    print(
        f"fix works: {'yes' if fixed else 'no'} (memory-mapped, each worker's private "
        f"memory is {extra_private:.2f} arrays smaller, its peak {peak_ratio:.1f} "
        "times lower)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A joblib worker killed",
        [
            Observation(
                label="SIGKILL in a task", result="TerminatedWorkerError", ok=False
            ),
            Observation(
                label="results returned",
                result=f"0 of {len(finished)} finished",
                ok=False,
                fraction=0.0,
            ),
            Observation(
                label="(a) array copied",
                result=f"peak {copied['peak']:.0f} MB per worker",
                ok=None,
            ),
            Observation(
                label="(b) memory-mapped",
                result=f"peak {shared['peak']:.0f} MB per worker",
                ok=fixed,
                fraction=shared["peak"] / copied["peak"],
            ),
        ],
    )
    assert reproduced, killed
    assert next_pids and not old_workers & set(next_pids)
    assert worker_classes == ["LokyProcess"] * WORKERS
    assert segfault_codes == "The exit codes of the workers are {SIGSEGV(-11)}", crashed
    assert worker_stderr.startswith("Fatal Python error: Segmentation fault"), worker_stderr
    assert copied_kinds == {"ndarray"} and shared_kinds == {"memmap"}
    assert not copied_pids & shared_pids
    assert fixed, (copied, shared)
    assert not multiprocessing.active_children()
