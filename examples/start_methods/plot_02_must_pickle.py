"""
What must now pickle: a process's target and arguments
======================================================

Under ``fork``, ``Process(target=f, args=...)`` hands ``f`` and its arguments
to the child by copying memory: nothing is pickled, so anything works. Under
``spawn`` and ``forkserver`` the ``Process`` object itself is pickled and sent
to a fresh interpreter, so ``start()`` fails for lambdas, local functions and
closures, bound methods of objects holding a lock, open files, thread locks,
generators and database connections. ``Pool`` and ``ProcessPoolExecutor``
pickle every task under every start method, so there nothing changes. The fix
is to send what *recreates* the thing: a top-level function, a path, a name.
"""

# %%
# Reproduce
# ---------
# Each target below is started once under ``fork`` and once under ``spawn``.

import functools
import multiprocessing
import os
import sqlite3
import tempfile
import threading
from pathlib import Path


class Counter:
    """An object with a thread lock: its bound methods cannot be pickled."""

    def __init__(self):
        self.lock = threading.Lock()

    def run(self):
        with self.lock:
            pass


def use(resource):
    """A top-level target: it touches what it was given."""
    if hasattr(resource, "read"):
        resource.read()
    elif hasattr(resource, "execute"):
        resource.execute("select 1")
    elif hasattr(resource, "acquire"):
        with resource:
            pass
    elif hasattr(resource, "__iter__"):
        list(resource)


def make_local_function(factor):
    def scaled():
        return factor * 2  # a closure over factor

    return scaled


def logged(function):
    """A decorator that keeps the function's name (``functools.wraps``)."""

    @functools.wraps(function)
    def wrapper(*args):
        return function(*args)

    return wrapper


def report():
    pass


report_logged = logged(report)  # the wrapper, kept under another name


class Point:
    pass


point_from_before = Point()


class Point:  # defined again, as running a notebook cell twice does
    pass


def start_and_join(context, target, args=()):
    """Start one process; return "ran" or the error that start() raised."""
    process = context.Process(target=target, args=args)
    try:
        process.start()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    process.join(60)
    return "ran" if process.exitcode == 0 else f"exit code {process.exitcode}"


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    workspace = tempfile.TemporaryDirectory()
    notes = Path(workspace.name, "notes.txt")
    notes.write_text("a note\n")
    database = Path(workspace.name, "app.db")

    open_file = notes.open()
    connection = sqlite3.connect(database)
    cases = {
        "a lambda": (lambda: None, ()),
        "a local function (closure)": (make_local_function(3), ()),
        "a decorated function under another name": (report_logged, ()),
        "an object of a class defined again": (use, (point_from_before,)),
        "a bound method of an object with a lock": (Counter().run, ()),
        "an open file": (use, (open_file,)),
        "a threading.Lock": (use, (threading.Lock(),)),
        "a generator": (use, ((n for n in range(3)),)),
        "a sqlite3 connection": (use, (connection,)),
    }
    outcomes = {}
    for name, (target, args) in cases.items():
        under_fork = start_and_join(
            context=multiprocessing.get_context("fork"), target=target, args=args
        )
        under_spawn = start_and_join(
            context=multiprocessing.get_context("spawn"), target=target, args=args
        )
        outcomes[name] = (under_fork, under_spawn)
        print(f"{name}:\n    fork: {under_fork}\n    spawn: {under_spawn}")
    open_file.close()
    connection.close()

# %%
# A pool is different: its tasks travel through a queue, pickled, under every
# start method. A lambda fails there under ``fork`` too, so code that used
# pools has less to fix than code that started processes itself.

if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(1) as pool:
        try:
            pool_outcome = f"ran: {pool.apply(lambda: 'done')}"
        except Exception as error:
            pool_outcome = f"{type(error).__name__}: {error}"
    print("a lambda sent to a fork Pool:", pool_outcome)

# %%
# Why
# ---
# ``spawn`` and ``forkserver`` pickle the ``Process`` object, target and
# arguments included. A function pickles as its module and name, so a lambda,
# a nested function or a closure cannot: there is no name to look up. Open
# files, locks, generators and connections are pickled by value, and have no
# value that means anything in another process. The message names the culprit;
# its wording varies between Python versions.

# %%
# Fix: send what recreates it
# ---------------------------
# A top-level function (with :func:`functools.partial` for bound arguments), the
# path of the file or database (each worker opens its own), and a
# ``multiprocessing`` lock from the same context, which may be passed to
# ``Process``. A generator's items go in a list. A decorated function pickles
# when the module holds it under the name ``functools.wraps`` gave it: decorate
# the definition (``@logged``) instead of keeping the wrapper under a new name,
# which pickle cannot find ("it's not the same object as ``__main__.report``").
# The same check refuses an object whose class was defined again after it was
# made, as running a notebook cell twice does: make the object again.


@logged
def summary():
    pass


def read_notes(path):
    Path(path).read_text()


def query(database_path):
    with sqlite3.connect(database_path) as connection:
        connection.execute("select 1")
    connection.close()


def scaled(factor):
    return factor * 2


if __name__ == "__main__":
    context = multiprocessing.get_context(method)
    fixes = {
        "functools.partial of a top-level function": (functools.partial(scaled, 3), ()),
        "the file's path": (read_notes, (str(notes),)),
        "the database's path": (query, (str(database),)),
        "a lock from the context": (use, (context.Lock(),)),
        "the generator's items": (use, (list(n for n in range(3)),)),
        "the decorated definition (@logged)": (summary, ()),
        "the object made again": (use, (Point(),)),
    }
    fixed = {
        name: start_and_join(context=context, target=target, args=args)
        for name, (target, args) in fixes.items()
    }
    for name, outcome in fixed.items():
        print(f"{name} under {method}: {outcome}")
    workspace.cleanup()

# %%
# ``python -m mpguide lint`` finds a lambda and a nested function given to a process
# without running it (rule MPG001, :doc:`/reference/lint`), and prints nothing for a
# top-level function:

from mpguide.lint import lint_snippet

BROKEN = """\
import multiprocessing


def main():
    def greet():
        print("hello")

    multiprocessing.Process(target=greet).start()
    multiprocessing.Process(target=lambda: print("hello")).start()
"""
FIXED = """\
import multiprocessing


def greet():
    print("hello")


def main():
    multiprocessing.Process(target=greet).start()
"""

if __name__ == "__main__":
    lint_broken, lint_fixed = lint_snippet(BROKEN), lint_snippet(FIXED)
    print(*lint_broken, sep="\n")
    print("for the fix:", lint_fixed or "nothing")
    assert len(lint_broken) == 2 and all(" MPG001 " in line for line in lint_broken)
    assert lint_fixed == []

# %%
# In the error index: :ref:`error-not-the-same-object`, :ref:`error-generator`,
# :ref:`error-class-defined-again`, and a class from a module loaded from its
# file's path, which does not pickle at all: pickle saves it by a module name
# that no process, the sender included, can import:
# :ref:`error-dynamically-loaded-module`.

# %%
# What happened
# -------------

if __name__ == "__main__":
    broken = [name for name, (fork, spawn) in outcomes.items() if fork == "ran" != spawn]
    reproduced = len(broken) == len(cases)
    ran = sum(outcome == "ran" for outcome in fixed.values())
    works = ran == len(fixes)
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} "
        f"({len(broken)} of {len(cases)} targets ran under fork and failed under spawn)"
    )
    print(
        f"fix works: {'yes' if works else 'no'} "
        f"({ran} of {len(fixes)} replacements ran under {method})"
    )
    from mpguide.figures import Observation, draw_outcome

    ran_under = {
        start: sum(pair[index] == "ran" for pair in outcomes.values())
        for index, start in enumerate(("fork", "spawn"))
    }
    draw_outcome(
        "Targets that must pickle",
        [
            *(
                Observation(
                    label=f"ran under {start}",
                    result=f"{count} of {len(outcomes)} targets",
                    ok=count == len(outcomes),
                    fraction=count / len(outcomes),
                )
                for start, count in ran_under.items()
            ),
            Observation(
                label=f"replacements under {method}",
                result=f"{ran} of {len(fixes)} ran",
                ok=works,
                fraction=ran / len(fixes),
            ),
        ],
    )
    assert reproduced and works
