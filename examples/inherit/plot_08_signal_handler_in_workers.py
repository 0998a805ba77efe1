"""
A ``SIGTERM`` handler of the parent runs in its ``fork`` workers
================================================================

A program installs a handler for ``SIGTERM`` (or ``SIGINT``) that runs its
shutdown code: close the server, write the state, exit. It then starts
workers, and stops one with ``terminate()``, or a pool with
``Pool.terminate()``. Under ``fork`` the worker runs the parent's shutdown
code, in the worker, and exits as that code says instead of being killed.
This page reproduces it, shows why from CPython's code, and fixes it with a
handler that acts only in the process that installed it. POSIX only: Windows
has no ``fork``, and its ``terminate()`` runs no handler. An asyncio program's
``loop.add_signal_handler`` makes ``fork`` workers ignore ``terminate()``
(and, up to 3.11, a ``SIGTERM`` sent to a worker runs the program's own
callback, in the program):
:ref:`sphx_glr_gallery_inherit_plot_10_asyncio_signal_handlers.py`.
"""

# %%
# Reproduce
# ---------
# The parent's handler stands for its shutdown code: it says which process ran
# it (through a pipe) and exits with ``sys.exit(0)``. The parent installs it,
# starts a worker that waits, and terminates the worker once it is ready.

import multiprocessing
import os
import signal
import sys
import time

WAIT = 5.0  # seconds: a bound on every wait; each takes milliseconds
shutdown_log = None  # where the shutdown code says who ran it (a pipe's end)


def parent_shutdown(signum, frame):
    """The parent's shutdown code."""
    shutdown_log.send(os.getpid())
    sys.exit(0)


def wait_in_worker(ready):
    ready.set()
    time.sleep(WAIT)


def terminate_a_worker(context):
    """Start a worker, terminate it, and say which processes ran the
    shutdown code, and the worker's exit code."""
    global shutdown_log
    reader, shutdown_log = context.Pipe(duplex=False)
    ready = context.Event()
    worker = context.Process(target=wait_in_worker, args=(ready,))
    worker.start()
    ready.wait(WAIT)
    worker.terminate()
    worker.join(WAIT)
    ran_in = []
    while reader.poll(0.1):
        ran_in.append(reader.recv())
    reader.close()
    shutdown_log.close()
    return ran_in, worker.pid, worker.exitcode


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    signal.signal(signal.SIGTERM, parent_shutdown)
    ran_in, worker_pid, exitcode = terminate_a_worker(context)
    in_worker = worker_pid in ran_in
    print("the parent's shutdown code ran in the worker:", in_worker)
    print("the worker's exit code after terminate():", exitcode)

# %%
# Why
# ---
# ``terminate()`` sends ``SIGTERM`` to the worker's pid (``Popen._send_signal``
# in ``multiprocessing/popen_fork.py``, which the spawn and forkserver
# ``Popen`` classes inherit; ``Pool.terminate()`` calls it for each worker in
# ``_terminate_pool``, ``multiprocessing/pool.py``; 3.11 to 3.13). What the
# worker does with it is its own handler's business:
#
# - ``fork``: the worker is a copy of the parent, made by ``os.fork()`` in
#   ``Popen._launch`` (``popen_fork.py``), with the parent's signal
#   dispositions and its table of Python handlers. The child's interpreter
#   drops the signals caught but not yet handled and keeps the handlers
#   (``_PySignal_AfterFork`` in ``Modules/signalmodule.c``), and nothing on
#   the way to the target resets them (``BaseProcess._bootstrap`` in
#   ``multiprocessing/process.py``, 3.11 to 3.13). So ``SIGTERM`` runs the
#   parent's shutdown code in the worker, with the worker's copies of the
#   parent's objects, and the worker exits with the code that shutdown code
#   chose: 0 here, as if it had finished. A ``SIGINT`` handler is inherited
#   the same way, and ``Ctrl+C`` in a terminal sends ``SIGINT`` to every
#   process of the foreground group, workers included
#   (:ref:`sphx_glr_gallery_pools_plot_01_ctrl_c.py`).
# - ``spawn``: the worker is a new interpreter, with the default handlers.
#   It imports the main module as ``__mp_main__`` and does not run its
#   ``if __name__ == "__main__":`` block, where the handler was installed
#   here; ``SIGTERM``'s default action kills it (exit code ``-15``). A handler
#   installed at a module's top level would be installed again there, as the
#   child runs the module's code (``_fixup_main_from_path`` in
#   ``multiprocessing/spawn.py``).
# - ``forkserver``: the workers are forked from a server that is a new
#   interpreter too; it changes ``SIGCHLD`` and ``SIGINT`` for itself and puts
#   them back in each child (``main`` and ``_serve_one`` in
#   ``multiprocessing/forkserver.py``, 3.11 to 3.13), so the worker has the
#   defaults, as under spawn.

# %%
# Fix: a handler that acts only where it was installed
# ----------------------------------------------------
# The handler keeps the pid of the process that installed it. In any other
# process it puts the default action back and sends the signal again, so that
# a worker dies of ``SIGTERM`` as it would have without the parent's handler.
# It works under every start method and for every child the parent forks, a
# library's included, with no window in which the parent's shutdown code
# could still run in a worker.
# :ref:`sphx_glr_gallery_pools_plot_10_terminate_leaves_grandchildren.py`
# uses the same handler for a worker that stops its own children. Other ways:
# reset the handler first thing in the worker
# (``signal.signal(signal.SIGTERM, signal.SIG_DFL)`` in the target or a pool's
# ``initializer``), which leaves the parent's handler in place until then; or
# ``os.register_at_fork(after_in_child=...)`` to reset it in every fork child;
# or a start method that starts a new interpreter. Cost: one
# ``os.getpid()`` call per signal.


def only_in(owner_pid, shutdown):
    """A handler that runs ``shutdown`` in the process ``owner_pid`` only."""

    def handler(signum, frame):
        if os.getpid() != owner_pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        shutdown(signum, frame)

    return handler


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, only_in(os.getpid(), parent_shutdown))
    fixed_ran_in, fixed_pid, fixed_exitcode = terminate_a_worker(context)
    print("with the fix, the shutdown code ran in the worker:", fixed_pid in fixed_ran_in)
    print("with the fix, the worker's exit code:", fixed_exitcode)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

# %%
# What happened
# -------------

if __name__ == "__main__":
    print(
        f"failure reproduced: {'yes' if in_worker else 'no'} (the parent's shutdown "
        f"code ran in the worker: {in_worker}; its exit code {exitcode})"
    )
    if method != "fork":
        print(
            "depends on the start method: a fork worker is a copy of the parent, "
            "handlers included; spawn and forkserver workers start with the defaults"
        )
    fixed = fixed_ran_in == [] and fixed_exitcode == -signal.SIGTERM
    print(
        f"fix works: {'yes' if fixed else 'no'} (the worker died of SIGTERM, "
        f"exit code {fixed_exitcode}, without running the shutdown code)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "The parent's SIGTERM handler in a worker",
        [
            Observation(
                label="handler installed",
                result=f"ran in worker: {in_worker}, exit {exitcode}",
                ok=not in_worker,
            ),
            Observation(
                label="only in its process",
                result=f"ran in worker: {fixed_pid in fixed_ran_in}, exit {fixed_exitcode}",
                ok=fixed,
            ),
        ],
    )
    assert in_worker == (method == "fork")
    assert ran_in == ([worker_pid] if method == "fork" else [])
    assert exitcode == (0 if method == "fork" else -signal.SIGTERM)
    assert fixed
    assert not multiprocessing.active_children()
