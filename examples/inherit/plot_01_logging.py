"""
Logging from workers: records lost, or cut into each other
==========================================================

The parent configured logging, but its workers' ``logger.info(...)`` lines are
missing from the log, and their warnings reach the terminal without the
configured format. Or, under ``fork``, the lines are there but long ones come
out cut into pieces of each other. This page shows what a worker's logger
holds under each start method, measures what several processes writing one
stream do to long records, and fixes both with a ``QueueHandler`` in every
worker and one ``QueueListener`` in the parent: every record arrives once,
whole, and in order.
"""

# %%
# What a worker's logger holds
# ----------------------------
# The parent logs to a file, through the logger ``app``, at level ``INFO``,
# configured under ``if __name__ == "__main__":`` as most programs do. Each
# worker task logs one ``INFO`` and one ``WARNING`` record with the same logger,
# and reports the logger's handlers, its effective level, and what it wrote on
# the worker's ``stderr`` (captured in the worker).

import collections
import contextlib
import io
import logging
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

FORMAT = "%(processName)s %(levelname)s %(message)s"
WAIT = 60  # seconds: a bound a working run never reaches


def log_from_worker(item):
    log = logging.getLogger("app")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        log.info("item %d: info", item)
        log.warning("item %d: warning", item)
    handlers = [type(handler).__name__ for handler in log.handlers]
    return handlers, logging.getLevelName(log.getEffectiveLevel()), stderr.getvalue()


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    directory = tempfile.TemporaryDirectory()
    log_path = Path(directory.name, "app.log")
    app = logging.getLogger("app")
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter(FORMAT))
    app.addHandler(file_handler)
    app.setLevel(logging.INFO)
    app.propagate = False
    app.info("parent: started")
    with context.Pool(2) as pool:
        views = pool.map(log_from_worker, range(2))
    pool.join()
    app.removeHandler(file_handler)
    file_handler.close()
    app.setLevel(logging.NOTSET)
    app.propagate = True
    handlers, level, worker_stderr = views[0]
    print(f"in a worker, logger 'app' has handlers {handlers}, level {level}")
    print("the worker's stderr got:", repr(worker_stderr) if worker_stderr else "nothing")
    logged = log_path.read_text().splitlines()
    from_workers = [line for line in logged if not line.startswith("MainProcess ")]
    worker_records = 2 * len(views)
    print(
        f"the parent's log file: {len(logged) - len(from_workers)} record from the ", end=""
    )
    print(f"parent, {len(from_workers)} of {worker_records} from the workers")

# %%
# Why
# ---
# ``spawn`` and ``forkserver`` workers are new interpreters: they import your
# module, but the code under ``if __name__ == "__main__":`` does not run there,
# so their logging is as Python starts it. The logger ``app`` has no handler
# and its effective level is the root logger's ``WARNING``: the ``INFO``
# record is dropped. The ``WARNING`` record finds no handler anywhere up the
# hierarchy, so ``Logger.callHandlers`` gives it to ``logging.lastResort``, a
# handler that writes the bare message, without your format, to ``sys.stderr``
# (``logging/__init__.py``, 3.11 to 3.13). The module-level functions, such as
# ``logging.warning(...)``, behave differently: when the root logger has no
# handler they call ``basicConfig()`` first, and print ``WARNING:root:...``.
#
# A ``fork`` worker is a copy of the parent: it has the parent's loggers, with
# their levels and their handlers, and each handler's open file. Its records
# reach the file, written by the worker itself
# (:ref:`sphx_glr_gallery_start_methods_plot_01_runtime_state.py` shows the
# rest of what a ``fork`` worker inherits). ``fork`` was Linux's default up to
# Python 3.13; ``forkserver`` is its default from 3.14, and macOS and Windows
# use ``spawn``: code whose workers logged fine on Linux loses their records
# there.
#
# Several processes, one stream
# -----------------------------
# Every process that holds a handler writes to its stream itself: under
# ``fork``, the handlers it inherited; under ``spawn`` and ``forkserver``, the
# ones a worker sets up by calling ``logging.basicConfig(...)``, the usual
# first fix. This program does that. Its parent logs to ``stderr`` and to
# ``app.log``; six tasks, run by three workers that start together, each log 5
# records of 100,000 characters (a long traceback or a large payload).

PROGRAM = """
import logging, logging.handlers, multiprocessing, os, sys

WORKERS, TASKS, RECORDS = 3, 6, 5
MODE, SIZE = sys.argv[1], int(sys.argv[2])
FORMAT = "%(processName)s %(message)s"


def handlers():
    return [logging.StreamHandler(sys.stderr), logging.FileHandler("app.log")]


def configure_worker(ready, queue):
    if MODE == "basicConfig":
        logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers())
    elif MODE == "QueueHandler added":
        logging.getLogger().addHandler(logging.handlers.QueueHandler(queue))
    else:
        logging.getLogger().handlers = [logging.handlers.QueueHandler(queue)]
    logging.getLogger().setLevel(logging.INFO)
    ready.wait(timeout=60)


def task(number):
    for record in range(RECORDS):
        logging.getLogger("app").info("task %d record %d %s", number, record, "x" * SIZE)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers())
    queue = None if MODE == "basicConfig" else context.Queue()
    ready = context.Barrier(WORKERS)
    with context.Pool(WORKERS, configure_worker, (ready, queue)) as pool:
        if queue is not None:
            listener = logging.handlers.QueueListener(queue, *logging.getLogger().handlers)
            listener.start()
        pool.map(task, range(TASKS), chunksize=1)
        pool.close()
        pool.join()
    if queue is not None:
        listener.stop()
        queue.close()
        queue.join_thread()
    logging.shutdown()
"""

TASKS, RECORDS, SIZE = 6, 5, 100_000


def run_program(mode, size=SIZE):
    """Run PROGRAM; return its stderr and its app.log."""
    with tempfile.TemporaryDirectory() as workdir:
        Path(workdir, "program.py").write_text(PROGRAM)
        env = {**os.environ, "MPGUIDE_START_METHOD": method}
        done = subprocess.run(
            [sys.executable, "program.py", mode, str(size)],
            capture_output=True,
            text=True,
            env=env,
            cwd=workdir,
            timeout=WAIT,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr, Path(workdir, "app.log").read_text()


def read_records(text, size=SIZE):
    """Count the whole records in ``text`` and the lines that are not one.

    Returns (whole, broken, copies of each (task, record), record numbers of each
    task in the order they appear).
    """
    whole = re.compile(rf"\S+ task (\d+) record (\d+) x{{{size}}}")
    copies, order, broken = collections.Counter(), collections.defaultdict(list), 0
    for line in text.splitlines():
        match = whole.fullmatch(line)
        if match is None:
            broken += 1
            continue
        task, record = int(match.group(1)), int(match.group(2))
        copies[task, record] += 1
        order[task].append(record)
    return sum(copies.values()), broken, copies, order


def until_broken(rounds=3):
    """Run PROGRAM with long records until a line on stderr breaks, at most
    ``rounds`` times (a busy machine can keep the workers from overlapping)."""
    for attempt in range(1, rounds + 1):
        stderr_text, file_text = run_program("basicConfig")
        if read_records(stderr_text)[1]:
            return stderr_text, file_text, attempt
    return stderr_text, file_text, rounds


if __name__ == "__main__":
    expected = TASKS * RECORDS
    stderr_text, file_text, attempt = until_broken()
    on_pipe, broken_on_pipe, _, _ = read_records(stderr_text)
    in_file, broken_in_file, _, _ = read_records(file_text)
    print(f"stderr (a pipe): {on_pipe} of {expected} records whole, ", end="")
    print(f"{broken_on_pipe} lines broken (round {attempt})")
    print(f"app.log: {in_file} of {expected} records whole, {broken_in_file} lines broken")

# %%
# A handler writes a record with one ``write()`` of the formatted line
# (``StreamHandler.emit``, 3.11 to 3.13). A file opened for appending, as
# ``FileHandler`` does by default, takes each ``write()`` whole at its end:
# measured here on a local Linux file system, nothing broke. A pipe or a
# stream socket (what ``stderr`` is under Docker or a CI runner, under
# systemd's journal, or with ``2>&1 | tee``) is different: a pipe takes a write
# of up to ``select.PIPE_BUF`` bytes whole (a socket promises nothing); a
# longer one is written in pieces as the reader makes room, and other
# processes' pieces land between them. Short records stay whole:

if __name__ == "__main__":
    import select

    short = 1000
    short_text, _ = run_program("basicConfig", size=short)
    short_whole, short_broken, _, _ = read_records(short_text, size=short)
    print(f"select.PIPE_BUF: {select.PIPE_BUF} bytes")
    print(
        f"records of {short} characters on stderr: {short_whole} of {expected} whole, ",
        end="",
    )
    print(f"{short_broken} broken")

# %%
# The whole records in ``app.log`` are a property of local files on Linux, not
# a promise: the logging documentation says that logging to one file from
# several processes is not supported (:ref:`multiple-processes`); on NFS,
# appends from several processes can overwrite each other (the ``O_APPEND``
# entry of Linux's ``open(2)`` manual page); and a ``RotatingFileHandler`` in
# each process rotates the file on its own (``doRollover`` renames it), while
# the other processes go on writing to the renamed file.
#
# Fix: one writer, fed by a queue
# -------------------------------
# Each worker's *only* handler is a ``logging.handlers.QueueHandler`` on a
# ``multiprocessing`` queue, set by the pool's initializer; in the parent a
# ``QueueListener`` takes the records off the queue and hands them to the real
# handlers, in one thread of one process. ``QueueHandler.prepare`` formats the
# message in the worker and drops what may not pickle (``args``, ``exc_info``,
# after putting the traceback's text into the message), and the record keeps
# its ``processName``, so the listener's format still names the worker.
#
# Two details in ``PROGRAM`` matter. The initializer *replaces* the root
# logger's handlers: a ``fork`` worker inherited the parent's, and a
# ``QueueHandler`` added beside them means each record is written twice, once
# by the worker and once by the listener (measured below). And the parent
# calls ``pool.close()`` and ``pool.join()`` before stopping the listener: a
# worker exits only after its queue has sent every record (see
# :ref:`sphx_glr_gallery_inherit_plot_03_join_before_drain.py`), whereas
# leaving the ``with`` block first would ``terminate()`` the workers
# (``Pool.__exit__`` in ``multiprocessing/pool.py``): records still in a
# worker's buffer would be lost, and a worker killed while writing leaves the
# queue's lock held, so ``listener.stop()`` and the program's exit can hang for
# ever. The listener starts after the pool, so that a ``fork`` worker copies no
# running thread of the parent's. The initializer replaces the *root* logger's
# handlers only: under ``fork``, a handler the parent put on another logger
# (one with ``propagate = False``, as ``app`` above) stays live in each worker,
# so remove those too, or configure only the root logger in the parent.

if __name__ == "__main__":
    fixed_stderr, fixed_file = run_program("QueueHandler")
    fixed = {}
    for sink, text in (("stderr", fixed_stderr), ("app.log", fixed_file)):
        whole, broken, copies, order = read_records(text)
        once = sorted(copies) == [(t, r) for t in range(TASKS) for r in range(RECORDS)]
        once = once and set(copies.values()) == {1}
        in_order = all(numbers == sorted(numbers) for numbers in order.values())
        fixed[sink] = whole == expected and broken == 0 and once and in_order
        print(f"QueueHandler, {sink}: {whole} of {expected} records whole, ", end="")
        print(f"{broken} broken, each once: {once}, in order in each task: {in_order}")
    _, added_file = run_program("QueueHandler added")
    _, _, added_copies, _ = read_records(added_file)
    copies_seen = sorted(set(added_copies.values()))
    print(
        f"QueueHandler added, not replacing the handlers: copies of a record {copies_seen}"
    )
    directory.cleanup()

# %%
# The copy-paste version of this fix is the recipe
# :ref:`recipe-logging-from-workers`. With
# ``concurrent.futures.ProcessPoolExecutor``, pass the same ``initializer`` and
# ``initargs``; leaving its ``with`` block waits for the workers to exit. Its
# workers start at the first ``submit()`` (all of them, under ``fork``), not
# when it is created: start the listener after that call.
#
# What happened
# -------------

if __name__ == "__main__":
    lost = worker_records - len(from_workers)
    reproduced = lost > 0 or broken_on_pipe > 0
    works = all(fixed.values())
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (workers' records in "
        f"the parent's log: {len(from_workers)} of {worker_records}; long records "
        f"broken on a shared pipe: {broken_on_pipe} of {expected} lines)"
    )
    print(
        f"fix works: {'yes' if works else 'no'} (QueueHandler: {expected} of {expected} "
        "records, whole, once, in order)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"Logging from {method} workers",
        [
            Observation(
                label="workers' records in the file",
                result=f"{len(from_workers)} of {worker_records}",
                ok=lost == 0,
                fraction=len(from_workers) / worker_records,
            ),
            Observation(
                label="long records on one pipe",
                result=f"{on_pipe} of {expected} whole",
                ok=broken_on_pipe == 0,
                fraction=on_pipe / expected,
            ),
            Observation(
                label="through a QueueListener",
                result=f"{expected} of {expected} whole" if works else "failed",
                ok=works,
                fraction=1.0 if works else 0.0,
            ),
        ],
    )
    fresh_interpreter = method in ("spawn", "forkserver")
    if fresh_interpreter:
        assert handlers == [] and level == "WARNING" and not from_workers
        assert worker_stderr == "item 0: warning\n"
    else:
        assert handlers == ["FileHandler"] and level == "INFO"
        assert worker_stderr == "" and len(from_workers) == worker_records
    assert broken_on_pipe > 0 and broken_in_file == 0 and in_file == expected
    assert short_whole == expected and short_broken == 0
    assert works and reproduced
    assert copies_seen == ([1] if fresh_interpreter else [2])
    assert not multiprocessing.active_children()
