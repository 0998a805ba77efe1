"""Check, before production does, whether an object works as a cross-process key.

A key of a Manager dict never stays in your process: the server receives a
pickled copy of the dict's keys and a pickled copy of every key you look up, and
compares those copies with each other, in a thread per connection; it pickles
them again to send them back. :func:`~mpguide.check_key` does the same trips on
your object and reports what breaks, why, and how to fix it.

In your process the key is only pickled, by separate calls, as the Manager's
client pickles it, and, when that fails, its parts are pickled one by one to
name the part that fails; nothing else of its code runs there (its containers
are read with the base types' methods, its error's message only when a built-in
class makes it from plain values). Two fresh interpreters, each started as
``spawn`` starts a child (the main module re-imported as ``__mp_main__``, the
caller's interpreter flags) and each with another hash seed, do the rest:
unpickle the copies (the class must be importable there), hash them in several
threads, compare every copy with every other both ways, pickle a copy again and
compare what comes back; the second also compares them with the copy the first
one pickled, looks for a cached hash, and looks for public attributes that feed
the hash (with ``new_process=False`` the only interpreter does that last
probe). The object you pass is never hashed, compared, printed or changed, and
your program's start method, threads and stack size are left as found.

Whatever the key's code raises, including :exc:`KeyboardInterrupt` and
:exc:`SystemExit`, becomes a finding naming the step; so does a key that ends or
hangs the interpreter examining it. A report is ok only when every step ran.
``timeout`` bounds each phase: the pickling in this process runs in a thread
that is abandoned after ``timeout`` seconds, and an interpreter is killed (with
the processes it started that stayed in its process group) when it spends
longer than that starting, or on one key. A thread cannot be interrupted while
C code holds the GIL (a pickling that never returns in C): for a limit that
holds whatever the key does, run ``python -m mpguide check``, whose
``--timeout`` kills the process that runs the whole check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mpguide.keycheck._child import type_name
from mpguide.keycheck.fresh import (
    Task,
    another_hash_seed,
    examine_in_fresh_interpreters,
    repickled,
)
from mpguide.keycheck.report import (
    Finding,
    KeyReport,
    Problem,
    Severity,
    UnshareableKeyError,
)
from mpguide.keycheck.trip import Trip

__all__ = [
    "Finding",
    "KeyReport",
    "Problem",
    "Severity",
    "UnshareableKeyError",
    "assert_shareable_key",
    "check_key",
    "check_keys",
]


def check_key(
    obj: object, *, new_process: bool = True, timeout: float | None = 30.0
) -> KeyReport:
    """Report whether ``obj`` works as a key of a Manager dict, and why not.

    :param obj: the candidate key. It is left exactly as it was: the check
        works on pickled copies only.
    :param new_process: examine the copies in a second fresh interpreter too,
        with another hash seed, comparing them with copies the first one pickled
        (the cost of starting one more interpreter). Without it, a hash that differs between
        interpreters, a cached hash and a pickle that depends on the process that
        made it go unnoticed. The first interpreter runs either way: nothing but
        pickling (of the key, and of its parts when it fails) runs in your process.
    :param timeout: seconds allowed for the pickling in this process, for each
        fresh interpreter to start, and for it to examine one key; ``None``
        waits forever. See the module's description for what it cannot cut off.
    """
    (report,) = check_keys([obj], new_process=new_process, timeout=timeout)
    return report


def check_keys(
    objs: Iterable[object], *, new_process: bool = True, timeout: float | None = 30.0
) -> list[KeyReport]:
    """:func:`check_key` for many objects, sharing the fresh interpreters.

    Returns one report per object, in order. The keys are examined in two fresh
    interpreters (one with ``new_process=False``) shared by all of them:
    starting interpreters is most of a check's cost, so checking a hundred keys
    costs little more than one. A key that hangs or ends an interpreter gets its
    own finding; the keys after it are examined in a new one. ``timeout``
    applies per key.
    """
    return _check_keys(objs, new_process=new_process, timeout=timeout)


def _check_keys(
    objs: Iterable[object],
    *,
    new_process: bool = True,
    timeout: float | None = 30.0,
    pickling: Callable[[int | None], None] | None = None,
) -> list[KeyReport]:
    """:func:`check_keys`, calling ``pickling(index)`` before the pickling of
    each key in this process and ``pickling(None)`` once it is done for all."""
    trips = [Trip(obj) for obj in objs]
    for index, trip in enumerate(trips):
        if pickling is not None:
            pickling(index)
        trip.run_here_within(timeout)
    if pickling is not None:
        pickling(None)
    pending = [t for t in trips if t.payloads and not t.timed_out and not t.failed]
    stages = [("copies", not new_process)]
    if new_process:
        stages.append(("new process", True))
    for number, (check, last) in enumerate(stages, start=1):
        tasks: list[Task] = []
        for trip in pending:
            trip.checks.append(check)
            foreign = repickled({"result": trip.here}) if last and number > 1 else []
            tasks.append((trip.payloads, foreign, last))
        if not tasks:
            break
        outcomes = examine_in_fresh_interpreters(tasks, timeout, another_hash_seed(number))
        for trip, outcome in zip(pending, outcomes, strict=True):
            trip.interpret_outcome(outcome, timeout, last=last)
        pending = [t for t in pending if not t.failed]
    return [_report(trip) for trip in trips]


def assert_shareable_key(
    obj: object,
    *,
    strict: bool = False,
    new_process: bool = True,
    timeout: float | None = 30.0,
) -> KeyReport:
    """Raise :exc:`UnshareableKeyError` unless ``obj`` works as a Manager dict key.

    Meant for test suites: ``assert_shareable_key(User(1, "sam"))``. With
    ``strict``, warnings fail too. Returns the report when the key passes.
    """
    report = check_key(obj, new_process=new_process, timeout=timeout)
    if not report.passes(strict=strict):
        raise UnshareableKeyError(report)
    return report


def _report(trip: Trip) -> KeyReport:
    order = list(Severity)
    with trip._lock:
        findings = sorted(trip.findings, key=lambda f: order.index(f.severity))
        return KeyReport(
            key=trip.key,
            type=type_name(trip.cls),
            findings=tuple(findings),
            checks=tuple(trip.checks),
        )
