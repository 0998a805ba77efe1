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
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, ClassVar

from mpguide.locks import KeyedLocks
from mpguide.registry import KeyRegistry
from mpguide.run import START_METHODS, StartMethodError, check_start_method

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
#: The alternatives to a Manager (``ALTERNATIVES``).
MANAGER_LOCKS = "Manager dict + Manager locks"
MANAGER_KEYED = "Manager dict + KeyedLocks"
SHAREABLE_KEYED = "ShareableList + KeyedLocks"
ARRAY_LOCK = "Array + get_lock()"
QUEUE_OWNER = "one owner fed by a Queue"
MERGED = "results returned and merged"
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
    kind: type[Alternative], shared: Any, updates: int, ready: Any, spans: Any, worker: int
) -> None:
    """Count ``updates`` per-user updates the way ``kind`` does; record the span."""
    users = [(worker + step) % USERS for step in range(updates)]
    ready.wait()
    spans[2 * worker] = time.monotonic()
    kind.count(shared, users)
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


# -- the alternatives to a Manager, one class each -----------------------------------


class Alternative:
    """One way for several workers to count per-user updates.

    An instance holds one run's shared state in the benchmark's process; the
    workers get :attr:`shared` and run :meth:`count`, a static method, so that
    only the class is pickled by reference.
    """

    name: ClassVar[str]
    #: Updates per worker in a full run.
    full_updates: ClassVar[int] = 10_000

    def __init__(self, context: Any, manager: Any, workers: int, spans: Any) -> None:
        self.context = context
        self.manager = manager
        self.workers = workers
        self.spans = spans
        #: Processes besides the workers that the run needs, started first.
        self.helpers: list[Any] = []
        self.shared = self.share()

    def share(self) -> Any:
        """What every worker gets."""
        raise NotImplementedError

    @staticmethod
    def count(shared: Any, users: list[int]) -> None:
        """In a worker: count one update for each user in ``users``."""
        raise NotImplementedError

    def gather(self) -> None:
        """While the workers run: collect what they send, if anything."""

    def counts(self) -> list[int]:
        """Once every process has ended: the count of each user."""
        raise NotImplementedError

    def last_count_at(self) -> float:
        """When the last count was in place: by default, when the last worker ended."""
        return float(max(self.spans[1 : 2 * self.workers : 2]))

    def close(self) -> None:
        """Release what :meth:`share` made."""


class ManagerLocks(Alternative):
    """The report's pattern: a Manager dict of counters and one Manager lock per user."""

    name = MANAGER_LOCKS
    full_updates = 1_000  # Manager calls take milliseconds: fewer keep the run short.

    def share(self) -> Any:
        locks = self.manager.dict({n: self.manager.Lock() for n in range(USERS)})
        return self.manager.dict(dict.fromkeys(range(USERS), 0)), locks

    @staticmethod
    def count(shared: Any, users: list[int]) -> None:
        counters, user_locks = shared
        for user in users:
            with user_locks[user]:
                counters[user] += 1

    def counts(self) -> list[int]:
        return list(self.shared[0].values())


class ManagerKeyed(ManagerLocks):
    """A Manager dict of counters, locked with :class:`~mpguide.KeyedLocks`."""

    name = MANAGER_KEYED

    def share(self) -> Any:
        counters = self.manager.dict(dict.fromkeys(range(USERS), 0))
        return counters, KeyedLocks(64, context=self.context)

    @staticmethod
    def count(shared: Any, users: list[int]) -> None:
        counters, keyed = shared
        for user in users:
            with keyed.hold(user):
                counters[user] += 1


class ShareableKeyed(Alternative):
    """A ``ShareableList`` of counters, locked with :class:`~mpguide.KeyedLocks`."""

    name = SHAREABLE_KEYED

    def share(self) -> Any:
        self.table: Any = shared_memory.ShareableList([0] * USERS)  # untyped items
        return self.table.shm.name, KeyedLocks(64, context=self.context)

    @staticmethod
    def count(shared: Any, users: list[int]) -> None:
        name, keyed = shared
        table: Any = shared_memory.ShareableList(name=name)
        try:
            for user in users:
                with keyed.hold(user):
                    table[user] += 1
        finally:
            table.shm.close()

    def counts(self) -> list[int]:
        return list(self.table)

    def close(self) -> None:
        self.table.shm.close()
        self.table.shm.unlink()


class ArrayLock(Alternative):
    """An ``Array`` of counters and its one lock."""

    name = ARRAY_LOCK

    def share(self) -> Any:
        return self.context.Array("q", USERS)

    @staticmethod
    def count(shared: Any, users: list[int]) -> None:
        for user in users:
            with shared.get_lock():
                shared[user] += 1

    def counts(self) -> list[int]:
        return list(self.shared)


class QueueOwner(Alternative):
    """One owner process applies the updates the workers put on a ``Queue``."""

    name = QUEUE_OWNER

    def share(self) -> Any:
        updates = self.context.Queue()
        self.owned = self.context.Array("q", USERS, lock=False)
        self.helpers.append(
            self.context.Process(
                target=owner_of_counters,
                args=(updates, self.workers, self.owned, self.spans),
            )
        )
        return updates

    @staticmethod
    def count(shared: Any, users: list[int]) -> None:
        for user in users:
            shared.put(user)
        shared.put(None)

    def counts(self) -> list[int]:
        return list(self.owned)

    def last_count_at(self) -> float:
        return float(self.spans[-1])  # set by the owner

    def close(self) -> None:
        self.shared.close()
        self.shared.join_thread()


class Merged(QueueOwner):
    """Each worker counts alone and returns its counts; the benchmark merges them."""

    name = MERGED

    def share(self) -> Any:
        self.merged: collections.Counter[int] = collections.Counter()
        return self.context.Queue()

    @staticmethod
    def count(shared: Any, users: list[int]) -> None:
        shared.put(collections.Counter(users))

    def gather(self) -> None:
        for _ in range(self.workers):
            self.merged.update(self.shared.get(timeout=600))
        self.spans[-1] = time.monotonic()

    def counts(self) -> list[int]:
        return [self.merged[n] for n in range(USERS)]


#: One class per alternative, in the order of ``ALTERNATIVES``.
ALTERNATIVE_KINDS: tuple[type[Alternative], ...] = (
    ManagerLocks,
    ManagerKeyed,
    ShareableKeyed,
    ArrayLock,
    QueueOwner,
    Merged,
)
#: Their names, in the order the performance page plots them.
ALTERNATIVES = tuple(kind.name for kind in ALTERNATIVE_KINDS)


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
            for kind in ALTERNATIVE_KINDS:
                updates = self.count(kind.full_updates)
                seconds = self.run_alternative(kind, manager, workers, updates)
                self.add(
                    group,
                    f"{kind.name} x{workers}",
                    seconds=seconds,
                    baseline=f"{MANAGER_LOCKS} x{workers}",
                    unit="s/update",
                )

    def run_alternative(
        self, kind: type[Alternative], manager: Any, workers: int, updates: int
    ) -> float:
        """Seconds per update: first worker's start to the last count in place.

        Every process it started has ended when it returns or raises.
        """
        spans = self.context.Array("d", 2 * workers + 1, lock=False)
        ready = self.context.Barrier(workers)
        alternative = kind(self.context, manager, workers, spans)
        counting = [
            self.context.Process(
                target=alternative_worker,
                args=(kind, alternative.shared, updates, ready, spans, worker),
            )
            for worker in range(workers)
        ]
        processes = [*counting, *alternative.helpers]  # joined in this order
        try:
            for process in [*alternative.helpers, *counting]:
                process.start()
            alternative.gather()
            for process in processes:
                process.join(timeout=600)
                if process.exitcode != 0:
                    raise RuntimeError(
                        f"{kind.name}: a process failed (exit code {process.exitcode})"
                    )
            counts = alternative.counts()
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=30)
            alternative.close()
        if sum(counts) != workers * updates:
            raise RuntimeError(
                f"{kind.name}: lost updates ({sum(counts)} of {workers * updates})"
            )
        elapsed = alternative.last_count_at() - min(spans[0 : 2 * workers : 2])
        return float(elapsed) / (workers * updates)

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

    def docs_build(self, build: Callable[[], object]) -> None:
        """Time ``build`` twice: a cold build, then a rebuild with nothing changed."""
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            build()
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
    start_method: str | None = None,
    *,
    quick: bool = False,
    build_docs: Callable[[str], object] | None = None,
) -> Report:
    """Measure everything; ``build_docs`` (one build of a site, given the start
    method, raising if it fails) adds a cold build and a rebuild."""
    context = multiprocessing.get_context(start_method)
    bench = Bench(context, quick)
    with context.Manager() as manager:
        bench.single_operations(manager)
        bench.contention(manager)
        bench.alternatives(manager)
        bench.table_reads(manager)
    bench.per_key_locking()
    if build_docs is not None:
        bench.docs_build(lambda: build_docs(context.get_start_method()))
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


def main(
    argv: Sequence[str] | None = None,
    *,
    build_docs: Callable[[str], object] | None = None,
) -> int:
    """``python -m mpguide.bench``: print the table, optionally write JSON; its
    commands ``check-keys`` and ``lint-speed`` time the key checker and the linter.

    ``build_docs`` is passed on to :func:`run`.
    """
    parser = argparse.ArgumentParser(
        prog="python -m mpguide.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--start-method",
        choices=START_METHODS,
        default=os.environ.get("MPGUIDE_START_METHOD") or None,
        help="default: MPGUIDE_START_METHOD, else the platform's default",
    )
    parser.add_argument("--quick", action="store_true", help="a run of a few seconds")
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the results here"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "check-keys", help=f"check_keys on {BATCH_KEYS} keys against one key"
    )
    lint = commands.add_parser(
        "lint-speed", help="python -m mpguide lint against flake8, on the same files"
    )
    lint.add_argument(
        "flake8_python", metavar="PYTHON", help="an interpreter with flake8 and no plugin"
    )
    args = parser.parse_args(argv)
    if args.start_method is not None:
        try:
            check_start_method(args.start_method)
        except StartMethodError as error:
            parser.error(str(error))
    if args.command == "check-keys":
        print_batch_check_ratio()
        return 0
    if args.command == "lint-speed":
        print_lint_speed(args.flake8_python)
        return 0
    report = run(args.start_method, quick=args.quick, build_docs=build_docs)
    print(report.table())
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


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
    """Print :func:`batch_check_ratio` (``python -m mpguide.bench check-keys``)."""
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
    """Print :func:`lint_speed` (``python -m mpguide.bench lint-speed PYTHON``)."""
    result = lint_speed(flake8_python)
    print(
        f"mpguide lint: {result['lint_lines_per_s']:,.0f} lines/s, flake8 without "
        f"plugins: {result['flake8_lines_per_s']:,.0f} lines/s, on the same "
        f"{result['lines']:,.0f} lines: {format_ratio(result['ratio'])} flake8's speed"
    )


if __name__ == "__main__":
    raise SystemExit(main())
