"""
Performance: what each fix costs
================================

Choosing a fix means knowing its price. This page runs :mod:`mpguide.bench`
in quick mode while the site is built, and shows every figure as a ratio to a
baseline measured in the same run: a bare ``multiprocessing.Lock`` for locking,
a ``Pipe`` round trip and an ``int``-key lookup for Manager calls. The numbers
are this build machine's, from a run of a few seconds; they are reported, and
only orderings measured tens of times apart are asserted, with a wide margin.
For steadier numbers run ``nox -s bench`` (or ``python -m
mpguide.bench``), which repeats more, also times the docs build, and writes
JSON for comparing runs.
"""

# %%
# The run
# -------
# Each figure is the best of a few repeats of many operations, under the start
# method this page was built with.

import multiprocessing
import os

from mpguide import bench

if __name__ == "__main__":
    # Imported here: worker processes import this file, and need no plotting.
    import matplotlib.pyplot as plt

    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    report = bench.run(context.get_start_method(), quick=True)
    print(report.table())

# %%
# One locked access
# -----------------
# The report's pattern, ``with user_locks[uid]:``, fetches a lock proxy from a
# Manager dict on every use. Each fetch is a round trip that returns a pickled
# proxy, and the new proxy registers and later unregisters with the server over
# two more connections (:ref:`sphx_glr_gallery_pitfalls_plot_08_lock_fetch.py`). Keeping
# the proxy saves the fetch, but each ``acquire`` and ``release`` is still a
# round trip. :class:`~mpguide.KeyedLocks` is a plain lock in shared memory.

if __name__ == "__main__":
    names = [
        "KeyedLocks.hold",
        "manager lock, fetched once",
        "manager locks, fetched every use",
    ]
    ratios = [report.get(name).ratio for name in names]
    figure, axes = plt.subplots(figsize=(7.5, 2.6), layout="constrained")
    bars = axes.barh(names, ratios, color=["tab:green", "tab:orange", "tab:red"])
    axes.bar_label(bars, [bench.format_ratio(r) for r in ratios], padding=3)
    axes.set_xscale("log")
    axes.set_xlim(0.5, max(ratios) * 20)
    axes.axvline(1, color="black", lw=1)
    axes.set_xlabel("time per access, in bare multiprocessing.Lock acquires (log scale)")
    axes.set_title(f"One locked access ({report.machine['start_method']})")
    plt.show()

# %%
# Under contention
# ----------------
# Workers update per-user counters; every update holds the user's lock (or one
# global lock) for 20 microseconds of work. With one lock per user, workers
# busy with different users run in parallel, up to the number of CPUs; one
# global lock runs them one at a time; Manager locks add round trips to every
# update, and fetching them on every use adds connections.


def plot_throughput(approaches, title):
    """Updates per second of each approach against the number of workers."""
    _, axes = plt.subplots(figsize=(7, 3.4), layout="constrained")
    for approach in approaches:
        rates = [1 / report.get(f"{approach} x{n}").seconds for n in bench.WORKER_COUNTS]
        axes.plot(bench.WORKER_COUNTS, rates, marker="o", label=approach)
    axes.set_yscale("log")
    axes.set_xticks(bench.WORKER_COUNTS)
    axes.set_xlabel("worker processes")
    axes.set_ylabel("updates per second (log)")
    axes.set_title(f"{title}, {report.machine['cpus']} CPUs")
    axes.legend(fontsize=7, loc="best")
    plt.show()


if __name__ == "__main__":
    approaches = [bench.KEYED, bench.GLOBAL, bench.FETCH_ONCE, bench.FETCH_EVERY_USE]
    plot_throughput(approaches, "Throughput")

# %%
# Without a Manager
# -----------------
# The same per-user counting, without the 20 microseconds of work, done each
# way :doc:`/howto/alternatives` describes. The Manager versions pay a round
# trip for every counter update (and the report's pattern more for every lock);
# shared memory and message passing pay a semaphore or a pickled message. In a
# quick run the fixed costs (one message per worker for "returned and merged")
# weigh more than in ``nox -s bench``.

if __name__ == "__main__":
    plot_throughput(bench.ALTERNATIVES, "Per-user counters without extra work")
    for workers in bench.WORKER_COUNTS:
        fastest = min(
            bench.ALTERNATIVES, key=lambda a: report.get(f"{a} x{workers}").seconds
        )
        print(f"fastest with {workers} worker(s): {fastest}")

# %%
# Per-key locks, and reads of a shared table
# ------------------------------------------
# Left: one uncontended acquire and release of a key's lock, in bare
# ``multiprocessing.Lock`` acquires: :class:`~mpguide.KeyedLocks`, a Manager
# lock proxy kept after one fetch, and `filelock <https://pypi.org/project/filelock/>`_
# with one lock file per key (it opens and locks the file on every acquire).
# Right: one read of a user's entry, in lookups of a local ``dict`` copy: a
# Manager dict (a round trip), a ``ShareableList`` index (a ``struct`` unpack
# from shared memory).

if __name__ == "__main__":
    lock_names = ["KeyedLocks.hold", "manager lock, fetched once", bench.FILELOCK]
    lock_names = [name for name in lock_names if name in report.names()]
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8), layout="constrained")
    for axes, names, unit in (
        (left, lock_names, "bare Lock acquires"),
        (right, list(bench.TABLE_READS), "local dict lookups"),
    ):
        ratios = [report.get(name).ratio for name in names]
        bars = axes.barh(names, ratios, color="tab:blue")
        axes.bar_label(bars, [bench.format_ratio(r) for r in ratios], padding=3)
        axes.set_xscale("log")
        axes.set_xlim(0.5, max(ratios) * 30)
        axes.axvline(1, color="black", lw=1)
        axes.set_xlabel(f"time, in {unit} (log)")
    left.set_title("Per-key lock")
    right.set_title("Shared table read")
    plt.show()
    for reason in report.machine["skipped"]:
        print("not measured:", reason)

# %%
# Targets
# -------
# The goals this project set itself, checked against this run:

if __name__ == "__main__":
    for target in report.targets:
        print(f"[{'met' if target.met else 'MISSED'}] {target.name}: {target.goal}")
        print(f"    measured: {target.measured}")

# %%
# How to read these numbers
# -------------------------
# - Manager calls cost about one ``Pipe`` round trip each: a lookup keyed by an
#   ``int``, a frozen dataclass or a registry token costs about the same,
#   because pickling a small key is cheap next to the round trip. Choose
#   between the fixes for correctness, not speed.
# - Locks are where the choice matters: a Manager lock costs round trips on
#   every use, and fetching it from a dict on every use costs far more.
#   :class:`~mpguide.KeyedLocks` costs about what a bare lock costs.
# - The docs build's own cost (a rebuild with nothing changed against a cold
#   build) is measured by ``nox -s bench`` only: a build cannot time itself.

if __name__ == "__main__":
    # What the figures show, asserted only where the run measured a gap of
    # tens to hundreds of times: a Manager lock costs round trips that a
    # KeyedLocks lock does not, fetching it again costs more, and a Manager
    # lookup costs far more than a local one.
    seconds = {name: report.get(name).seconds for name in report.names()}
    assert all(value > 0 for value in seconds.values()), seconds
    assert seconds["manager lock, fetched once"] > 5 * seconds["KeyedLocks.hold"]
    every_use, once = "manager locks, fetched every use", "manager lock, fetched once"
    assert seconds[every_use] > seconds[once]
    assert seconds["Manager dict lookup"] > 10 * seconds["local dict copy"]
