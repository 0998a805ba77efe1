"""
Every worker draws the same random numbers
==========================================

A simulation runs its trials in a ``Pool``, and the trials of different
workers come out identical: each worker drew the same "random" numbers. This
page has three workers draw from each generator a program is likely to use,
under the start method in use, counts how many different numbers they got,
shows why each generator repeats or not, and fixes it with seeds that travel
with the tasks: different in every task, and the same again on the next run.
"""

# %%
# Reproduce
# ---------
# Three workers, one task each (a barrier holds every task until all three
# workers have one, so no worker takes two). Each task draws one number from
# Python's ``random`` module, from NumPy's legacy global state
# (``np.random.rand``), from a ``Generator`` that the module made at import
# (``RNG = np.random.default_rng()``), and from a ``Generator`` the parent made
# and passed to the task as its argument.

import multiprocessing
import os
import pickle
import random

import numpy as np

WORKERS = 3
WAIT = 60  # seconds: a bound that a working run never reaches
SEED = 20250601  # the run's one seed: choose it, print it, keep it with the results
RNG = np.random.default_rng()
GENERATORS = (
    "random.random()",
    "np.random.rand()",
    "RNG made at import",
    "Generator passed by the parent",
)


def wait_for_all_workers(barrier):
    global every_worker_started
    every_worker_started = barrier


def draw_from_each(passed_generator):
    """One number from each generator, as a task would draw them."""
    every_worker_started.wait(timeout=WAIT)
    return (random.random(), np.random.rand(), RNG.random(), passed_generator.random())


def in_workers(context, task, arguments, initializer=wait_for_all_workers):
    """Run ``task`` once on each of WORKERS new workers."""
    barrier = context.Barrier(WORKERS)
    with context.Pool(WORKERS, initializer, (barrier,)) as pool:
        return pool.map(task, arguments, chunksize=1)


def different_values(draws):
    """For each generator, how many different numbers the workers drew."""
    return dict(
        zip(
            GENERATORS,
            (len(set(column)) for column in zip(*draws, strict=True)),
            strict=True,
        )
    )


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    parent_generator = np.random.default_rng()
    draws = in_workers(context, draw_from_each, [parent_generator] * WORKERS)
    counts = different_values(draws)
    for name, count in counts.items():
        print(f"{name}: {count} different numbers in {WORKERS} workers")

# %%
# Why
# ---
# A generator is a state in memory: the same state gives the same numbers.
#
# - ``random``: CPython reseeds the module's own generator in every child
#   ``os.fork()`` makes (``_os.register_at_fork(after_in_child=_inst.seed)`` at
#   the end of ``random.py``, 3.11 to 3.13), from the operating system's
#   entropy. ``fork`` workers, and ``forkserver`` workers, which the forkserver
#   forks, get new states; ``spawn`` workers are new interpreters that seed it
#   when they import ``random``. A ``random.Random()`` instance of your own is
#   not reseeded: it behaves as NumPy's generators below.
# - NumPy's legacy global state (behind ``np.random.rand``, ``np.random.seed``)
#   and a ``Generator`` a module made at import are seeded once, when created.
#   A ``fork`` worker is a copy of the parent's memory: every worker holds the
#   parent's state, and NumPy does not reseed after a fork. ``spawn`` and
#   ``forkserver`` workers import NumPy and the module themselves (this
#   CPython's forkserver does not import the main module), so each seeds its
#   own. Anything the forkserver itself imported, though (a module named in
#   ``set_forkserver_preload``, or the main module, which forkservers from
#   3.13.8 and 3.14.1 import, cpython issue 126631), is forked into every
#   worker with its state, as under ``fork``.
# - A ``Generator`` passed to a task travels pickled: its state is copied into
#   every task, under every start method. Each task gets the same copy.
#
# Fix: a seed per task, from one ``SeedSequence``
# -----------------------------------------------
# ``np.random.SeedSequence(SEED).spawn(n)`` derives ``n`` independent seeds
# from one; pass one to each task, and let the task make its own generator.
# Every task draws different numbers, and the same ones on every run, whichever
# worker runs it, under every start method. The cost is a seed in every task's
# arguments (a few hundred bytes pickled, measured here) and a ``default_rng``
# call per task.


def draw_with_own_seed(seed):
    every_worker_started.wait(timeout=WAIT)
    return np.random.default_rng(seed).random()


if __name__ == "__main__":
    seeds = np.random.SeedSequence(SEED).spawn(WORKERS)
    seeded_runs = [in_workers(context, draw_with_own_seed, seeds) for _ in range(2)]
    print(f"seeded from SEED = {SEED}, two runs:", seeded_runs)
    seed_bytes = len(pickle.dumps(seeds[0]))
    print("a seed adds to a task's arguments:", seed_bytes, "bytes pickled")

# %%
# Or: reseed in a ``Pool`` initializer
# ------------------------------------
# ``initializer=np.random.seed`` reseeds NumPy's legacy state in each worker
# from the operating system's entropy (``np.random.seed()`` with no argument).
# Old code keeps its ``np.random.rand`` calls, and the workers differ. The
# tradeoff: the numbers are new on every run, so a result cannot be reproduced,
# and which numbers a task gets depends on which worker ran it.


def reseed_and_wait(barrier):
    np.random.seed()
    wait_for_all_workers(barrier)


def draw_legacy(_):
    every_worker_started.wait(timeout=WAIT)
    return np.random.rand()


if __name__ == "__main__":
    reseeded_runs = [
        in_workers(context, draw_legacy, range(WORKERS), reseed_and_wait) for _ in range(2)
    ]
    print("np.random.seed() in the initializer, two runs:", reseeded_runs)

# %%
# What happened
# -------------

if __name__ == "__main__":
    repeated = [name for name, count in counts.items() if count < WORKERS]
    print(
        f"failure reproduced: {'yes' if repeated else 'no'} (the same number in every "
        f"{method} worker from: {', '.join(repeated) or 'no generator'})"
    )
    seeded, again = seeded_runs
    seeded_distinct = len(set(seeded)) == WORKERS and seeded == again
    reseeded_distinct = all(len(set(run)) == WORKERS for run in reseeded_runs)
    fixed = seeded_distinct and reseeded_distinct
    print(
        f"fix works: {'yes' if fixed else 'no'} (a SeedSequence seed per task: different "
        "in every task, the same on the next run)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"Random numbers in {WORKERS} {method} workers",
        [
            Observation(
                label="np.random.rand()",
                result=f"{counts['np.random.rand()']} different",
                ok=counts["np.random.rand()"] == WORKERS,
            ),
            Observation(
                label="Generator passed by the parent",
                result=f"{counts['Generator passed by the parent']} different",
                ok=False,
            ),
            Observation(
                label="a SeedSequence seed per task",
                result=f"{len(set(seeded))} different, same next run",
                ok=seeded_distinct,
            ),
            Observation(
                label="np.random.seed() in initializer",
                result="different, new every run",
                ok=reseeded_distinct,
            ),
        ],
    )
    inherited = {"np.random.rand()", "RNG made at import"}
    if method == "fork":
        assert set(repeated) == {*inherited, "Generator passed by the parent"}, counts
    else:
        assert repeated == ["Generator passed by the parent"], counts
    assert all(counts[name] == 1 for name in repeated), counts
    assert counts["random.random()"] == WORKERS
    assert fixed and reseeded_runs[0] != reseeded_runs[1]
    assert seed_bytes < 1000  # a few hundred bytes per task
    assert not multiprocessing.active_children()
