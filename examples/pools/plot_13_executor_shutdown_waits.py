"""
``ProcessPoolExecutor`` at the end: ``shutdown()`` and exit wait for every task
===============================================================================

An error leaves a ``with ProcessPoolExecutor()`` block, or the program simply
ends, and yet it goes on running: leaving the block calls
``shutdown(wait=True)``, which waits for every task submitted so far, queued
ones included, and the interpreter, on its way out, waits for the same tasks even
when the executor was never shut down or was shut down with ``wait=False``.
One task that never returns makes both waits endless: the program hangs in
``shutdown()`` or after its last line. This page counts the tasks that still
ran, shows the hang (with a time limit), explains both from CPython's code,
and fixes them: ``cancel_futures=True`` for queued tasks, a pool one can
terminate or a process of one's own for a task that may never end. A
``result(timeout=...)`` that expires, or a ``cancel()``, does not stop a task
that has started either: the page shows it run to its end.
``multiprocessing.Pool`` does the opposite at the end of a ``with`` block, it
terminates its workers:
:ref:`sphx_glr_gallery_pools_plot_06_with_pool_terminates.py`.
"""

# %%
# Reproduce: an error leaves the ``with`` block
# ---------------------------------------------
# ``TASKS`` tasks of ``TASK_SECONDS`` each go to ``WORKERS`` workers, then the
# block raises at once (an error in the code that reads the results, or a
# ``KeyboardInterrupt``: :ref:`sphx_glr_gallery_pools_plot_01_ctrl_c.py`
# presses Ctrl-C for real). The page counts the tasks that had finished when
# the error was raised, and those finished when the error came out of the
# block, and times that exit.

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

TASKS = 10
TASK_SECONDS = 0.3
WORKERS = 2
# The most tasks the executor marks running at once: one in each worker, and
# its call queue's max_workers + EXTRA_QUEUED_CALLS (1) waiting for a worker.
MOST_STARTED = 2 * WORKERS + 1
WAIT = 60  # seconds: a bound on every wait


def slow_task(number):
    time.sleep(TASK_SECONDS)
    return number


class ReadingFailed(Exception):
    """Raised inside the ``with`` block, as any error there could be."""


def leave_with_an_error(context, cancel_on_error):
    """Submit ``TASKS`` tasks and raise; return the tasks done when the error was
    raised, done and cancelled once it left the block, and the seconds that took."""
    try:
        with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
            futures = [executor.submit(slow_task, number) for number in range(TASKS)]
            try:
                raise ReadingFailed
            except BaseException:
                raised_at = time.perf_counter()
                done_at_error = sum(future.done() for future in futures)
                if cancel_on_error:
                    executor.shutdown(cancel_futures=True)
                raise
    except ReadingFailed:
        exit_seconds = time.perf_counter() - raised_at
    cancelled = sum(future.cancelled() for future in futures)
    ran = sum(future.done() and not future.cancelled() for future in futures)
    return done_at_error, ran, cancelled, exit_seconds


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    done_at_error, ran, cancelled, exit_seconds = leave_with_an_error(context, False)
    print(f"tasks finished when the error was raised: {done_at_error} of {TASKS}")
    print(f"after the error left the block: {ran} ran, {cancelled} cancelled")
    print(f"leaving the block took {exit_seconds / TASK_SECONDS:.1f} task lengths")

# %%
# Every task ran, after the error: leaving the block took at least
# ``TASKS / WORKERS`` task lengths (more where the workers are slow to start,
# as under ``spawn``), while the error waited.
#
# A program that does not shut its executor down
# ----------------------------------------------
# The same tasks, in a separate program whose tasks each leave a file behind,
# and which ends in one of three ways: without a call to ``shutdown()``, with
# ``shutdown(wait=False)``, or with ``shutdown(wait=False,
# cancel_futures=True)``. The page counts the files once the program has
# exited. Its main program goes on to its end only once a worker has started
# a task (a file the task makes). On Python 3.12.0 to 3.12.2, a program whose
# main thread ends before its executor has put the first task on its call
# queue can lose every task. The executor's manager thread hands tasks to the
# workers through a ``multiprocessing`` queue whose feeder thread the first
# ``put()`` starts (``Queue.put`` in ``multiprocessing/queues.py``), and from
# 3.12.0 (gh-104690) to 3.12.2, CPython refuses to start a thread
# (``RuntimeError: can't create new thread at interpreter shutdown``) as soon
# as the main thread has ended, although non-daemon threads such as the
# manager thread still run (gh-113964, fixed in 3.12.3). On 3.12.1 and 3.12.2
# the manager thread catches that error and marks the pool broken
# (gh-109047, ``_ExecutorManagerThread.run`` in
# ``concurrent/futures/process.py``): the program exits with status 0, prints
# nothing and runs no task. On 3.12.0, which lacks that catch, the thread dies
# with a traceback and the exit then waits for ever for the idle workers.
# One run of this page in this project's tests, on 3.12.1, lost all ten
# tasks that way before the program waited. A task that has started
# proves the feeder thread runs, and no later hand-over needs a new thread.

PROGRAM = f"""
import multiprocessing, os, sys, threading, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def recorded_task(number):
    Path(f"started-{{number}}").touch()
    time.sleep({TASK_SECONDS})
    Path(f"done-{{number}}").touch()


def stuck_task():
    Path(f"worker-{{os.getpid()}}").touch()
    threading.Event().wait()  # never set: the task never returns


def shown(error):
    return type(error).__name__ if error else "no error"


def wait_for_a_worker_to_make(pattern):
    for _ in range(6000):  # at most 60 s
        if any(Path().glob(pattern)):
            return
        time.sleep(0.01)
    sys.exit(f"no worker made {{pattern}} in 60 s")


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    ending = sys.argv[1]
    if ending == "a stuck task, with block":
        with ProcessPoolExecutor({WORKERS}, mp_context=context) as executor:
            stuck = executor.submit(stuck_task)
    else:
        executor = ProcessPoolExecutor({WORKERS}, mp_context=context)
        if ending.startswith("a stuck task"):
            stuck = executor.submit(stuck_task)
            wait_for_a_worker_to_make("worker-*")
        else:
            for number in range({TASKS}):
                executor.submit(recorded_task, number)
            wait_for_a_worker_to_make("started-*")
        if ending != "no shutdown()":
            executor.shutdown(wait=False, cancel_futures="cancel" in ending)
    Path("main-ended").touch()
    if ending.startswith("a stuck task"):
        stuck.add_done_callback(
            lambda future: print("the stuck task ended with:", shown(future.exception()))
        )
"""

ENDINGS = ["no shutdown()", "shutdown(wait=False)", "shutdown(wait=False, cancel)"]


def start_program(ending, method, directory):
    env = {**os.environ, "MPGUIDE_START_METHOD": method, "PYTHON_COLORS": "0"}
    Path(directory, "program.py").write_text(PROGRAM)
    return subprocess.Popen(
        [sys.executable, "program.py", ending],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tasks_run_by_the_end(ending, method):
    """Run the program to its end; return how many tasks left their file."""
    with tempfile.TemporaryDirectory() as directory:
        program = start_program(ending, method, directory)
        _, stderr = program.communicate(timeout=WAIT)
        assert program.returncode == 0, stderr
        return len(list(Path(directory).glob("done-*")))


if __name__ == "__main__":
    method = context.get_start_method()
    run_by_the_end = {ending: tasks_run_by_the_end(ending, method) for ending in ENDINGS}
    for ending, count in run_by_the_end.items():
        print(f"{ending}: {count} of {TASKS} tasks ran before the program exited")

# %%
# Without ``cancel_futures=True``, every task ran although the main program
# had ended long before; ``wait=False`` only let the main program reach its
# end sooner.
#
# A task that never returns
# -------------------------
# Now one task waits for ever (on a ``threading.Event`` nobody sets). The
# program ends with the ``with`` block, or with ``shutdown(wait=False,
# cancel_futures=True)``, called once the task has started (its main waits
# for the task's file, as above). The page waits ``HANG_SECONDS`` for the program to
# exit; when it has not, it ends the stuck worker with ``SIGTERM`` (the task
# wrote its pid to a file), the way Python 3.14's ``terminate_workers()``
# would, and then waits for the program to exit.

HANG_SECONDS = 2.0


def wait_for_file(directory, pattern):
    """The first file matching ``pattern`` in ``directory``, waited for up to
    ``WAIT`` seconds."""
    deadline = time.monotonic() + WAIT
    while not (found := list(Path(directory).glob(pattern))):
        assert time.monotonic() < deadline, f"no {pattern} after {WAIT} s"
        time.sleep(0.05)
    return found[0]


def run_with_a_stuck_task(ending, method):
    """Whether the program still ran ``HANG_SECONDS`` after its stuck task
    started, whether its main program had ended then, and what it printed
    once its worker was terminated."""
    with tempfile.TemporaryDirectory() as directory:
        program = start_program(ending, method, directory)
        try:
            worker = int(wait_for_file(directory, "worker-*").name.split("-")[1])
            with contextlib.suppress(subprocess.TimeoutExpired):
                program.wait(timeout=HANG_SECONDS)
            still_running = program.poll() is None
            main_ended = Path(directory, "main-ended").exists()
            os.kill(worker, signal.SIGTERM)
            stdout, stderr = program.communicate(timeout=WAIT)
        finally:
            if program.poll() is None:  # a failed run: end it, and its workers
                program.kill()
                program.communicate()
    assert program.returncode == 0, stderr
    return still_running, main_ended, stdout.strip()


STUCK_ENDINGS = ["a stuck task, with block", "a stuck task, shutdown(wait=False, cancel)"]

if __name__ == "__main__":
    stuck_runs = {ending: run_with_a_stuck_task(ending, method) for ending in STUCK_ENDINGS}
    for ending, (still_running, main_ended, printed) in stuck_runs.items():
        print(f"{ending}:")
        print(f"  still running after {HANG_SECONDS} s: {still_running}")
        print(f"  its main program had ended: {main_ended}")
        print(f"  once its worker was terminated: {printed}")

# %%
# Both programs hung: the first in its ``with`` block, the second after its
# main program had ended, although it had asked not to wait and to cancel.
# Once the worker was ended from outside, the executor saw it die, failed the
# stuck task with ``BrokenProcessPool`` and let the program exit.
#
# Why
# ---
# In CPython 3.11, 3.12 and 3.13 (``concurrent/futures``):
#
# - ``Executor.__exit__`` (``_base.py``) calls ``self.shutdown(wait=True)``,
#   whatever ended the block; nothing there cancels a task.
# - ``ProcessPoolExecutor.shutdown`` (``process.py``) sets a flag, wakes the
#   executor's manager thread, and with ``wait=True`` joins that thread. The
#   thread (``_ExecutorManagerThread.run``) returns in two cases only: the
#   executor is shutting down and no work item is pending
#   (``join_executor_internals``), or the pool broke (``terminate_broken``:
#   a worker died, a result could not be read, or, in 3.12.1 and 3.13.0, a
#   task could not be put on the call queue).
#   Every submitted task is a pending work item until its result arrives, so
#   the thread runs every queued task first. There is no timeout anywhere.
# - At exit, ``_python_exit``, registered with ``threading._register_atexit``
#   (called just before the interpreter joins its non-daemon threads), sets
#   ``_global_shutdown`` and joins every
#   executor's manager thread, which then behaves as after ``shutdown()``:
#   ``shutdown(wait=False)`` only skips the first join, not this one.
# - ``cancel_futures=True`` makes the thread cancel, in
#   ``flag_executor_shutting_down``, the work items whose future it can still
#   cancel. A future is marked running (``add_call_item_to_queue``) as soon as
#   its task enters the call queue the workers read, which holds
#   ``max_workers + EXTRA_QUEUED_CALLS`` tasks (``EXTRA_QUEUED_CALLS = 1``):
#   those tasks, and the ones in the workers, still run.
# - A worker runs its task in ``_process_worker`` and nothing interrupts it:
#   a task that never returns keeps its work item pending for ever, and both
#   joins above with it. ``ProcessPoolExecutor`` has no public method that
#   stops a worker before Python 3.14, which adds ``terminate_workers()`` and
#   ``kill_workers()`` (CPython gh-128041); they first call
#   ``shutdown(wait=False, cancel_futures=True)``, then do what the page did by
#   hand: end the workers, so that the manager thread finds the pool broken.
#
# Hangs that were bugs
# --------------------
# Some reports of a hang in ``shutdown()`` or at exit were races in
# ``process.py``, fixed in some releases only:
#
# - ``shutdown(wait=False)`` closed pipes the manager thread still needed: a
#   task that failed to pickle never got its result (bpo-39104, pull request
#   17670, fixed in 3.9), and, with a task pending, the manager thread died on
#   the closed pipe with ``OSError: handle is closed`` (3.7 and 3.8; under
#   forkserver sometimes another error: :ref:`error-executor-handle-is-closed`).
#   The interpreter could also hang at exit after ``shutdown(wait=False)``
#   with tasks running (gh-83386); when its test was
#   enabled in 2026 it passed, the fix probably being the same 3.9 rewrite.
# - The manager thread, holding the executor's ``_shutdown_lock``, joins the
#   call queue's feeder thread (``join_executor_internals``), which takes the
#   same lock when a task fails to pickle (``_SafeQueue._on_queue_feeder_error``):
#   a deadlock when both happen at once (gh-125451), in 3.9 to 3.11, 3.12.0 to
#   3.12.7 and 3.13.0; fixed in 3.12.8 and 3.13.1, not in 3.11 or older.
# - With ``max_tasks_per_child``, a worker replaced after
#   ``shutdown(wait=False)`` met ``_processes`` already set to ``None``
#   (``_adjust_process_count``): a ``TypeError``, then a hang (gh-132969), in
#   3.11, 3.12 and 3.13.0 to 3.13.5; fixed in 3.13.6 and 3.14 by pull request
#   133222; 3.11 and 3.12 have no fix.
#
# A program that hangs with every task finished may have met one of these: on
# 3.12 and 3.13, the newest release of the version has both fixes; on 3.11, the
# way out is to avoid what triggers them (a task that cannot be pickled, a
# ``shutdown(wait=False)`` with ``max_tasks_per_child``).
#
# Fix 1: cancel the queued tasks on an error
# ------------------------------------------
# Call ``shutdown(cancel_futures=True)`` (Python 3.9 and later) before the
# error leaves the block, in an ``except BaseException:`` that re-raises: it
# waits only for the tasks already started. Keep its ``wait=True``: after a
# ``shutdown(wait=False)``, the block's own ``shutdown(wait=True)`` returns at
# once, since the first call dropped the executor's reference to its manager
# thread (``self._executor_manager_thread = None``, 3.11 to 3.13), and the
# tasks go on running while the program moves on.

if __name__ == "__main__":
    _, ran_cancelling, cancelled_on_error, exit_cancelling = leave_with_an_error(
        context, True
    )
    print(f"cancelling on the error: {ran_cancelling} ran, {cancelled_on_error}", end=" ")
    print(f"cancelled, leaving took {exit_cancelling / TASK_SECONDS:.1f} task lengths")

# %%
# The program without ``with`` above did the same with ``shutdown(wait=False,
# cancel)``: only the tasks already started ran. Neither stops a task that
# never returns.
#
# A timeout, or ``cancel()``, does not stop a task that has started
# -----------------------------------------------------------------
# ``future.result(timeout=...)`` and a ``Pool``'s ``get(timeout=...)`` bound
# only the caller's wait. ``Future.result`` (``concurrent/futures/_base.py``)
# waits on the future's condition and raises ``TimeoutError()``; ``ApplyResult.get``
# (``multiprocessing/pool.py``) waits on its event and raises
# ``multiprocessing.TimeoutError``. Neither sends anything to the worker.
# ``Future.cancel`` returns ``False`` once the future is running or finished
# (``if self._state in [RUNNING, FINISHED]``), and the executor marks it
# running when it puts the task on the call queue (``add_call_item_to_queue``
# in ``concurrent/futures/process.py``), before a worker takes it: the call
# queue holds one task more than there are workers, so ``cancel()`` fails for
# that waiting task too. All of this
# in 3.11, 3.12 and 3.13. Below, each worker sets an event as it starts the
# task; the caller waits for it, gives up after ``GIVE_UP`` seconds, cancels
# the executor's future (a ``Pool`` has no ``cancel``), then reads when the
# task ended.

GIVE_UP = 0.05  # seconds: the caller's timeout, shorter than TASK_SECONDS
started = None  # in each worker, the event its initializer received


def remember_started(event):
    global started
    started = event


def task_that_reports_its_end():
    started.set()
    time.sleep(TASK_SECONDS)
    return time.time()  # the wall clock, the same in every process


def give_up_on(get, cancel=None):
    """Wait ``GIVE_UP`` s for the task's result, give up (and try ``cancel``);
    return the error, what cancel() said, and how long after giving up the task
    ended."""
    try:
        get(timeout=GIVE_UP)
        error = "no error"
    except (TimeoutError, multiprocessing.TimeoutError) as raised:
        error = f"{type(raised).__module__}.{type(raised).__qualname__}"
    gave_up_at = time.time()
    cancelled = cancel() if cancel else None
    ended_at = get(timeout=WAIT)
    return error.removeprefix("builtins."), cancelled, ended_at - gave_up_at


if __name__ == "__main__":
    event = context.Event()
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=remember_started, initargs=(event,)
    ) as executor:
        future = executor.submit(task_that_reports_its_end)
        event.wait(WAIT)
        future_error, future_cancelled, future_ran_on = give_up_on(
            future.result, future.cancel
        )
    event = context.Event()
    with context.Pool(1, initializer=remember_started, initargs=(event,)) as pool:
        pending = pool.apply_async(task_that_reports_its_end)
        event.wait(WAIT)
        pool_error, _, pool_ran_on = give_up_on(pending.get)
    print(f"future.result(timeout={GIVE_UP}) raised {future_error};", end=" ")
    print(f"cancel() returned {future_cancelled};", end=" ")
    print(f"the task ended {future_ran_on:.2f} s later")
    print(f"Pool get(timeout={GIVE_UP}) raised {pool_error};", end=" ")
    print(f"the task ended {pool_ran_on:.2f} s later")

# %%
# Each task ran to its end after its caller had given up, in a worker that
# no other task could use meanwhile. To stop it, the worker has to be ended
# (below), or the task has to check for a signal of its own between steps
# (for instance an ``Event`` given to the workers by ``initializer``, as this
# page gives one to signal the start).
#
# Fix 2: a task that may never return gets a time limit and a process that can be ended
# -------------------------------------------------------------------------------------
# On Python 3.11 to 3.13, run it where it can be ended: in a
# ``multiprocessing.Pool``, whose ``terminate()`` (the end of its ``with``
# block) ends the workers, after ``get(timeout=...)`` gave up; or in a
# ``Process`` of one's own, ended after ``join(timeout)``. The task runs no
# ``finally`` when it is ended this way. On Python 3.14, an executor's
# ``terminate_workers()`` does it, for all its workers at once.

TASK_LIMIT = 1.0  # seconds: the most a task may take


def waits_for_ever():
    threading.Event().wait()


if __name__ == "__main__":
    with context.Pool(WORKERS) as pool:
        pending = pool.apply_async(waits_for_ever)
        try:
            pending.get(timeout=TASK_LIMIT)
            pool_outcome = "returned"
        except multiprocessing.TimeoutError:
            pool_outcome = f"timed out after {TASK_LIMIT} s"
        gave_up_at = time.perf_counter()
    pool_end_seconds = time.perf_counter() - gave_up_at
    pool_left = len(multiprocessing.active_children())
    print(f"Pool: the task {pool_outcome}; the with block then took", end=" ")
    print(f"{pool_end_seconds:.2f} s to end; workers left: {pool_left}")

    process = context.Process(target=waits_for_ever)
    process.start()
    process.join(TASK_LIMIT)
    timed_out = process.is_alive()
    process.terminate()
    process.join(WAIT)
    print(f"own Process: still running after {TASK_LIMIT} s: {timed_out};", end=" ")
    print(f"exit code after terminate(): {process.exitcode}")

# %%
# What happened
# -------------

if __name__ == "__main__":
    with_stuck, without_stuck = (stuck_runs[ending] for ending in STUCK_ENDINGS)
    ended_by_the_worker = "the stuck task ended with: BrokenProcessPool"
    all_ran = ran == TASKS and not cancelled
    all_ran_at_exit = [run_by_the_end[ending] for ending in ENDINGS[:2]] == [TASKS] * 2
    hung = with_stuck[0] and without_stuck[0]
    reproduced = all_ran and all_ran_at_exit and hung
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (all {TASKS} tasks ran "
        "after an error left the with block, and at exit without shutdown() or with "
        f"wait=False; a stuck task kept both programs running after {HANG_SECONDS} s)"
    )
    cancel_works = (
        ran_cancelling <= MOST_STARTED
        and ran_cancelling + cancelled_on_error == TASKS
        and run_by_the_end[ENDINGS[2]] <= MOST_STARTED
    )
    stuck_ended = pool_left == 0 and timed_out and process.exitcode == -signal.SIGTERM
    fixed = cancel_works and stuck_ended and pool_outcome.startswith("timed out")
    print(
        f"fix works: {'yes' if fixed else 'no'} (cancel_futures: {ran_cancelling} of "
        f"{TASKS} ran; the stuck task timed out and was ended in a Pool and in a Process)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "ProcessPoolExecutor at the end",
        [
            Observation(
                label="error in with block",
                result=f"{ran} of {TASKS} still ran",
                ok=not all_ran,
                fraction=ran / TASKS,
            ),
            Observation(
                label="a stuck task",
                result=f"running after {HANG_SECONDS:g} s",
                ok=not hung,
            ),
            Observation(
                label="cancel_futures=True",
                result=f"{ran_cancelling} of {TASKS} ran",
                ok=cancel_works,
                fraction=ran_cancelling / TASKS,
            ),
            Observation(label="Pool, get(timeout)", result="ended", ok=stuck_ended),
        ],
    )
    assert reproduced, (ran, cancelled, done_at_error, run_by_the_end, stuck_runs)
    assert not with_stuck[1] and without_stuck[1]  # hung in the block, at exit
    assert with_stuck[2] == without_stuck[2] == ended_by_the_worker, stuck_runs
    assert fixed, (ran_cancelling, cancelled_on_error, run_by_the_end, pool_outcome)
    assert future_error == "TimeoutError" and future_cancelled is False
    assert pool_error == "multiprocessing.context.TimeoutError"
    assert future_ran_on > 0 and pool_ran_on > 0  # both ended after the caller gave up
    assert not multiprocessing.active_children()
