"""
A Celery task that starts a ``multiprocessing.Process``
=======================================================

A task running in a Celery prefork worker starts a ``multiprocessing.Process``
(itself, or through a library such as Ansible or scikit-learn), and it fails:
on Python 3 with ``AssertionError: daemonic processes are not allowed to have
children``, and in the older reports, on Python 2.7, with ``AttributeError:
'Process' object has no attribute '_authkey'``. This page runs a task in
billiard's pool, the pool Celery's prefork worker is, shows what
``multiprocessing`` sees there, explains both messages from the code of
CPython and billiard, and starts the task's process the way that works.
"""

# %%
# Reproduce
# ---------
# Celery's prefork pool (``AsynPool`` in ``celery/concurrency/asynpool.py``)
# is a ``Pool`` of billiard, Celery's fork of ``multiprocessing``. The page
# starts billiard's ``Pool``, whose way of creating workers ``AsynPool``
# inherits, with billiard's default start method, ``fork``, which Celery's
# prefork pool keeps on Linux; the task's own ``Process`` uses the page's
# start method. The task reports what ``multiprocessing.current_process()`` is in
# the worker, then starts a ``Process`` of the standard library's.

import multiprocessing
import os
import sys

import billiard  # pip install billiard (Celery installs it)

WAIT = 10  # seconds: a bound on every join

method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
method = method.get_start_method()


def close_stdin():
    """billiard's processes replace stdin with a file on os.devnull that
    nothing closes (``_bootstrap`` in billiard/process.py). These fork
    children end with ``os._exit``, so ``-X dev`` never reports it here;
    closed anyway, in case a process ends through the interpreter's
    shutdown."""
    sys.stdin.close()


def start_a_process():
    """What the task does: start a process of the standard library's."""
    child = multiprocessing.get_context(method).Process(target=abs, args=(-1,))
    child.start()  # in a daemonic worker, this raises
    child.join(timeout=WAIT)


def task():
    here = multiprocessing.current_process()
    lines = [f"current process: {type(here).__module__}.{type(here).__name__}"]
    lines.append(f"its daemon flag: {here.daemon}")
    try:
        start_a_process()
        lines.append("multiprocessing.Process: started")
    except AssertionError as error:
        lines.append(f"multiprocessing.Process: AssertionError: {error}")
    # The fix, below: a process of billiard's, whose start() has no such check.
    child = billiard.Process(target=close_stdin)
    child.start()
    child.join(timeout=WAIT)
    lines.append(f"billiard.Process exit code: {child.exitcode}")
    return lines


if __name__ == "__main__":
    print("start method:", method)  # the task's Process's
    with billiard.Pool(1, initializer=close_stdin) as pool:
        seen = pool.apply(task)
    for line in seen:
        print(line)

# %%
# Why
# ---
# billiard makes each process it starts the standard library's current
# process too: ``_set_current_process`` in ``billiard/process.py`` sets
# ``multiprocessing.process._current_process``, which the task's
# ``multiprocessing.current_process()`` returns (above: billiard's
# ``ForkProcess``). A new ``Process`` copies its settings from that object
# (``self._config = _current_process._config.copy()`` in
# ``BaseProcess.__init__``, ``multiprocessing/process.py``, 3.11 to 3.13),
# and billiard's pool marks its workers daemonic
# (``Pool._create_worker_process`` in ``billiard/pool.py``), so
# ``BaseProcess.start()`` refuses to start a child there (``assert not
# _current_process._config.get('daemon')``, 3.11 to 3.13): the same check,
# and the same reason, as a pool inside a pool,
# :ref:`sphx_glr_gallery_pools_plot_04_nested_pools.py`. That is the Python 3
# message (in the error index: :ref:`error-daemonic-children`).
#
# The older reports' ``AttributeError`` comes from the same copy on Python
# 2.7, where ``Process.__init__`` read ``_current_process._authkey``, which
# billiard's process class did not have until billiard 3.5.0.3
# (celery/celery#3634 ran Celery 4.0.0 with billiard 3.5.0.2, #4297 Celery
# 4.0.2; billiard's commit that added the ``_authkey`` alias closes #3634,
# and celery/billiard#202, in the same release, added ``_daemonic`` as an
# alias of the daemon flag, for 2.7's check that a daemonic process starts
# no children). That
# message is quoted from the reports, not produced here, where no Python 2.7
# runs; celery/billiard#168 shows the same cause on Python 3.4 as
# ``'Worker' object has no attribute '_config'``.
#
# Fix
# ---
# Start the task's processes with billiard (``billiard.Process``, or
# ``billiard.Pool``): ``BaseProcess.start`` in ``billiard/process.py`` has
# no such check, and above, the ``billiard.Process`` the same task started
# exited with code 0. Join them before the task returns: the check exists
# because a daemonic worker is terminated when its parent ends, and whatever
# it started would be left running; and the ``billiard.Process`` copies the
# worker's settings, so it is daemonic itself. Or run such tasks in a worker whose pool
# starts no processes (``--pool solo`` or ``--pool threads``), which, Celery's
# documentation says, gives up ``soft_timeout`` and ``max_tasks_per_child``.

if __name__ == "__main__":
    lines = dict(line.split(": ", 1) for line in seen)
    from mpguide.figures import Observation, draw_outcome

    refused = lines["multiprocessing.Process"].startswith("AssertionError")
    draw_outcome(
        "A task in a Celery prefork worker starts a process",
        [
            Observation(
                label="multiprocessing.Process",
                result="refused: daemonic worker" if refused else "started",
                ok=not refused,
            ),
            Observation(
                label="billiard.Process",
                result=f"exit code {lines['billiard.Process exit code']}",
                ok=lines["billiard.Process exit code"] == "0",
            ),
        ],
    )
    assert lines["current process"].startswith("billiard."), seen
    assert lines["its daemon flag"] == "True", seen
    assert lines["multiprocessing.Process"] == (
        "AssertionError: daemonic processes are not allowed to have children"
    ), seen
    assert lines["billiard.Process exit code"] == "0", seen
    assert not multiprocessing.active_children()
