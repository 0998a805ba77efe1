"""
A method as the target: "cannot pickle '_thread.RLock' object" and its cousins
==============================================================================

A class runs its work in processes: ``Process(target=self.fetch)`` or
``pool.map(self.fetch, items)``. A bound method pickles as its object and the
method's name, so the whole object travels with every task: its pool, its
logging handler, its Manager. Whichever of those cannot be pickled names the
error: ``pool objects cannot be passed between processes or pickled``,
``cannot pickle '_thread.RLock' object``, ``cannot pickle
'weakref.ReferenceType' object``, ``Pickling an AuthenticationString object is
disallowed``. This page provokes each, shows which start methods raise which,
and fixes it by sending only the data a task needs.
"""

# %%
# A class that holds what cannot travel
# -------------------------------------
# ``Fetcher`` holds one of three things a real class often does: a pool it
# reuses, a logging handler, a Manager. ``fetch`` needs none of them.

import logging
import multiprocessing
import os
import sys
import threading
import traceback
import warnings

WAIT = 60  # seconds: a bound that a working run never reaches
HELD = ("a Pool", "a logging handler", "a Manager")


class Fetcher:
    def __init__(self, context, held):
        self.context = context
        self.held = held
        if held == "a Pool":
            self.resource = context.Pool(1)
        elif held == "a logging handler":
            self.resource = logging.StreamHandler()
        else:
            self.resource = context.Manager()
        self.factor = 2

    def fetch(self, item):
        return item * self.factor

    def in_a_process(self):
        child = self.context.Process(target=self.fetch, args=(1,))
        child.start()
        child.join(timeout=WAIT)
        return f"exit code {child.exitcode}"

    def in_a_pool(self):
        with self.context.Pool(1) as pool:
            return str(pool.map(self.fetch, [1, 2]))

    def close(self):
        if self.held == "a Pool":
            self.resource.close()
            self.resource.join()
        elif self.held == "a Manager":
            self.resource.shutdown()


def outcome(call):
    """What ``call()`` returned, or the last line of what it raised."""
    try:
        return call()
    except Exception as error:
        return traceback.format_exception_only(type(error), error)[-1].strip()


# %%
# Reproduce
# ---------

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    broken = {}
    fork_warned = []
    threaded_already = threading.active_count() > 1  # as a Jupyter kernel is
    for held in HELD:
        fetcher = Fetcher(context, held)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DeprecationWarning)
            broken[held] = (outcome(fetcher.in_a_process), outcome(fetcher.in_a_pool))
        if any("multi-threaded" in str(warning.message) for warning in caught):
            print(f"holding {held}: fork warned that the process has threads")
            fork_warned.append(held)
        fetcher.close()
        print(f"holding {held}: Process: {broken[held][0]}")
        print(f"holding {held}: Pool.map: {broken[held][1]}")

# %%
# Why
# ---
# ``pickle`` saves a bound method as "``getattr(obj, name)``" (its
# ``__reduce__``), so ``obj`` is pickled with it, every attribute included.
# ``Pool.map`` pickles each task to send it through a pipe, under every start
# method. ``Process(target=...)`` is pickled only under ``spawn`` and
# ``forkserver``; a ``fork`` child gets a copy of the memory, so
# nothing is pickled and the method works. Then each held object fails in its
# own way:
#
# - a ``Pool`` refuses in its ``__reduce__`` (``multiprocessing/pool.py``);
# - a logging handler holds a ``threading.RLock`` (``Handler.createLock``);
# - a started Manager holds ``util.Finalize`` objects, which hold weak
#   references; before those, its authentication key (``AuthenticationString``)
#   refuses to be pickled unless a process is being started
#   (``AuthenticationString.__reduce__`` in ``multiprocessing/process.py``),
#   which is why ``Pool.map`` names the key and ``Process`` the weak reference.
#
# Under ``fork``, a held ``Pool`` also means threads (the pool's own), so from
# Python 3.12 ``fork()`` warns, as above (a ``DeprecationWarning``, which
# Python's default filters hide outside ``python -X dev``): see
# :ref:`sphx_glr_gallery_start_methods_plot_03_fork_with_threads.py`. A
# program that already runs threads, as a Jupyter kernel does, triggers the
# warning at every fork (this page records them all); where it is shown, as
# under ``-X dev``, it is printed once, at the first. On 3.12, a fork right after
# a pool has ended may warn too, while that pool's threads are still exiting
# (``join()`` there returns before the system's thread is gone).
#
# The same happens to an object that holds an open file, a socket, a database
# connection or a GUI widget: see :doc:`/reference/errors` for each message.

# %%
# Fix: send only what the task needs
# ----------------------------------
# Make the task a module-level function and pass it the data, not the object
# that owns the pool. (A class can also define ``__getstate__`` to leave such
# attributes behind, but then every copy lacks them, and the next attribute
# someone adds may break it again.)


def fetch(item, factor):
    return item * factor


def fixed_in_a_process(context, factor):
    child = context.Process(target=fetch, args=(1, factor))
    child.start()
    child.join(timeout=WAIT)
    return f"exit code {child.exitcode}"


def fixed_in_a_pool(context, factor):
    with context.Pool(1) as pool:
        return str(pool.starmap(fetch, [(1, factor), (2, factor)]))


if __name__ == "__main__":
    fixed = (
        outcome(lambda: fixed_in_a_process(context, 2)),
        outcome(lambda: fixed_in_a_pool(context, 2)),
    )
    print(f"a function and the factor: Process: {fixed[0]}; Pool.starmap: {fixed[1]}")

# %%
# In the error index: :ref:`error-thread-rlock`.

# %%
# What happened
# -------------

if __name__ == "__main__":
    failures = sum(
        result.startswith(("TypeError", "NotImplementedError"))
        for pair in broken.values()
        for result in pair
    )
    print(
        f"failure reproduced: {'yes' if failures else 'no'} ({failures} of "
        f"{2 * len(HELD)} ways to run the method failed)"
    )
    works = fixed == ("exit code 0", "[2, 4]")
    print(f"fix works: {'yes' if works else 'no'} (a function and the data it needs)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "pool.map(self.fetch, ...)",
        [
            Observation(
                label=f"self holds {held.split()[-1]}",
                result=broken[held][1].split(":")[0],
                ok=not broken[held][1].startswith(("TypeError", "NotImplementedError")),
            )
            for held in HELD
        ]
        + [Observation(label="a function + data", result=fixed[1], ok=works)],
    )
    expected_pool = {
        "a Pool": "NotImplementedError: pool objects cannot be passed between processes "
        "or pickled",
        "a logging handler": "TypeError: cannot pickle '_thread.RLock' object",
        "a Manager": "TypeError: Pickling an AuthenticationString object is disallowed "
        "for security reasons",
    }
    expected_process = dict(expected_pool)
    expected_process["a Manager"] = (
        "TypeError: cannot pickle 'weakref.ReferenceType' object"
    )
    for held in HELD:
        in_process, in_pool = broken[held]
        assert in_pool == expected_pool[held], (held, in_pool)
        if method == "fork":
            assert in_process == "exit code 0", (held, in_process)
        else:
            assert in_process == expected_process[held], (held, in_process)
    fork_warns = method == "fork" and sys.version_info >= (3, 12)
    if not fork_warns:
        assert fork_warned == [], fork_warned
    elif threaded_already:
        assert fork_warned == list(HELD), fork_warned
    else:  # the held pool's threads; a later fork may still meet the last pool's
        assert fork_warned[0] == "a Pool", fork_warned
    assert works
    assert not multiprocessing.active_children()
