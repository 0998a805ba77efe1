"""
Choosing the start method: contexts, not the global setting
===========================================================

``multiprocessing.set_start_method()`` sets one process-wide choice, once:
a second call raises ``RuntimeError: context has already been set``, and so
does the first call after anything has *used* the default. ``force=True``
overrides that, and with it every other part of the program that already
chose. ``multiprocessing.get_context(method)`` returns a context object that
sets no method globally (with one catch, shown below); pass it to ``Pool``,
``ProcessPoolExecutor`` and ``Manager``. Applications may set the global
method once, at the top of their main block; libraries must take a context,
never set one.
"""

# %%
# Reproduce: "context has already been set"
# -----------------------------------------
# Each program below runs in its own interpreter, so that this page's process
# keeps its own choice. In the first, a library sets the method when imported;
# in the second, the program asked for the method (which fixes the default)
# before setting it.

import multiprocessing
import os
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.managers import SyncManager
from pathlib import Path

PROGRAMS = {
    "eager_library.py": """
        import multiprocessing
        multiprocessing.set_start_method("spawn")  # a library choosing for everyone
    """,
    "library_first.py": """
        import multiprocessing
        import eager_library

        if __name__ == "__main__":
            multiprocessing.set_start_method("forkserver")
    """,
    "asked_first.py": """
        import multiprocessing

        if __name__ == "__main__":
            print("logging the method:", multiprocessing.get_start_method())
            multiprocessing.set_start_method("forkserver")
    """,
    "forceful_library.py": """
        import multiprocessing
        multiprocessing.set_start_method("spawn", force=True)
    """,
    "forced_later.py": """
        import multiprocessing

        SETTINGS = {"mode": "default"}

        def report_mode():
            print("a worker sees mode:", SETTINGS["mode"])

        if __name__ == "__main__":
            multiprocessing.set_start_method("fork")  # this program relies on fork
            SETTINGS["mode"] = "production"
            import forceful_library  # imported later, e.g. by a plugin system
            print("method after the import:", multiprocessing.get_start_method())
            worker = multiprocessing.Process(target=report_mode)
            worker.start()
            worker.join(60)
    """,
}


def run_program(project, name):
    """Run one program; return its output and its last error line, if any."""
    # Plain tracebacks, also from a notebook: Jupyter kernels set FORCE_COLOR,
    # which colours them from Python 3.13.
    done = subprocess.run(
        [sys.executable, name],
        cwd=project,
        env={**os.environ, "PYTHON_COLORS": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in done.stderr.splitlines() if "Error:" in line]
    return done.stdout.strip(), (errors[-1] if errors else "no error")


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    project_directory = tempfile.TemporaryDirectory()
    project = project_directory.name
    for name, code in PROGRAMS.items():
        Path(project, name).write_text(textwrap.dedent(code))
    _, library_first = run_program(project, "library_first.py")
    print("a library set it at import:", library_first)
    asked_output, asked_first = run_program(project, "asked_first.py")
    print(asked_output)
    print("asked before setting:", asked_first)

# %%
# Why
# ---
# The global setting lives in one object: ``set_start_method`` refuses once
# it holds a method, and ``get_start_method()``, ``Pool()``, ``Queue()`` or
# ``Manager()`` without a context fill it with the platform's default. A
# library that sets it at import time takes the decision from the application,
# and breaks any application that sets it too.

# %%
# ``force=True``: the override that breaks someone else
# ------------------------------------------------------
# ``force=True`` never raises, which is why it gets copied into libraries. The
# program below chose ``fork`` because it relies on its workers inheriting a
# setting; a module it imports later forces ``spawn``.

if __name__ == "__main__":
    forced_output, forced_error = run_program(project, "forced_later.py")
    print(forced_output)
    print("error:", forced_error)
    project_directory.cleanup()

# %%
# The program's own choice was silently replaced: its worker starts under
# ``spawn`` and sees the import-time default. (Objects created before the switch
# keep their old context, so a program can end up with both.) Use ``force=True``
# only in code that owns the whole process, such as a test suite's
# configuration, as ``pytest --mp-start-method`` does
# (:doc:`/reference/pytest-plugin`).

# %%
# Fix: pass a context
# -------------------
# ``get_context(method)`` sets no global method. Every API that starts
# processes takes one: ``context.Pool()``, ``ProcessPoolExecutor(mp_context=
# context)``, ``context.Manager()`` (or ``SyncManager(ctx=context)``),
# ``context.Process``, ``context.Queue()``, ``context.Lock()``. Each worker
# below reports the class of its own process object, which names the method
# that started it.


def process_class(_=None):
    return type(multiprocessing.current_process()).__name__


if __name__ == "__main__":
    context = multiprocessing.get_context(method)
    global_before = multiprocessing.get_start_method(allow_none=True)
    with context.Pool(1) as pool:
        pool_worker = pool.apply(process_class)
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as executor:
        executor_worker = executor.submit(process_class).result()
    with context.Manager() as manager:
        manager_works = manager.dict({"alice": 1})["alice"] == 1
    with SyncManager(ctx=context) as sync_manager:
        sync_manager_works = sync_manager.list([1])[:] == [1]
    global_after = multiprocessing.get_start_method(allow_none=True)
    print("context.Pool worker:", pool_worker)
    print("ProcessPoolExecutor(mp_context=context) worker:", executor_worker)
    print("context.Manager() and SyncManager(ctx=context) work:", manager_works)
    print("the global setting before and after:", global_before, "->", global_after)

# %%
# The catch: starting a ``spawn`` or ``forkserver`` process, even from a
# context, fills in the global default, because the child is told the parent's
# default method (``get_preparation_data()`` in ``multiprocessing/spawn.py``
# calls ``get_start_method()``, on 3.11 to 3.13). Run as a script, this page
# prints ``None -> None`` under ``fork`` and ``None -> fork`` (Linux's default
# before 3.14) under the others. (On this site the parent is the documentation
# build, where earlier pages may have filled it in already.) So an application
# that calls ``set_start_method`` must do so before starting anything.
#
# A library takes the context as a parameter (``mp_context=None`` meaning "the
# default", as :class:`~concurrent.futures.ProcessPoolExecutor` does). An
# application that wants one method everywhere calls
# ``multiprocessing.set_start_method(method)`` once, first thing in its
# ``if __name__ == "__main__":`` block. Opting back into ``fork`` is
# ``get_context("fork")`` for the one pool that needs it: acceptable on Linux
# when no thread is running at that moment (:doc:`plot_03_fork_with_threads`),
# and never on macOS, where ``fork`` can crash system libraries.

# %%
# What happened
# -------------

if __name__ == "__main__":
    already_set = "RuntimeError: context has already been set"
    reproduced = library_first == already_set == asked_first
    forced_away = "a worker sees mode: default" in forced_output
    expected_class = f"{method.capitalize().replace('server', 'Server')}Process"
    works = pool_worker == executor_worker == expected_class and manager_works
    works = works and sync_manager_works
    print(
        f"failure reproduced: {'yes' if reproduced and forced_away else 'no'} "
        f"(set_start_method raised twice; force=True replaced a program's fork)"
    )
    print(
        f"fix works: {'yes' if works else 'no'} "
        f"(a context gives {expected_class} workers to Pool, ProcessPoolExecutor, Manager)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Choosing the start method",
        [
            Observation(
                label="set_start_method, twice",
                result="RuntimeError" if reproduced else "accepted",
                ok=not reproduced,
            ),
            Observation(
                label="force=True",
                result="replaced fork" if forced_away else "no effect",
                ok=not forced_away,
            ),
            Observation(
                label="a context's Pool worker",
                result=pool_worker,
                ok=pool_worker == expected_class,
            ),
            Observation(
                label="a context's Manager",
                result="works" if manager_works else "fails",
                ok=manager_works,
            ),
        ],
    )
    assert reproduced and forced_away and works
