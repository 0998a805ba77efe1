"""Check, before production does, whether an object works as a cross-process key.

A key of a Manager dict never stays in your process: the server receives a
pickled copy of the dict's keys and a pickled copy of every key you look up, and
compares those copies with each other. :func:`~mpguide.check_key` does the same trip on
your object and reports what breaks, why, and how to fix it:

- in this process: can it be pickled (as the Manager's client pickles it), and
  do two unpickled copies hash, equal each other and hash alike, as they must in
  the server;
- in a fresh interpreter started like a ``spawn`` or ``forkserver`` child,
  with another hash seed: can it be unpickled there at all (its class must be
  importable), do its copies behave there, does its hash differ from this
  process's, is a cached hash carried by the copies, and does the hash depend
  on public attributes that can be reassigned.

The check never hashes, compares or changes the object it is given: every step
works on unpickled copies, and the steps that reassign attributes run only in
the fresh interpreter (an Enum member, or anything else pickled by reference,
unpickles in this process as the very object you passed).

The object's own code (``__hash__``, ``__eq__``, ``__repr__``, ``__reduce__``...)
runs during the check. Whatever it raises, including :exc:`RecursionError`,
becomes a finding, never a crash. ``timeout`` bounds each phase: the steps in
this process run in a thread that is abandoned after ``timeout`` seconds, and
the fresh interpreter is killed when it spends longer than that starting, or on
one key. A thread cannot be interrupted while C code holds the GIL (a
catastrophic regular expression in ``__hash__``): for a limit that holds
whatever the key does, run ``python -m mpguide check``, whose ``--timeout``
kills the process that runs the whole check.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from mpguide._fresh_process import attempt, describe
from mpguide.keycheck.diagnosis import type_name
from mpguide.keycheck.fresh import examine_in_fresh_interpreter
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
    :param new_process: also examine ``obj`` in a fresh interpreter, as
        ``spawn`` and ``forkserver`` children load it (a few tens of
        milliseconds). Without it, a class that a new process cannot import, a
        hash that differs between interpreters, a cached hash and a hash fed by
        reassignable attributes go unnoticed.
    :param timeout: seconds allowed for the steps in this process, for the
        fresh interpreter to start, and for it to examine the key; ``None``
        waits forever. See the module's description for what it cannot cut off.
    """
    (report,) = check_keys([obj], new_process=new_process, timeout=timeout)
    return report


def check_keys(
    objs: Iterable[object], *, new_process: bool = True, timeout: float | None = 30.0
) -> list[KeyReport]:
    """:func:`check_key` for many objects, with one fresh interpreter for all of them.

    Returns one report per object, in order. Starting the interpreter is most of
    a check's cost, so checking a hundred keys costs little more than one. A
    key that hangs or crashes the fresh interpreter gets its own finding; the
    keys after it are examined in a new one. ``timeout`` applies per key.
    """
    trips = [Trip(obj) for obj in objs]
    for trip in trips:
        trip.run_here_within(timeout)
    if new_process and not sys.executable:
        for trip in trips:
            trip.checks.append("new process (skipped: no Python executable known)")
    elif new_process:
        sendable = [t for t in trips if t.payload is not None and not t.timed_out]
        payloads = [t.payload for t in sendable if t.payload is not None]
        if payloads:
            ok, results = attempt(examine_in_fresh_interpreter, payloads, timeout)
            if not ok:  # could not even start it: the check's failure, not the key's
                results = [{"failed": describe(results)}] * len(payloads)
            for trip, result in zip(sendable, results, strict=True):
                trip.interpret_fresh(result, timeout)
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
