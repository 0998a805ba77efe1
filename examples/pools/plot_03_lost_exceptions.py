"""
Exceptions that vanish: no ``get()``, a failed ``Process``, a raising callback
==============================================================================

A task failed and nothing told you: no traceback, no error, the program went
on, or it stopped for good later. An exception raised in a worker reaches
your code only where you ask for it. This page shows three ways it gets
lost: a result nobody calls ``get()`` on, a ``Process`` whose target raised
(the parent sees only ``exitcode == 1``), and a ``callback`` that raises,
which stops the whole ``Pool``, or, when it raises ``KeyError``, loses one
result without a trace. Then the fixes: ``error_callback``, a small
``gather`` helper that collects every failure, a child that sends its
exception back, and a callback that cannot raise.
"""

# %%
# The messages as the build produced them:
# :ref:`error-result-handler-not-alive`, :ref:`error-executor-callback`.

# %%
# The failures, as two small programs
# -----------------------------------
# ``load_user(3)`` raises ``LookupError``. The first program submits five
# ``load_user`` tasks with ``apply_async`` and never calls ``get()``, does
# the same with an executor's ``submit()``, then runs ``load_user(3)`` as a
# ``Process``; it marks on stderr where the ``Process`` part starts. The
# second program gives ``apply_async`` callbacks that raise. Each runs as a
# separate program so that the page can show what reached stderr; they run at
# the same time.

import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

LOST_PROGRAM = """
import multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor


def load_user(user_id):
    if user_id == 3:
        raise LookupError(f"no user {user_id}")
    return {"id": user_id}


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    with context.Pool(2) as pool:
        for user_id in range(5):
            pool.apply_async(load_user, (user_id,))  # nobody calls get()
        pool.close()
        pool.join()
    print("Pool: apply_async without get(): the program went on")
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        for user_id in range(5):
            executor.submit(load_user, user_id)  # nobody calls result()
    print("executor: submit without result(): the program went on")
    print("--- Process ---", file=sys.stderr, flush=True)
    child = context.Process(target=load_user, args=(3,))
    child.start()
    child.join(timeout=60)
    print("Process: the parent sees exitcode", child.exitcode)
"""

CALLBACK_PROGRAM = """
import multiprocessing, os, time


def square(number):
    return number * number


def save(result):  # a callback with a bug
    raise RuntimeError(f"cannot save {result}")


def add_to_total(result):  # a callback whose bug is a KeyError
    totals = {}
    totals["alice"] += result


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    pools = {callback: context.Pool(1) for callback in (save, add_to_total)}
    for pool in pools.values():
        pool.apply_async(abs, (-1,)).get(timeout=60)  # its worker has started
    submitted = {  # one worker per pool: its results arrive in order
        callback: (
            pool.apply_async(square, (3,), callback=callback),
            pool.apply_async(square, (4,)),
        )
        for callback, pool in pools.items()
    }
    time.sleep(1)  # each result takes a millisecond
    for callback, pool in pools.items():
        first, later = submitted[callback]
        print(f"callback {callback.__name__}: its result ready: {first.ready()}, "
              f"the next task's: {later.ready()}")
        try:
            pool.terminate()
            print("  terminate(): returned")
        except AssertionError as error:
            print("  terminate(): AssertionError:", error)
"""


def run_programs(sources, method):
    """Run each source as a program, all at once; return what each printed."""
    env = {**os.environ, "MPGUIDE_START_METHOD": method, "PYTHON_COLORS": "0"}
    with tempfile.TemporaryDirectory() as directory:
        running = {}
        for name, source in sources.items():
            Path(directory, f"{name}.py").write_text(source)
            running[name] = subprocess.Popen(
                [sys.executable, f"{name}.py"],
                cwd=directory,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        return {name: program.communicate(timeout=60) for name, program in running.items()}


def error_lines(stderr):
    """The headers and last lines of the tracebacks in ``stderr``."""
    return re.findall(
        r"^(?:Exception in thread .*|Process \S+:|\w+Error: .*)$", stderr, re.M
    )


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    printed = run_programs({"lost": LOST_PROGRAM, "callbacks": CALLBACK_PROGRAM}, method)
    lost_out, lost_err = printed["lost"]
    before_process, _, during_process = lost_err.partition("--- Process ---")
    print(lost_out, end="")
    print("stderr before the Process:", error_lines(before_process) or "nothing")
    print("stderr from the Process:", error_lines(during_process) or "nothing")

# %%
# (a) A result nobody asks for
# ----------------------------
# A ``Pool`` worker catches the task's exception and sends it back as the
# result (``worker`` in ``multiprocessing/pool.py``); an executor's worker
# does the same (``_process_worker`` in ``concurrent/futures/process.py``,
# CPython 3.11 to 3.13). The exception is raised again only by
# ``AsyncResult.get()`` or ``Future.result()``: a result that nobody asks for
# keeps it, and is dropped with it. Nothing is printed, and neither pool
# warns.
#
# (b) A ``Process`` whose target raised
# -------------------------------------
# ``Process`` has no result: ``BaseProcess._bootstrap`` in
# ``multiprocessing/process.py`` catches the exception, writes ``Process
# <name>:`` and the traceback to the child's stderr, and exits with code 1.
# The parent gets the exit code and nothing else: a log that does not keep
# the child's stderr loses the error entirely.

# %%
# (c) A callback that raises
# --------------------------
# Here is what the second program printed:

if __name__ == "__main__":
    callbacks_out, callbacks_err = printed["callbacks"]
    print(callbacks_out, end="")
    print("on stderr:", error_lines(callbacks_err) or "nothing")

# %%
# A callback runs in the pool's result thread, ``Pool._handle_results`` in
# ``multiprocessing/pool.py`` (the same in CPython 3.11, 3.12 and 3.13). It
# calls ``cache[job]._set(i, obj)``, which calls the callback *before* it
# marks the result ready, inside ``try: ... except KeyError: pass``:
#
# * any other exception ends the thread (its traceback goes to stderr). No
#   result of this pool is delivered any more: ``get()`` without a timeout
#   waits for ever, and ``terminate()`` raises ``AssertionError`` because
#   results are pending with no thread to receive them, as in
#   :ref:`sphx_glr_gallery_pools_plot_02_unpicklable_exception.py`;
# * a ``KeyError`` is taken for the pool's own "job already gone" case and
#   swallowed: the thread goes on, the pool works, but this one result is
#   never marked ready, so its ``get()`` waits for ever, nothing is printed
#   anywhere, and since the job stays pending, ``close()`` followed by
#   ``join()`` never returns either; only ``terminate()`` (or leaving a
#   ``with`` block) ends the pool.
#
# An executor is safer here: a ``Future.add_done_callback`` callback that
# raises is logged (``exception calling callback for <Future ...>``) and
# ignored, and the executor goes on (``Future._invoke_callbacks`` in
# ``concurrent/futures/_base.py``, CPython 3.11 to 3.13).
#
# The fixes, and a helper to copy
# -------------------------------
# For (a), either of two. ``apply_async``, ``map_async`` and
# ``starmap_async`` take an ``error_callback``, called in the parent with
# the exception; it runs in the pool's result thread, so keep it short and
# never let it raise (see (c)). Or keep every result and ask each for its
# value with a bounded wait: ``gather`` below does that, and raises one
# ``ExceptionGroup`` (Python 3.11+) with every failure, each noted with its
# task, rather than stopping at the first.


def load_user(user_id):
    if user_id == 3:
        raise LookupError(f"no user {user_id}")
    return {"id": user_id}


USERS = range(5)


def gather(pool, function, items, timeout=60):
    """``function(item)`` for every item, in ``pool``: the results in order, or
    an ExceptionGroup of every failure. Every failure is reported unless a
    result times out, which raises TimeoutError at once; no wait is unbounded."""
    pending = [pool.apply_async(function, (item,)) for item in items]
    deadline = time.monotonic() + timeout
    results, failures = [], []
    for item, result in zip(items, pending, strict=True):
        try:
            results.append(result.get(max(0.0, deadline - time.monotonic())))
        except multiprocessing.TimeoutError:
            raise TimeoutError(f"{function.__name__}({item!r}): no result") from None
        except Exception as error:
            error.add_note(f"raised by {function.__name__}({item!r})")
            failures.append(error)
    if failures:
        raise ExceptionGroup(f"{len(failures)} of {len(items)} tasks failed", failures)
    return results


# %%
# For (b): the child sends its exception back through a pipe, with its
# traceback as a note (notes travel with a pickled exception), and the parent
# raises it. The exception must be picklable, and rebuildable:
# :ref:`sphx_glr_gallery_pools_plot_02_unpicklable_exception.py`.


def report_to(sender, target, *args):
    """In the child: run ``target(*args)``; send back None or its exception."""
    try:
        target(*args)
    except Exception as error:
        error.add_note(f"in the child process:\n{traceback.format_exc()}")
        sender.send(error)
        sys.exit(1)
    sender.send(None)


def run_in_process(context, target, *args, timeout=60):
    """Run ``target(*args)`` in a new process; raise what it raised there."""
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=report_to, args=(sender, target, *args))
    child.start()
    sender.close()  # the child holds the only sending end now
    try:
        if not receiver.poll(timeout):
            child.terminate()
            raise TimeoutError(f"{target.__name__} ran past {timeout} s")
        error = receiver.recv()
    except EOFError:  # it died before sending: a crash, os._exit(), a signal
        error = ChildProcessError(f"{target.__name__} ended without a report")
    finally:
        receiver.close()
        child.join(timeout)
    if error is not None:
        raise error


# %%
# For (c): a callback that cannot raise. ``guarded`` keeps the callback's
# exception (a list here; a log in a real program) instead of letting it
# reach the pool's result thread.


def guarded(callback, failures):
    """``callback``, with any exception it raises kept in ``failures``."""

    def call(value):
        try:
            callback(value)
        except Exception as error:  # KeyError too: the pool would swallow it
            failures.append(error)

    return call


def save(result):  # the callbacks of the second program
    raise RuntimeError(f"cannot save {result}")


def add_to_total(result):
    totals = {}
    totals["alice"] += result


# %%
# All three at work:

if __name__ == "__main__":
    context = multiprocessing.get_context(method)
    child_note = ""
    try:
        run_in_process(context, load_user, 3)
        from_child = "no error"
    except LookupError as error:
        from_child = repr(error)
        child_note = error.__notes__[0]
    with context.Pool(2) as pool:
        errors = []
        with_callback = [
            pool.apply_async(load_user, (user_id,), error_callback=errors.append)
            for user_id in USERS
        ]
        for result in with_callback:
            result.wait(timeout=60)  # the callback has run once the result is ready
        notes = []
        try:
            gather(pool, load_user, USERS)
            gathered = "no error"
        except ExceptionGroup as group:
            gathered = f"ExceptionGroup: {group.message}: {group.exceptions!r}"
            notes = group.exceptions[0].__notes__
        callback_failures = []
        callbacks_done = [
            pool.apply_async(abs, (-number,), callback=guarded(callback, callback_failures))
            for number, callback in ((3, save), (4, add_to_total))
        ]
        after_them = pool.apply_async(abs, (-5,)).get(timeout=60)
        callbacks_ready = [result.get(timeout=60) for result in callbacks_done]
    print("error_callback received:", [repr(error) for error in errors])
    print("gather:", gathered)
    print("  note:", notes)
    print("run_in_process(load_user, 3) raised:", from_child)
    note_end = child_note.strip().splitlines()[-1] if child_note else "no note"
    print("  its note ends:", note_end)
    print("guarded callbacks: results", callbacks_ready, "and the next task's:", after_them)
    print("  kept:", sorted(repr(error) for error in callback_failures))

# %%
# What happened
# -------------

if __name__ == "__main__":
    silent = error_lines(before_process) == []
    exit_only = "Process: the parent sees exitcode 1" in lost_out
    pool_stuck = "its result ready: False, the next task's: False" in callbacks_out
    swallowed = "its result ready: False, the next task's: True" in callbacks_out
    reproduced = silent and exit_only and pool_stuck and swallowed
    fixed = (
        gathered.startswith("ExceptionGroup: 1 of 5 tasks failed")
        and from_child == "LookupError('no user 3')"
        and callbacks_ready == [3, 4]
        and len(callback_failures) == 2
    )
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (no get(): nothing "
        "raised or printed; Process: exit code 1 only; callback: pool stuck, or one "
        "result lost silently)"
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} (gather: 1 of 5 failed; the child's "
        "LookupError raised in the parent; guarded callbacks: every result)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Where a worker's exception went",
        [
            Observation("apply_async, no get()", "nowhere", not silent),
            Observation("Process target", "exit code 1", not exit_only),
            Observation("callback raised", "pool stuck", not pool_stuck),
            Observation("the fixes", "all raised in the parent", fixed),
        ],
    )
    assert reproduced, (lost_out, lost_err, callbacks_out, callbacks_err)
    assert fixed, (gathered, from_child, callbacks_ready, callback_failures)
    assert error_lines(during_process)[0].startswith("Process ")
    assert error_lines(during_process)[-1] == "LookupError: no user 3"
    assert errors and repr(errors[0]) == "LookupError('no user 3')" and len(errors) == 1
    stuck_lines = error_lines(callbacks_err)
    assert stuck_lines[0].endswith("(_handle_results):"), stuck_lines
    assert stuck_lines[1:] == ["RuntimeError: cannot save 9"], stuck_lines
    assert "AssertionError: Cannot have cache with result_ha" in callbacks_out
    assert callbacks_out.count("terminate(): returned") == 1
    assert notes == ["raised by load_user(3)"]
    assert note_end == "LookupError: no user 3"
    assert not multiprocessing.active_children()
