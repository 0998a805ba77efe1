"""What each fix and recipe costs, measured against a baseline in the same run.

Run it with ``python -m mpguide.bench`` (``nox -s bench`` adds the docs-build
timings). Every figure is reported as a ratio to a baseline measured in the
same run, on the same machine and with the same start method, so that runs on
different machines compare by their ratios; absolute times are kept too. Each
figure is the best of several repeats: the least disturbed run.

What is timed:

- floors: acquiring and releasing an uncontended ``multiprocessing.Lock``; a
  round trip through a ``Pipe`` to another process and back;
- a Manager dict lookup keyed by an ``int``, by an object with ``__eq__`` and
  ``__hash__`` (a frozen dataclass), and by a :class:`~mpguide.KeyRegistry`
  token (the token's own lookup included);
- one locked access: the report's dict of Manager locks, fetched on every use;
  a lock proxy fetched once and kept; :class:`~mpguide.KeyedLocks`;
- throughput under contention: 1, 2 and 4 worker processes updating per-user
  counters in shared memory, each update holding the user's lock (or one
  global lock) while it works for 20 microseconds;
- alternatives to a Manager, for the same workload (1, 2 and 4 workers
  counting per-user updates, without extra work): the report's Manager dict
  and Manager locks; a Manager dict with :class:`~mpguide.KeyedLocks`; a
  ``ShareableList`` with :class:`~mpguide.KeyedLocks`; an ``Array`` and its
  ``get_lock()``; one owner process fed by a ``Queue``; results returned and
  merged. Ratios are to the report's pattern with as many workers;
- per-key locking: ``filelock`` (one lock file per key, when the ``bench``
  extra is installed) against a bare ``multiprocessing.Lock``;
- reads of a shared table: a Manager dict lookup and a ``ShareableList`` index
  against a lookup in a local copy;
- optionally, the docs build: a cold build, then a rebuild with nothing changed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import multiprocessing
import multiprocessing.queues
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing import shared_memory
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from mpguide.locks import KeyedLocks
from mpguide.registry import KeyRegistry

__all__ = ["Measurement", "Report", "Target", "main", "run"]

USERS = 8
#: Work done while holding a user's lock, in the contention runs.
WORK_SECONDS = 20e-6
WORKER_COUNTS = (1, 2, 4)
LOCK = "multiprocessing.Lock"
FETCH_EVERY_USE = "manager locks, fetched every use"
FETCH_ONCE = "manager locks, fetched once"
KEYED = "KeyedLocks"
GLOBAL = "one global lock"
#: The alternatives to a Manager, in the order the performance page plots them.
MANAGER_LOCKS = "Manager dict + Manager locks"
MANAGER_KEYED = "Manager dict + KeyedLocks"
SHAREABLE_KEYED = "ShareableList + KeyedLocks"
ARRAY_LOCK = "Array + get_lock()"
QUEUE_OWNER = "one owner fed by a Queue"
MERGED = "results returned and merged"
ALTERNATIVES = (
    MANAGER_LOCKS,
    MANAGER_KEYED,
    SHAREABLE_KEYED,
    ARRAY_LOCK,
    QUEUE_OWNER,
    MERGED,
)
FILELOCK = "filelock, one file per key"
LOCAL_COPY = "local dict copy"
TABLE_READS = (LOCAL_COPY, "Manager dict lookup", "ShareableList index")


@dataclasses.dataclass(frozen=True)
class UserKey:
    """A key with value equality, as in the tutorial's fix."""

    id: int
    name: str


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One figure, in ``unit``, and its ratio to a baseline from the same run."""

    group: str
    name: str
    seconds: float
    baseline: str
    ratio: float
    unit: str = "s/op"


@dataclasses.dataclass(frozen=True)
class Target:
    """A stated goal, and whether this run met it."""

    name: str
    goal: str
    measured: str
    met: bool


@dataclasses.dataclass(frozen=True)
class Report:
    """A whole run: where it ran, what was measured, which targets were met."""

    machine: dict[str, Any]
    measurements: tuple[Measurement, ...]
    targets: tuple[Target, ...]

    def names(self) -> set[str]:
        """The names of every measurement in this run."""
        return {m.name for m in self.measurements}

    def get(self, name: str) -> Measurement:
        """The measurement called ``name``."""
        return next(m for m in self.measurements if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: machine, measurements, targets."""
        return {
            "machine": self.machine,
            "measurements": [dataclasses.asdict(m) for m in self.measurements],
            "targets": [dataclasses.asdict(t) for t in self.targets],
        }

    def table(self) -> str:
        """The measurements and targets as plain text."""
        machine = self.machine
        lines = [
            f"mpguide benchmarks: Python {machine['python']} on {machine['system']}, "
            f"{machine['cpus']} CPUs, start method {machine['start_method']}"
            + (" (quick run)" if machine["quick"] else ""),
            "",
            f"  {'measurement':<38} {'time':>14} {'ratio':>9}  baseline",
        ]
        group = None
        for m in self.measurements:
            if m.group != group:
                group = m.group
                lines.append(f"{group}:")
            time_text = (
                f"{format_seconds(m.seconds)}{'/update' if m.unit == 's/update' else ''}"
            )
            lines.append(
                f"  {m.name:<38} {time_text:>14} {format_ratio(m.ratio):>9}  {m.baseline}"
            )
        for reason in machine.get("skipped", []):
            lines.append(f"  not measured: {reason}")
        lines += ["", "targets:"]
        for t in self.targets:
            lines.append(
                f"  [{'met' if t.met else 'MISSED'}] {t.name}: {t.goal}; {t.measured}"
            )
        return "\n".join(lines)


def format_ratio(ratio: float) -> str:
    """``0.98x``, ``1.42x``, ``3,320x``."""
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.3g}x"


def format_seconds(seconds: float) -> str:
    """``1.2 ms``, ``340 ns``: three significant digits in a readable unit."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def best_time(operation: Callable[[], object], count: int, repeats: int) -> float:
    """Seconds per call of ``operation``: the best of ``repeats`` runs of ``count``."""
    return best_times({"": (operation, count)}, repeats)[""]


def best_times(
    operations: dict[str, tuple[Callable[[], object], int]], repeats: int
) -> dict[str, float]:
    """Seconds per call of each operation, best of ``repeats``, measured interleaved.

    Taking turns (A, B, C, A, B, C...) exposes every operation to the same
    drift in machine speed, so their ratios stay fair.
    """
    best = dict.fromkeys(operations, float("inf"))
    for _ in range(repeats):
        for name, (operation, count) in operations.items():
            started = time.perf_counter()
            for _ in range(count):
                operation()
            best[name] = min(best[name], (time.perf_counter() - started) / count)
    return best


# -- in worker processes (module level: spawn and forkserver children import them) --


def echo(connection: Any) -> None:
    """Send back whatever arrives, until ``None``."""
    while (message := connection.recv()) is not None:
        connection.send(message)


def busy(seconds: float) -> None:
    """Work for ``seconds`` without sleeping (sleeping would free the CPU)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def update_counters(
    approach: str,
    locks: Any,
    counters: Any,
    updates: int,
    ready: Any,
    spans: Any,
    worker: int,
) -> None:
    """``updates`` locked updates of per-user counters; record when it started and ended."""
    kept: dict[int, Any] = {}
    ready.wait()
    spans[2 * worker] = time.monotonic()  # one clock for every process
    for step in range(updates):
        user = (worker + step) % USERS
        if approach == FETCH_EVERY_USE:
            lock = locks[user]
        elif approach == FETCH_ONCE:
            lock = kept.get(user) or kept.setdefault(user, locks[user])
        elif approach == KEYED:
            lock = locks.hold(user)
        else:
            lock = locks
        with lock:
            counters[user] += 1
            busy(WORK_SECONDS)
    spans[2 * worker + 1] = time.monotonic()


def alternative_worker(
    approach: str, shared: Any, updates: int, ready: Any, spans: Any, worker: int
) -> None:
    """Count ``updates`` per-user updates the way ``approach`` does; record the span."""
    users = [(worker + step) % USERS for step in range(updates)]
    ready.wait()
    spans[2 * worker] = time.monotonic()
    if approach == MANAGER_LOCKS:
        counters, user_locks = shared
        for user in users:
            with user_locks[user]:
                counters[user] += 1
    elif approach == MANAGER_KEYED:
        counters, keyed = shared
        for user in users:
            with keyed.hold(user):
                counters[user] += 1
    elif approach == SHAREABLE_KEYED:
        name, keyed = shared
        table: Any = shared_memory.ShareableList(name=name)  # untyped items
        try:
            for user in users:
                with keyed.hold(user):
                    table[user] += 1
        finally:
            table.shm.close()
    elif approach == ARRAY_LOCK:
        for user in users:
            with shared.get_lock():
                shared[user] += 1
    elif approach == QUEUE_OWNER:
        for user in users:
            shared.put(user)
        shared.put(None)
    else:  # MERGED
        shared.put(collections.Counter(users))
    spans[2 * worker + 1] = time.monotonic()


def owner_of_counters(updates: Any, workers: int, counters: Any, spans: Any) -> None:
    """Apply every update from the queue until each worker has said it is done."""
    counts = [0] * USERS
    finished = 0
    while finished < workers:
        user = updates.get()
        if user is None:
            finished += 1
        else:
            counts[user] += 1
    counters[:] = counts
    spans[-1] = time.monotonic()


# -- the measurements ------------------------------------------------------------------


class Bench:
    """Collects measurements; each method times one group."""

    def __init__(self, context: BaseContext, quick: bool) -> None:
        self.context: Any = context  # a concrete context: it has Process, Lock...
        self.quick = quick
        self.repeats = 3 if quick else 7
        self.measurements: list[Measurement] = []
        #: Measurements left out of this run, each with the reason.
        self.skipped: list[str] = []

    def count(self, full: int) -> int:
        """How many operations to time: ``full``, or a twentieth in a quick run."""
        return max(20, full // 20) if self.quick else full

    def add(
        self, group: str, name: str, seconds: float, baseline: str, unit: str = "s/op"
    ) -> None:
        base = seconds if baseline == name else self.seconds(baseline)
        self.measurements.append(
            Measurement(
                group,
                name,
                seconds=seconds,
                baseline=baseline,
                ratio=seconds / base,
                unit=unit,
            )
        )

    def seconds(self, name: str) -> float:
        return next(m.seconds for m in self.measurements if m.name == name)

    def single_operations(self, manager: Any) -> None:
        """Floors, lookups and one locked access, all timed in turns (see best_times)."""
        lock = self.context.Lock()
        registry = KeyRegistry(self.context)
        users = [object() for _ in range(USERS)]
        tokens = [registry.register(user) for user in users]
        by_int = manager.dict({n: n for n in range(USERS)})
        by_value = manager.dict({UserKey(n, f"user{n}"): n for n in range(USERS)})
        by_token = manager.dict({token: n for n, token in enumerate(tokens)})
        key, user = UserKey(3, "user3"), users[3]
        user_locks = manager.dict({n: manager.Lock() for n in range(USERS)})
        kept = user_locks[3]
        keyed = KeyedLocks(64, context=self.context)
        mine, theirs = self.context.Pipe()
        echo_process = self.context.Process(target=echo, args=(theirs,), daemon=True)
        echo_process.start()

        def bare_lock() -> None:
            with lock:
                pass

        def round_trip() -> None:
            mine.send(1)
            mine.recv()

        def fetch_every_use() -> None:
            with user_locks[3]:
                pass

        def fetched_once() -> None:
            with kept:
                pass

        def keyed_locks() -> None:
            with keyed.hold(3):
                pass

        operations = {
            LOCK: (bare_lock, 200_000),
            "Pipe round trip": (round_trip, 5_000),
            "int key": (lambda: by_int[3], 3_000),
            "frozen dataclass key": (lambda: by_value[key], 3_000),
            "KeyRegistry token": (lambda: by_token[registry.token_of(user)], 3_000),
            FETCH_EVERY_USE: (fetch_every_use, 1_000),
            "manager lock, fetched once": (fetched_once, 3_000),
            "KeyedLocks.hold": (keyed_locks, 200_000),
        }
        try:
            round_trip()  # the echo process is up
            seconds = best_times(
                {name: (op, self.count(n)) for name, (op, n) in operations.items()},
                self.repeats,
            )
        finally:
            mine.send(None)
            echo_process.join(timeout=30)
        rows = [
            ("floors", LOCK, LOCK),
            ("floors", "Pipe round trip", "Pipe round trip"),
            ("Manager dict lookup", "int key", "Pipe round trip"),
            ("Manager dict lookup", "frozen dataclass key", "int key"),
            ("Manager dict lookup", "KeyRegistry token", "int key"),
            ("one locked access", FETCH_EVERY_USE, LOCK),
            ("one locked access", "manager lock, fetched once", LOCK),
            ("one locked access", "KeyedLocks.hold", LOCK),
        ]
        for group, name, baseline in rows:
            self.add(group, name, seconds=seconds[name], baseline=baseline)

    def contention(self, manager: Any) -> None:
        updates = 100 if self.quick else 1_000
        user_locks = manager.dict({n: manager.Lock() for n in range(USERS)})
        approaches = {
            KEYED: KeyedLocks(64, context=self.context),
            FETCH_EVERY_USE: user_locks,
            FETCH_ONCE: user_locks,
            GLOBAL: self.context.Lock(),
        }
        for workers in WORKER_COUNTS:
            group = f"contention, {workers} worker{'s' if workers > 1 else ''}"
            for approach, locks in approaches.items():
                seconds = self.run_workers(approach, locks, workers, updates)
                self.add(
                    group,
                    f"{approach} x{workers}",
                    seconds=seconds,
                    baseline=f"{KEYED} x{workers}",
                    unit="s/update",
                )

    def run_workers(self, approach: str, locks: Any, workers: int, updates: int) -> float:
        """Seconds per update, all workers together: first start to last end / updates."""
        counters = self.context.Array("q", USERS, lock=False)
        spans = self.context.Array("d", 2 * workers, lock=False)
        ready = self.context.Barrier(workers)
        processes = [
            self.context.Process(
                target=update_counters,
                args=(approach, locks, counters, updates, ready, spans, worker),
            )
            for worker in range(workers)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=600)
            if process.exitcode != 0:
                raise RuntimeError(
                    f"{approach}: a worker failed (exit code {process.exitcode})"
                )
        if sum(counters) != workers * updates:
            raise RuntimeError(
                f"{approach}: lost updates ({sum(counters)} of {workers * updates})"
            )
        elapsed: float = max(spans[1::2]) - min(spans[0::2])
        return elapsed / (workers * updates)

    def alternatives(self, manager: Any) -> None:
        """The same per-user counting done each way, with 1, 2 and 4 workers."""
        for workers in WORKER_COUNTS:
            group = f"alternatives, {workers} worker{'s' if workers > 1 else ''}"
            for approach in ALTERNATIVES:
                # Manager calls take milliseconds: fewer of them keep the run short.
                full = 1_000 if approach in (MANAGER_LOCKS, MANAGER_KEYED) else 10_000
                seconds = self.run_alternative(approach, manager, workers, self.count(full))
                self.add(
                    group,
                    f"{approach} x{workers}",
                    seconds=seconds,
                    baseline=f"{MANAGER_LOCKS} x{workers}",
                    unit="s/update",
                )

    def run_alternative(
        self, approach: str, manager: Any, workers: int, updates: int
    ) -> float:
        """Seconds per update: first worker's start to the last count in place."""
        context = self.context
        spans = context.Array("d", 2 * workers + 1, lock=False)
        ready = context.Barrier(workers)
        counts: list[int] = []
        table: Any = None
        owner = None
        if approach in (MANAGER_LOCKS, MANAGER_KEYED):
            counters = manager.dict(dict.fromkeys(range(USERS), 0))
            locks = (
                manager.dict({n: manager.Lock() for n in range(USERS)})
                if approach == MANAGER_LOCKS
                else KeyedLocks(64, context=context)
            )
            shared: Any = (counters, locks)
        elif approach == SHAREABLE_KEYED:
            table = shared_memory.ShareableList([0] * USERS)
            shared = (table.shm.name, KeyedLocks(64, context=context))
        elif approach == ARRAY_LOCK:
            shared = context.Array("q", USERS)
        else:
            shared = context.Queue()
        if approach == QUEUE_OWNER:
            owned = context.Array("q", USERS, lock=False)
            owner = context.Process(
                target=owner_of_counters, args=(shared, workers, owned, spans)
            )
            owner.start()
        processes = [
            context.Process(
                target=alternative_worker,
                args=(approach, shared, updates, ready, spans, worker),
            )
            for worker in range(workers)
        ]
        try:
            for process in processes:
                process.start()
            if approach == MERGED:
                merged: collections.Counter[int] = collections.Counter()
                for _ in processes:
                    merged.update(shared.get(timeout=600))
                spans[-1] = time.monotonic()
                counts = [merged[n] for n in range(USERS)]
            for process in [*processes, *([owner] if owner else [])]:
                process.join(timeout=600)
                if process.exitcode != 0:
                    raise RuntimeError(
                        f"{approach}: a process failed (exit code {process.exitcode})"
                    )
            if approach == QUEUE_OWNER:
                counts = list(owned)
            elif approach in (MANAGER_LOCKS, MANAGER_KEYED):
                counts = list(shared[0].values())
            elif approach == SHAREABLE_KEYED and table is not None:
                counts = list(table)
            elif approach == ARRAY_LOCK:
                counts = list(shared)
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=30)
            if table is not None:
                table.shm.close()
                table.shm.unlink()
            if isinstance(shared, multiprocessing.queues.Queue):
                shared.close()
                shared.join_thread()
        if sum(counts) != workers * updates:
            raise RuntimeError(
                f"{approach}: lost updates ({sum(counts)} of {workers * updates})"
            )
        ends = (
            spans[-1]
            if approach in (QUEUE_OWNER, MERGED)
            else max(spans[1 : 2 * workers : 2])
        )
        elapsed: float = ends - min(spans[0 : 2 * workers : 2])
        return elapsed / (workers * updates)

    def per_key_locking(self) -> None:
        """``filelock`` with one lock file per key, against a bare lock (if installed)."""
        try:
            import filelock
        except ImportError:
            self.skipped.append(f"{FILELOCK}: install mpguide[bench] to measure it")
            return
        with tempfile.TemporaryDirectory(prefix="mpguide-filelock-") as folder:
            file_locks = {
                user: filelock.FileLock(Path(folder) / f"user-{user}.lock")
                for user in range(USERS)
            }

            def hold_file_lock() -> None:
                with file_locks[3]:
                    pass

            seconds = best_time(hold_file_lock, self.count(20_000), self.repeats)
        self.add("per-key locking", FILELOCK, seconds=seconds, baseline=LOCK)

    def table_reads(self, manager: Any) -> None:
        """One read of a user's name: local dict, Manager dict, ShareableList."""
        names = [f"user{n}" for n in range(USERS)]
        local = dict(enumerate(names))
        managed = manager.dict(local)
        table = shared_memory.ShareableList(names)
        try:
            local_copy, manager_dict, shareable = TABLE_READS
            seconds = best_times(
                {
                    local_copy: (lambda: local[3], self.count(200_000)),
                    manager_dict: (lambda: managed[3], self.count(3_000)),
                    shareable: (lambda: table[3], self.count(200_000)),
                },
                self.repeats,
            )
        finally:
            table.shm.close()
            table.shm.unlink()
        for name in TABLE_READS:
            self.add("shared table read", name, seconds=seconds[name], baseline=LOCAL_COPY)

    def docs_build(self, source: Path) -> None:
        """A cold build of a copy of the site, then a rebuild with nothing changed."""
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            docs = copy_site(source, root)
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                built = build_site(docs, self.context.get_start_method())
                if built.returncode != 0:  # say why: Sphinx's own output
                    raise RuntimeError(
                        f"the docs build failed (exit {built.returncode}):\n"
                        f"{built.stdout[-5000:]}{built.stderr[-5000:]}"
                    )
                timings.append(time.perf_counter() - started)
        cold, rebuild = timings
        self.add(
            "docs build", "cold build", seconds=cold, baseline="cold build", unit="s/build"
        )
        self.add(
            "docs build",
            "rebuild, nothing changed",
            seconds=rebuild,
            baseline="cold build",
            unit="s/build",
        )


def copy_site(docs: Path, root: Path) -> Path:
    """Copy the site's sources (``docs`` and the sibling ``examples``) under ``root``.

    Generated files stay behind, so that building the copy is a cold build.
    Returns the copy's docs directory.
    """
    ignore = shutil.ignore_patterns("_build", "gallery", "_generated", "*.md5")
    shutil.copytree(docs, root / "docs", ignore=ignore)
    shutil.copytree(docs.parent / "examples", root / "examples")
    return root / "docs"


def build_site(
    docs: Path,
    start_method: str,
    *,
    env: dict[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Build the site in ``docs`` as ``nox -s docs`` does, into ``docs/_build/html``.

    ``settings`` override values of ``conf.py`` (Sphinx's ``-D name=value``).
    """
    overrides = [f"-D{name}={value}" for name, value in (settings or {}).items()]
    command = [
        sys.executable, "-m", "sphinx", "-q", "-n", "-W", "-b", "html", *overrides,
        str(docs), str(docs / "_build" / "html"),
    ]  # fmt: skip
    env = {**(os.environ if env is None else env), "MPGUIDE_START_METHOD": start_method}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def targets(bench: Bench) -> tuple[Target, ...]:
    """The goals stated on the performance page, checked against this run."""
    found = {m.name: m for m in bench.measurements}
    keyed = found["KeyedLocks.hold"]
    seed = found[FETCH_EVERY_USE]
    token = found["KeyRegistry token"]
    goals = [
        Target(
            name="KeyedLocks vs a bare lock",
            goal="hold() within 2x of a multiprocessing.Lock",
            measured=f"{keyed.ratio:.2f}x",
            met=keyed.ratio <= 2.0,
        ),
        Target(
            name="KeyedLocks vs the report's pattern",
            goal="at least 1000x faster than fetching a manager lock on every use",
            measured=f"{seed.seconds / keyed.seconds:.0f}x faster",
            met=seed.seconds / keyed.seconds >= 1000,
        ),
        Target(
            name="registry token lookup",
            goal="at most 1.2x an int-key lookup",
            measured=f"{token.ratio:.2f}x",
            met=token.ratio <= 1.2,
        ),
    ]
    if "rebuild, nothing changed" in found:
        rebuild = found["rebuild, nothing changed"]
        goals.append(
            Target(
                name="docs rebuild",
                goal="a rebuild with nothing changed under 10% of a cold build",
                measured=f"{rebuild.ratio:.1%}",
                met=rebuild.ratio < 0.10,
            )
        )
    return tuple(goals)


def run(
    start_method: str | None = None, *, quick: bool = False, docs: Path | None = None
) -> Report:
    """Measure everything; ``docs`` (the site's source directory) adds the build."""
    context = multiprocessing.get_context(start_method)
    bench = Bench(context, quick)
    with context.Manager() as manager:
        bench.single_operations(manager)
        bench.contention(manager)
        bench.alternatives(manager)
        bench.table_reads(manager)
    bench.per_key_locking()
    if docs is not None:
        bench.docs_build(docs)
    machine = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "start_method": context.get_start_method(),
        "quick": quick,
        "skipped": bench.skipped,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return Report(machine, tuple(bench.measurements), targets(bench))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mpguide.bench``: print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m mpguide.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--start-method",
        choices=multiprocessing.get_all_start_methods(),
        default=os.environ.get("MPGUIDE_START_METHOD") or None,
        help="default: MPGUIDE_START_METHOD, else the platform's default",
    )
    parser.add_argument("--quick", action="store_true", help="a run of a few seconds")
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the results here"
    )
    parser.add_argument(
        "--docs", type=Path, metavar="DIR", help="also time building the site in DIR"
    )
    args = parser.parse_args(argv)
    report = run(args.start_method, quick=args.quick, docs=args.docs)
    print(report.table())
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# -- check_keys: a batch against one key ---------------------------------------------

#: Keys in the batch that :func:`batch_check_ratio` compares with a single key.
BATCH_KEYS = 100


def batch_check_ratio(count: int = BATCH_KEYS, repeats: int = 3) -> dict[str, float]:
    """Time :func:`~mpguide.check_keys` on one key and on ``count`` keys, in one run.

    Both include the fresh interpreter, which dominates one check; the ratio
    says what the batch adds (the goal: at most 2 for 100 keys). Best of
    ``repeats``.
    """
    from mpguide.keycheck import check_keys

    def seconds(size: int) -> float:
        keys = [UserKey(n, f"user-{n}") for n in range(size)]
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            check_keys(keys)
            best = min(best, time.perf_counter() - started)
        return best

    one, many = seconds(1), seconds(count)
    return {"keys": count, "one_key_s": one, "batch_s": many, "ratio": many / one}


def print_batch_check_ratio() -> None:
    """Print :func:`batch_check_ratio` (``python -c`` entry for ``nox -s bench``)."""
    result = batch_check_ratio()
    print(
        f"check_keys: {result['keys']:g} keys take {format_ratio(result['ratio'])} the "
        f"time of one ({format_seconds(result['batch_s'])} against "
        f"{format_seconds(result['one_key_s'])})"
    )


# -- mpguide lint against flake8 -----------------------------------------------------

#: Standard-library packages linted by :func:`lint_speed`: real code that uses
#: processes, over 10,000 lines on every supported Python.
LINT_PACKAGES = ("multiprocessing", "concurrent", "asyncio")


def lint_speed(flake8_python: str, repeats: int = 3) -> dict[str, float]:
    """Lines per second of ``python -m mpguide lint`` and of ``flake8`` (run by
    ``flake8_python``, an interpreter with flake8 and no plugin) on the same files,
    each a whole command in one process; best of ``repeats``."""
    stdlib = Path(sysconfig_stdlib())
    files = sorted(
        str(path) for package in LINT_PACKAGES for path in (stdlib / package).rglob("*.py")
    )
    lines = sum(len(Path(f).read_bytes().splitlines()) for f in files)

    def seconds(command: list[str]) -> float:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
            best = min(best, time.perf_counter() - started)
        return best

    ours = seconds([sys.executable, "-m", "mpguide", "lint", *files])
    theirs = seconds([flake8_python, "-m", "flake8", "--isolated", "-j1", *files])
    return {
        "lines": lines,
        "lint_s": ours,
        "flake8_s": theirs,
        "lint_lines_per_s": lines / ours,
        "flake8_lines_per_s": lines / theirs,
        "ratio": theirs / ours,
    }


def sysconfig_stdlib() -> str:
    import sysconfig

    return sysconfig.get_paths()["stdlib"]


def print_lint_speed(flake8_python: str) -> None:
    """Print :func:`lint_speed` (``python -c`` entry for ``nox -s bench``)."""
    result = lint_speed(flake8_python)
    print(
        f"mpguide lint: {result['lint_lines_per_s']:,.0f} lines/s, flake8 without "
        f"plugins: {result['flake8_lines_per_s']:,.0f} lines/s, on the same "
        f"{result['lines']:,.0f} lines: {format_ratio(result['ratio'])} flake8's speed"
    )
