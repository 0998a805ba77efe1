"""
What starting a worker costs under each start method
====================================================

``fork`` copies a running process, which is quick. ``spawn`` starts a new
interpreter that imports the main module and everything the worker needs.
``forkserver`` starts one such server once, then forks each worker from it.
This page measures, in this run, how long starting and stopping a process and
a four-worker pool take under each method, and prints each as a ratio to
``fork``. The numbers depend on the machine, its load, and what the main
module imports; they are measured, not promised.
"""

# %%
# Measure
# -------
# Each measurement is the median of a few repeats. The ``forkserver`` server is
# started before timing, as a long-running program would have it.

import multiprocessing
import os
import statistics
import time

REPEATS = 5


def nothing(_=None):
    return None


def start_and_join_one(context):
    process = context.Process(target=nothing)
    process.start()
    process.join(60)


def start_pool_and_run_one_task_each(context):
    with context.Pool(4) as pool:
        pool.map(nothing, range(4), chunksize=1)


def median_seconds(action, context):
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action(context)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    methods = [
        m
        for m in ("fork", "spawn", "forkserver")
        if m in multiprocessing.get_all_start_methods()
    ]
    contexts = {each: multiprocessing.get_context(each) for each in methods}
    if "forkserver" in contexts:
        start_and_join_one(contexts["forkserver"])  # start the server before timing
    measured = {
        each: {
            "one process": median_seconds(start_and_join_one, context),
            "a pool of 4": median_seconds(start_pool_and_run_one_task_each, context),
        }
        for each, context in contexts.items()
    }
    for what in ("one process", "a pool of 4"):
        baseline = measured["fork"][what]
        ratios = ", ".join(
            f"{each} {measured[each][what] / baseline:.1f}x" for each in methods
        )
        print(f"{what}: {ratios} (fork: {baseline * 1000:.1f} ms)")

# %%
# Reading the numbers
# -------------------
# ``spawn`` pays for a new interpreter and the imports of the main module per
# worker; ``forkserver`` pays for that once, then costs about what ``fork``
# does, plus the pickling of each target. Either way the cost is per *worker*,
# not per task: create a pool once and reuse it, rather than one process per
# item. A ``fork`` also costs more the larger the parent: when this site is
# built, the parent is the documentation build itself, a far larger process
# than a script, so ``fork`` is slower there and the ratios smaller. The
# performance page measures what each fix for the Manager costs
# (:ref:`sphx_glr_gallery_performance_plot_01_costs.py`).

if __name__ == "__main__":
    from mpguide.sphinxext.figures import Observation, draw_outcome

    one = {each: measured[each]["one process"] for each in methods}
    fastest = min(one.values())
    draw_outcome(
        "Starting one process",
        [
            Observation(
                label=each,
                result=f"{seconds * 1000:.1f} ms, {seconds / one['fork']:.1f}x fork",
                ok=None,
                fraction=fastest / seconds,
            )
            for each, seconds in one.items()
        ],
    )
