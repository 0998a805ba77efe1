"""Check, before production does, whether an object works as a cross-process key.

A key of a Manager dict never stays in your process: the server receives a
pickled copy of the dict's keys and a pickled copy of every key you look up, and
compares those copies with each other. :func:`~mpguide.check_key` does the same trip on
your object and reports what breaks, why, and how to fix it:

- in this process: can it be hashed, pickled and unpickled; are two copies
  equal to each other and to the original, with the same hash; does its hash
  depend on attributes that can be reassigned;
- in a fresh interpreter started like a ``spawn`` or ``forkserver`` child: can
  it be unpickled there at all (its class must be importable), and does it hash
  the same there.

The object's own code (``__hash__``, ``__eq__``, ``__reduce__``...) runs during
the check. Whatever it raises, including :exc:`RecursionError`, becomes a
finding, never a crash; code that never returns is cut off after ``timeout``
seconds and reported as such.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import pickle
import reprlib
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from multiprocessing import spawn
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

from mpguide._fresh_process import RESULT_MARKER

__all__ = [
    "Finding",
    "KeyReport",
    "Problem",
    "Severity",
    "UnshareableKeyError",
    "assert_shareable_key",
    "check_key",
]

#: Attributes tried by the mutation check, at most.
MAX_ATTRIBUTES = 32
#: Container items visited while measuring how deeply a key nests, at most.
MAX_NESTING_VISITS = 100_000
#: Parts of an object tried while looking for the one that cannot be pickled.
MAX_PARTS = 200
#: The stack of the thread that runs the in-process checks: room for
#: :exc:`RecursionError` to be raised cleanly on every platform.
CHECK_STACK_SIZE = 16 * 1024 * 1024


class Severity(enum.StrEnum):
    """How much a finding matters for a key of a Manager dict."""

    #: Lookups fail (``KeyError``) or the key cannot be sent at all.
    ERROR = "error"
    #: Works today; breaks under a likely change (mutating the key).
    WARNING = "warning"
    #: Harmless as a dict key; a trap for one specific use, which it names.
    NOTE = "note"


class Problem(enum.StrEnum):
    """What :func:`check_key` can find. The values are stable identifiers."""

    #: ``hash()`` raises ``TypeError`` (a list, a dict, a mutable dataclass).
    UNHASHABLE = "unhashable"
    #: ``hash()`` raises something else (including :exc:`RecursionError`).
    HASH_RAISES = "hash-raises"
    #: Two ``hash()`` calls on the same object disagree.
    HASH_UNSTABLE = "hash-unstable"
    #: Pickling fails (a lambda, a local class, a lock, an open file...).
    NOT_PICKLABLE = "not-picklable"
    #: Pickling works, unpickling fails.
    NOT_UNPICKLABLE = "not-unpicklable"
    #: Equality inherited from ``object``, so a copy equals nothing (the report's bug).
    IDENTITY_EQUALITY = "identity-equality"
    #: A custom ``__eq__`` that a copy does not satisfy (``nan`` included).
    COPIES_NOT_EQUAL = "copies-not-equal"
    #: ``==`` raises, or returns something with no truth value.
    EQUALITY_RAISES = "equality-raises"
    #: Copies are equal but hash differently (``id()``-based hashes).
    HASH_CHANGES_AFTER_COPY = "hash-changes-after-copy"
    #: A hash cached on the instance travels with every copy.
    CACHED_HASH = "cached-hash"
    #: The hash depends on attributes that can be reassigned.
    MUTABLE_HASH = "mutable-hash"
    #: A fresh interpreter (as spawn and forkserver start) cannot load the key.
    NEW_PROCESS_CANNOT_LOAD = "new-process-cannot-load"
    #: ``hash()`` differs in another interpreter (salted ``str`` hashes).
    HASH_VARIES_BETWEEN_PROCESSES = "hash-varies-between-processes"
    #: The key's own code did not return within the timeout.
    CHECK_TIMED_OUT = "check-timed-out"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem with a key: what, why, and what to do.

    :param problem: which problem, a stable identifier.
    :param severity: how much it matters.
    :param summary: one sentence, with the values observed.
    :param explanation: why it breaks a cross-process key.
    :param fix: what to change.
    """

    problem: Problem
    severity: Severity
    summary: str
    explanation: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        """The finding as JSON-ready data."""
        return {
            "problem": self.problem.value,
            "severity": self.severity.value,
            "summary": self.summary,
            "explanation": self.explanation,
            "fix": self.fix,
        }


@dataclasses.dataclass(frozen=True)
class KeyReport:
    """What :func:`check_key` found: structured data, and a readable ``str()``.

    :param key: a (shortened) ``repr`` of the checked object.
    :param type: the object's class, as ``module.qualname``.
    :param findings: the problems found, errors first.
    :param checks: the checks that ran, in order.
    """

    key: str
    type: str
    findings: tuple[Finding, ...]
    checks: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when nothing stops the object from working as a Manager dict key."""
        return not self.errors

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings of severity :attr:`Severity.ERROR`."""
        return self._of(Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings of severity :attr:`Severity.WARNING`."""
        return self._of(Severity.WARNING)

    @property
    def notes(self) -> tuple[Finding, ...]:
        """Findings of severity :attr:`Severity.NOTE`."""
        return self._of(Severity.NOTE)

    def passes(self, *, strict: bool = False) -> bool:
        """No errors; with ``strict``, no warnings either. Notes never fail."""
        return self.ok and not (strict and self.warnings)

    def _of(self, severity: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is severity)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the CLI's ``--json`` output)."""
        return {
            "key": self.key,
            "type": self.type,
            "ok": self.ok,
            "checks": list(self.checks),
            "findings": [finding.to_dict() for finding in self.findings],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        lines = [f"{self.key} ({self.type})"]
        for finding in self.findings:
            heading = f"{finding.severity} [{finding.problem}] {finding.summary}"
            lines.append(_wrap(heading, "  ", "    "))
            for label, text in (("Why", finding.explanation), ("Fix", finding.fix)):
                lines.append(_wrap(f"{label}: {text}", "    ", "      "))
        counts = ", ".join(
            _count(len(self._of(severity)), str(severity)) for severity in Severity
        )
        verdict = (
            "Works as a key of a Manager dict."
            if self.ok
            else "Does not work as a key of a Manager dict."
        )
        lines.append(f"  {counts}. {verdict}")
        return "\n".join(lines)


class UnshareableKeyError(AssertionError):
    """Raised by :func:`assert_shareable_key`; ``report`` holds the details."""

    def __init__(self, report: KeyReport) -> None:
        super().__init__(f"not a shareable key:\n{report}")
        self.report = report


def check_key(
    obj: object, *, new_process: bool = True, timeout: float | None = 30.0
) -> KeyReport:
    """Report whether ``obj`` works as a key of a Manager dict, and why not.

    :param obj: the candidate key.
    :param new_process: also load ``obj`` in a fresh interpreter, as ``spawn``
        and ``forkserver`` children do (about a tenth of a second). Without it,
        a class that a new process cannot import, and a hash that differs
        between interpreters, go unnoticed.
    :param timeout: seconds allowed for each of the two phases (this process,
        the fresh interpreter); ``None`` waits forever.
    """
    checker = _Checker(obj)
    if timeout is None:
        checker.run_here()
    else:
        _run_with_timeout(checker, timeout)
    if new_process and checker.payload is not None and not checker.timed_out:
        checker.check_in_new_process(timeout)
    order = list(Severity)
    findings = sorted(checker.findings, key=lambda f: order.index(f.severity))
    return KeyReport(
        key=_safe_repr(obj),
        type=_type_name(type(obj)),
        findings=tuple(findings),
        checks=tuple(checker.checks),
    )


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


# -- The checks -------------------------------------------------------------------


class _Stop(Exception):
    """A finding that makes the remaining checks meaningless."""


class _Marker:
    """A value no real attribute holds, for the mutation check."""

    def __repr__(self) -> str:
        return "<mpguide marker>"


def _run_with_timeout(checker: _Checker, timeout: float) -> None:
    """Run the in-process checks in a daemon thread; give up after ``timeout``."""
    previous = threading.stack_size(CHECK_STACK_SIZE)
    try:
        thread = threading.Thread(
            target=checker.run_here, name="mpguide-check-key", daemon=True
        )
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join(timeout)
    if thread.is_alive():
        checker.time_out(timeout)


class _Checker:
    def __init__(self, obj: object) -> None:
        self.obj = obj
        self.cls = type(obj)
        self.name = self.cls.__qualname__
        self.findings: list[Finding] = []
        self.checks: list[str] = []
        self.step = "starting"
        self.timed_out = False
        self.payload: bytes | None = None
        self.hash: int | None = None
        self.cached_attribute: str | None = None
        self._lock = threading.Lock()

    def add(
        self, problem: Problem, severity: Severity, summary: str, why: str, fix: str
    ) -> None:
        with self._lock:
            if not self.timed_out:
                self.findings.append(Finding(problem, severity, summary, why, fix))

    def begin(self, check: str, step: str) -> None:
        with self._lock:
            if not self.timed_out:
                self.checks.append(check)
                self.step = step

    def time_out(self, timeout: float) -> None:
        with self._lock:
            step = self.step
        self.add(
            Problem.CHECK_TIMED_OUT,
            Severity.ERROR,
            f"The check gave up after {timeout:g} s while {step}.",
            f"{self.name}'s own code ({step}) did not return. A key whose __hash__, "
            "__eq__ or pickling never returns hangs every dict and every process "
            "that touches it.",
            "Find the loop or the blocking call in that method. The check's thread is "
            "left running in the background.",
        )
        with self._lock:
            self.timed_out = True

    def run_here(self) -> None:
        try:
            self.check_hash()
            self.check_pickle()
            copies = self.check_unpickle()
            self.check_copies(*copies)
            self.find_cached_hash()
            self.check_mutation()
        except _Stop:
            pass

    # -- hash ------------------------------------------------------------------

    def check_hash(self) -> None:
        self.begin("nesting", "measuring how deeply it nests")
        limit = sys.getrecursionlimit()
        ok, depth = _attempt(_nesting_depth, self.obj, limit)
        if ok and depth > limit:
            # Hashing a tuple recurses in C with no limit: it could crash us.
            self.add(
                Problem.NOT_PICKLABLE,
                Severity.ERROR,
                f"It nests containers more than {limit} levels deep (the recursion "
                "limit); the check did not hash it.",
                "Pickle recurses once per level and stops at the recursion limit, so "
                "it cannot be sent to a Manager; hashing a tuple that deep can even "
                "crash the interpreter.",
                "Use a flat key (a tuple of ids), not a deep structure.",
            )
            raise _Stop
        self.begin("hash", "calling hash()")
        ok, value = _attempt(hash, self.obj)
        if not ok:
            self.report_hash_failure(value, where="")
            raise _Stop
        ok, again = _attempt(hash, self.obj)
        if not ok or again != value:
            self.add(
                Problem.HASH_UNSTABLE,
                Severity.ERROR,
                f"hash() of the same {self.name} object returned {value!r}, then "
                f"{again if ok else _describe(again)!r}.",
                "A dict files a key under its hash and looks it up by recomputing it: "
                "a hash that changes from call to call finds nothing.",
                "Compute __hash__ only from the fields __eq__ compares, without "
                "randomness, time or counters.",
            )
            raise _Stop
        self.hash = value

    def report_hash_failure(self, error: BaseException | str, *, where: str) -> None:
        text = error if isinstance(error, str) else _describe(error)
        if text.startswith("TypeError: unhashable"):
            self.add(
                Problem.UNHASHABLE,
                Severity.ERROR,
                f"{self.name} objects are unhashable{where}: {text}.",
                "Dict keys must be hashable, in a Manager dict as in any other. "
                + _unhashable_reason(self.cls),
                _unhashable_fix(self.cls),
            )
        else:
            self.add(
                Problem.HASH_RAISES,
                Severity.ERROR,
                f"hash() raised{where}: {text}.",
                f"{self.name}.__hash__ fails, so no dict can hold or find this key.",
                "Make __hash__ return hash() of a tuple of the fields __eq__ compares.",
            )

    # -- pickling ----------------------------------------------------------------

    def check_pickle(self) -> None:
        self.begin("pickle", "pickling it")
        ok, value = _attempt(_dumps, self.obj)
        if ok:
            self.payload = value
            return
        with self._lock:
            self.step = "looking for the part that cannot be pickled"
        path, part, error = _unpicklable_part(self.obj, value)
        where = (
            f" (the part at {_shorten(path, 80)}, a {type(part).__qualname__})"
            if path
            else ""
        )
        summary, why, fix = _pickling_diagnosis(part, error)
        self.add(
            Problem.NOT_PICKLABLE,
            Severity.ERROR,
            f"It cannot be pickled{where}: {_describe(error)}.",
            "Every key sent to a Manager, and every argument sent to a worker, is "
            f"pickled. {summary} {why}",
            fix,
        )
        raise _Stop

    def check_unpickle(self) -> tuple[object, object]:
        self.begin("unpickle", "unpickling it")
        assert self.payload is not None
        copies = []
        for _ in range(2):
            ok, value = _attempt(pickle.loads, self.payload)
            if not ok:
                self.add(
                    Problem.NOT_UNPICKLABLE,
                    Severity.ERROR,
                    f"It pickles, but unpickling raised {_describe(value)}.",
                    "The Manager's server unpickles every key it receives; this one "
                    "fails there, and the error comes back to you as a RemoteError.",
                    f"Make {self.name}'s __reduce__ / __getstate__ / __setstate__ "
                    "round-trip: test pickle.loads(pickle.dumps(obj)) == obj.",
                )
                raise _Stop
            copies.append(value)
        return copies[0], copies[1]

    # -- copies ---------------------------------------------------------------------

    def check_copies(self, first: object, second: object) -> None:
        self.begin("copies", "comparing copies with ==")
        equal = True
        for left, right in ((first, second), (self.obj, first), (first, self.obj)):
            ok, value = _attempt(_equal, left, right)
            if not ok:
                self.add(
                    Problem.EQUALITY_RAISES,
                    Severity.ERROR,
                    f"Comparing two {self.name} objects with == raised {_describe(value)}.",
                    "A dict compares the key it looks up with the keys it holds; an "
                    "__eq__ that raises (or returns something with no truth value) "
                    "breaks every lookup that lands in the same slot.",
                    "Make __eq__ return True, False or NotImplemented.",
                )
                raise _Stop
            equal = equal and value
        if not equal:
            self.report_unequal_copies()
            raise _Stop
        self.begin("copy hashes", "calling hash() on copies")
        hashes = []
        for copy in (first, second):
            ok, value = _attempt(hash, copy)
            if not ok:
                self.report_hash_failure(value, where=" on an unpickled copy")
                raise _Stop
            hashes.append(value)
        if hashes[0] != self.hash or hashes[1] != self.hash:
            self.report_hash_changed(hashes)
            raise _Stop

    def report_unequal_copies(self) -> None:
        ok, reflexive = _attempt(_equal, self.obj, self.obj)
        if self.cls.__eq__ is object.__eq__:
            self.add(
                Problem.IDENTITY_EQUALITY,
                Severity.ERROR,
                f"A copy is not equal to the original: {self.name} compares by identity.",
                f"{self.name} defines neither __eq__ nor __hash__, so it inherits "
                "object's, which compare identity. A Manager dict lives in another "
                "process and gets a pickled copy of every key: a new object, equal to "
                "nothing but itself. Looking the key up raises KeyError although it is "
                "'right there' when printed.",
                "Key the dict by a stable id (user.id); or give the class value "
                "equality: @dataclass(frozen=True), or __eq__ and __hash__ over the "
                "same fields; or key by a token from mpguide.KeyRegistry.",
            )
        elif ok and not reflexive:
            self.add(
                Problem.COPIES_NOT_EQUAL,
                Severity.ERROR,
                "It is not even equal to itself (obj == obj is False).",
                "In a single process a dict still finds it, because a dict tries "
                "identity before ==. A copy is another object, so the identity "
                "shortcut fails and nothing equals it: float('nan') is the classic case.",
                "Do not use such values as keys; map them to a representative first "
                "(for instance, every NaN to None).",
            )
        else:
            self.add(
                Problem.COPIES_NOT_EQUAL,
                Severity.ERROR,
                f"A copy is not equal to the original: {self.name}.__eq__ says so.",
                f"{self.name} defines __eq__, but it compares something a pickled "
                "copy does not keep (identity, id(), a field left out of pickling, "
                "a live resource). The Manager's server compares copies only.",
                "Compare, in __eq__, exactly the fields that pickling keeps and that "
                "__hash__ uses.",
            )

    def report_hash_changed(self, hashes: list[int]) -> None:
        detail = f"hash(original) is {self.hash}, the copies' {hashes[0]} and {hashes[1]}"
        if self.cls.__hash__ is object.__hash__:
            why = (
                f"{self.name} defines __eq__ but keeps object.__hash__, which is "
                "derived from the object's address."
            )
        elif self.hash is not None and self.hash in _address_hashes(self.obj):
            why = f"{self.name}.__hash__ is computed from id(), the object's address."
        else:
            why = f"{self.name}.__hash__ depends on something pickling does not keep."
        self.add(
            Problem.HASH_CHANGES_AFTER_COPY,
            Severity.ERROR,
            f"Copies are equal to the original but hash differently: {detail}.",
            f"{why} A dict looks only in the slot of the key's hash, so an equal "
            "key with another hash is never found: KeyError.",
            "Make __hash__ return hash() of a tuple of the fields __eq__ compares; "
            "or use @dataclass(frozen=True), which does exactly that.",
        )

    def find_cached_hash(self) -> None:
        """Name an instance attribute holding this object's hash, if one does."""
        if self.cls.__hash__ is object.__hash__ or self.hash is None:
            return
        for name, value in _instance_attributes(self.obj):
            if type(value) is int and value == self.hash and self.returns_as_hash(name):
                self.cached_attribute = name
                return

    def returns_as_hash(self, name: str) -> bool:
        """Does ``__hash__`` return attribute ``name`` as is (a cache), or hash it?"""
        assert self.payload is not None
        ok, copy = _attempt(pickle.loads, self.payload)
        if not ok or not _attempt(setattr, copy, name, _Marker())[0]:
            return False
        ok, error = _attempt(hash, copy)
        return not ok and "should return an integer" in str(error)

    # -- mutation -----------------------------------------------------------------------

    def check_mutation(self) -> None:
        if self.cls.__hash__ is object.__hash__ or self.payload is None:
            return
        self.begin("mutation", "reassigning attributes of a copy")
        feeding = []
        attributes = [name for name, _ in _instance_attributes(self.obj)]
        for name in attributes[:MAX_ATTRIBUTES]:
            if name == self.cached_attribute:
                continue
            ok, copy = _attempt(pickle.loads, self.payload)
            if not ok or not _attempt(setattr, copy, name, _Marker())[0]:
                continue
            ok, changed = _attempt(hash, copy)
            if not ok or changed != self.hash:
                feeding.append(name)
        if not feeding:
            return
        names = ", ".join(repr(name) for name in feeding)
        params = getattr(self.cls, "__dataclass_params__", None)
        if params is not None and getattr(params, "unsafe_hash", False):
            why = (
                "@dataclass(unsafe_hash=True) hashes fields that stay assignable. "
                "Change one after using the object as a key and the dict files it "
                "under a stale hash: lookups by the new value and by the old both fail."
            )
            fix = "Use @dataclass(frozen=True) instead of unsafe_hash=True."
        else:
            why = (
                f"{self.name}.__hash__ uses attributes that can be reassigned. Change "
                "one after using the object as a key and the dict files it under a "
                "stale hash: lookups by the new value and by the old both fail."
            )
            fix = (
                "Make the fields read-only (@dataclass(frozen=True), or properties "
                "over private attributes), or never change a key once it is in a dict."
            )
        self.add(
            Problem.MUTABLE_HASH,
            Severity.WARNING,
            f"Its hash depends on {names}, which can be reassigned.",
            why,
            fix,
        )

    # -- a fresh interpreter ---------------------------------------------------------

    def check_in_new_process(self, timeout: float | None) -> None:
        self.checks.append("new process")
        if not sys.executable:
            self.checks[-1] = "new process (skipped: no Python executable known)"
            return
        ok, outcome = _attempt(self.run_fresh_interpreter, timeout)
        if ok:
            self.interpret_fresh_result(outcome)
        elif isinstance(outcome, subprocess.TimeoutExpired):
            self.add(
                Problem.CHECK_TIMED_OUT,
                Severity.ERROR,
                f"Loading it in a fresh interpreter took longer than {timeout:g} s.",
                "A spawn or forkserver child re-imports your main module and the "
                f"modules {self.name} needs, then unpickles it; one of those steps did "
                "not return. Every new process you start would block the same way.",
                "Look for work done at import time (outside if __name__ == "
                "'__main__':) or a __setstate__ that blocks.",
            )
        else:
            self.add(
                Problem.NEW_PROCESS_CANNOT_LOAD,
                Severity.ERROR,
                f"A fresh interpreter failed before loading it: {_describe(outcome)}.",
                "The check starts a Python interpreter the way spawn and forkserver "
                "start their children; it failed on its own, before the key.",
                "Run the check again; if it persists, start a process with the spawn "
                "start method to see the whole error.",
            )

    def run_fresh_interpreter(self, timeout: float | None) -> dict[str, Any]:
        preparation = spawn.get_preparation_data("mpguide-check-key")
        preparation.pop("authkey", None)  # not needed, and never pickled
        request = pickle.dumps((preparation, self.payload, self.cached_attribute))
        script = Path(__file__).with_name("_fresh_process.py")
        env = {**os.environ, "PYTHONHASHSEED": _another_hash_seed()}
        done = subprocess.run(
            [sys.executable, "-P", str(script)],
            input=request,
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        stdout = done.stdout.decode("utf-8", "replace")
        for line in reversed(stdout.splitlines()):
            if line.startswith(RESULT_MARKER):
                result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
                return result
        stderr = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = stderr[-1] if stderr else f"exit status {done.returncode}"
        raise RuntimeError(f"the interpreter failed before reporting: {last}")

    def interpret_fresh_result(self, result: dict[str, Any]) -> None:
        if "prepare_error" in result:
            main = getattr(sys.modules.get("__main__"), "__file__", None) or "__main__"
            self.add(
                Problem.NEW_PROCESS_CANNOT_LOAD,
                Severity.ERROR,
                "A new process cannot even start from this program: re-running its "
                f"main module failed with {result['prepare_error']}.",
                "A spawn or forkserver child first re-imports the parent's main module "
                f"({main}) as __mp_main__, so that it can find what is defined there. "
                "That failed, so every process this program starts under spawn or "
                "forkserver fails the same way, whatever the key.",
                "Run the program from a file (python your_script.py) or as a module "
                "(python -m package.module), keep its work under if __name__ == "
                "'__main__':, and define key classes in an importable module.",
            )
            return
        if "unpickle_error" in result:
            self.add(
                Problem.NEW_PROCESS_CANNOT_LOAD,
                Severity.ERROR,
                f"A new process cannot unpickle it: {result['unpickle_error']}.",
                "Under spawn and forkserver (the default on macOS and Windows, and on "
                "Linux from Python 3.14) the Manager's server is a fresh interpreter: "
                "it recreates a key by importing its class by name. A class defined "
                "in a notebook, an interactive session, python -c, or inside a "
                "function cannot be imported (under fork the server inherits it, "
                "which hides the problem).",
                f"Define {self.name} at the top level of a module the workers can "
                "import (a .py file next to your script, or your package).",
            )
            return
        if result.get("hash_error"):
            self.report_hash_failure(str(result["hash_error"]), where=" in a new process")
            return
        if self.cached_attribute is not None:
            self.interpret_cached_hash(result)
            return
        already_broken = any(f.severity is Severity.ERROR for f in self.findings)
        by_identity = self.cls.__hash__ is object.__hash__
        if result.get("hash") != self.hash and not (already_broken or by_identity):
            self.add(
                Problem.HASH_VARIES_BETWEEN_PROCESSES,
                Severity.NOTE,
                f"hash() differs in another interpreter: {self.hash} here, "
                f"{result.get('hash')} there.",
                "Python salts the hash of str and bytes per interpreter "
                "(PYTHONHASHSEED) and hashes some objects by address (None, before "
                "Python 3.12), so anything hashing them differs too. A Manager "
                "dict does not care: it hashes every key in its own process. It "
                "matters when one process computes hash(key) and another compares "
                "it: sharding or lock striping with hash(key) % n picks different "
                "shards in spawn and forkserver workers.",
                "For sharding or striping use mpguide.stable_hash(key) % n, or "
                "mpguide.KeyedLocks.",
            )

    def interpret_cached_hash(self, result: dict[str, Any]) -> None:
        attribute = self.cached_attribute
        recomputed = result.get("recomputed_hash")
        if result.get("recompute_error") or recomputed is None:
            self.add(
                Problem.CACHED_HASH,
                Severity.WARNING,
                f"Its hash is cached in the attribute {attribute!r}, which pickling "
                "copies.",
                "Every copy carries the hash computed by the process that first "
                "hashed the object. If that hash depends on the process (salted str "
                "hashes, id()), an equal key built in another process hashes "
                "differently and is not found. Removing the cache in a fresh "
                "interpreter to recompute it failed, so the check cannot tell.",
                "Do not pickle a cached hash: drop it in __getstate__, or compute "
                "the hash on every call.",
            )
        elif recomputed != self.hash:
            self.add(
                Problem.CACHED_HASH,
                Severity.ERROR,
                f"Its hash is cached in the attribute {attribute!r} and pickled with "
                f"it: {self.hash} here, but an equal key hashes to {recomputed} in "
                "another process.",
                "Every copy carries the hash computed by the process that first "
                "hashed the object, while an equal key built in another process "
                "(a spawn or forkserver worker) computes its own. The two are equal "
                "but live in different slots of the dict: KeyError.",
                "Do not pickle a cached hash: drop it in __getstate__, or compute "
                "the hash on every call; hash only values whose hash is the same in "
                "every process, or use mpguide.stable_hash.",
            )


# -- helpers ------------------------------------------------------------------------


def _wrap(text: str, first: str, rest: str) -> str:
    return textwrap.fill(
        text,
        width=88,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _attempt(function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """Call ``function``; return ``(True, result)`` or ``(False, exception)``."""
    try:
        return True, function(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # the key's own code may raise anything
        return False, error


def _dumps(obj: object) -> bytes:
    """Pickle as a Manager connection does."""
    return bytes(ForkingPickler.dumps(obj))


def _equal(left: object, right: object) -> bool:
    return bool(left == right)


def _describe(error: BaseException) -> str:
    ok, text = _attempt(str, error)
    message = text if ok else "(its message could not be read)"
    name = type(error).__name__
    return f"{name}: {_shorten(message)}" if message else name


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


_short_repr = reprlib.Repr()
_short_repr.maxstring = 120
_short_repr.maxother = 120


def _safe_repr(obj: object) -> str:
    ok, text = _attempt(_short_repr.repr, obj)
    if ok and isinstance(text, str):
        return text
    return f"<{_type_name(type(obj))} object (repr raised {_describe(text)})>"


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None) or "?"
    return f"{module}.{getattr(cls, '__qualname__', '?')}"


def _another_hash_seed() -> str:
    """A PYTHONHASHSEED for the fresh interpreter that differs from ours."""
    ours = os.environ.get("PYTHONHASHSEED", "")
    if ours.isdigit():
        return str(int(ours) % 4294967295 + 1)
    # Ours is random (or hashing unsalted): any fixed seed differs.
    return "1"


def _address_hashes(obj: object) -> set[int]:
    address = id(obj)
    return {address, hash(address), address >> 4, hash(str(address))}


def _instance_attributes(obj: object) -> Iterator[tuple[str, object]]:
    """The object's own attributes: its ``__dict__`` and filled ``__slots__``."""
    ok, namespace = _attempt(object.__getattribute__, obj, "__dict__")
    if ok and isinstance(namespace, dict):
        yield from ((str(k), v) for k, v in list(namespace.items()))
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            ok, value = _attempt(object.__getattribute__, obj, name)
            if ok:
                yield name, value


def _nesting_depth(obj: object, limit: int) -> int:
    """How deeply built-in containers nest in ``obj``, counted up to ``limit + 1``."""
    deepest = 0
    seen: set[int] = set()
    stack: list[tuple[object, int]] = [(obj, 0)]
    budget = MAX_NESTING_VISITS
    while stack and budget > 0 and deepest <= limit:
        item, depth = stack.pop()
        budget -= 1
        deepest = max(deepest, depth)
        if id(item) in seen:
            continue
        if isinstance(item, dict):
            seen.add(id(item))
            children = (*dict.keys(item), *dict.values(item))
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, (tuple, list, set, frozenset)):
            seen.add(id(item))
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _parts(obj: object) -> Iterator[tuple[str, object]]:
    """What pickling ``obj`` also pickles, as (path suffix, part), for common shapes."""
    if isinstance(obj, (list, tuple)):
        yield from ((f"[{i}]", item) for i, item in enumerate(obj))
    elif isinstance(obj, dict):
        for key, value in list(obj.items()):
            yield f"[{_safe_repr(key)}]", value
            yield f" (key {_safe_repr(key)})", key
    elif isinstance(obj, (set, frozenset)):
        yield from ((f" (item {_safe_repr(item)})", item) for item in obj)
    else:
        yield from ((f".{name}", value) for name, value in _instance_attributes(obj))


def _unpicklable_part(
    obj: object, error: BaseException
) -> tuple[str, object, BaseException]:
    """Descend into ``obj`` to the innermost part that fails to pickle by itself."""
    path, part, budget = "", obj, MAX_PARTS
    while budget > 0:
        if isinstance(error, RecursionError) or "through inheritance" in str(error):
            break  # the nesting itself, or this multiprocessing object, is the problem
        for suffix, child in _parts(part):
            budget -= 1
            ok, child_error = _attempt(_dumps, child)
            if not ok:
                path, part, error = path + suffix, child, child_error
                break
            if budget <= 0:
                break
        else:
            break
    return path, part, error


def _pickling_diagnosis(part: object, error: BaseException) -> tuple[str, str, str]:
    """Say what kind of object ``part`` is, why it cannot travel, and what to do."""
    message = str(error)
    kind = type(part).__qualname__
    if isinstance(error, RecursionError):
        return (
            "It nests too deeply for pickle.",
            "Pickle recurses once per level of nesting and stops at the recursion limit.",
            "Use a flat key (a tuple of ids), not a deep structure.",
        )
    if "through inheritance" in message:
        return (
            f"A multiprocessing {kind} can only reach a child process by inheritance.",
            "Synchronization primitives cannot be sent through a pipe at all.",
            "Do not key by (or store in a key) a lock: key by a plain id, and hand "
            "locks to workers through Process arguments or a pool's initializer; "
            "see mpguide.KeyedLocks.",
        )
    if "<lambda>" in message or "local object" in message:
        return (
            "Lambdas, and functions or classes defined inside a function, have no "
            "importable name, and pickle stores classes and functions by name.",
            "The receiving process could not find them.",
            "Define the function or class at the top level of a module.",
        )
    if "not the same object as" in message or "attribute lookup" in message:
        return (
            f"Pickle stores {kind} by its module and name, and that name does not "
            "lead back to this class (it was renamed, redefined or created dynamically).",
            "The receiving process would import something else, or nothing.",
            "Define the class once, at the top level of a module, under its own name.",
        )
    if message.startswith("cannot pickle"):
        return (
            f"A {kind} is live state of this process (like a thread lock, an open "
            "file, a socket or a generator), which no other process can receive.",
            "Pickle copies values; a resource is not a value.",
            "Key by a value that names the resource (a path, an id), and keep the "
            "resource itself out of the key; drop it in __getstate__ if it must stay.",
        )
    return (
        f"{kind}'s own pickling code (__reduce__ or __getstate__) raised.",
        "Whatever it raises, the Manager raises too.",
        f"Fix {kind}.__reduce__ / __getstate__, or key by a plain value instead.",
    )


def _unhashable_reason(cls: type) -> str:
    if cls.__module__ == "builtins":
        return f"A {cls.__qualname__} is mutable, so Python gives it no hash."
    params = getattr(cls, "__dataclass_params__", None)
    if params is not None and params.eq and not params.frozen:
        return (
            "A @dataclass with eq=True (the default) and frozen=False sets __hash__ "
            "to None, because a mutable object's hash could change while it is a key."
        )
    if cls.__dict__.get("__hash__", object.__hash__) is None:
        return (
            f"{cls.__qualname__} defines __eq__ without __hash__, which sets "
            "__hash__ to None."
        )
    return f"{cls.__qualname__} sets __hash__ to None."


def _unhashable_fix(cls: type) -> str:
    if cls.__module__ == "builtins":
        return "Use an immutable equivalent: a tuple for a list, a frozenset for a set."
    if getattr(cls, "__dataclass_params__", None) is not None:
        return "Use @dataclass(frozen=True)."
    if cls.__dict__.get("__hash__", object.__hash__) is None:
        return "Add a __hash__ over the same fields __eq__ compares."
    return "Key by an immutable value that identifies the object, such as its id."
