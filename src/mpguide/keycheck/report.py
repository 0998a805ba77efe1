"""What a check finds: problems, findings and the report, as data and as text."""

from __future__ import annotations

import dataclasses
import enum
import json
import textwrap
from typing import Any

__all__ = ["Finding", "KeyReport", "Problem", "Severity", "UnshareableKeyError"]


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
    #: Two ``hash()`` calls on the same object disagree, in one thread or in two.
    HASH_UNSTABLE = "hash-unstable"
    #: Pickling fails (a lambda, a local class, a lock, an open file...), here or
    #: when a receiving process pickles a copy again (a lock stored by the first
    #: ``__hash__``, a ``copyreg`` reducer registered only under the main guard),
    #: or the key nests deeper than a fresh interpreter's recursion limit allows.
    NOT_PICKLABLE = "not-picklable"
    #: Pickling works, unpickling fails.
    NOT_UNPICKLABLE = "not-unpicklable"
    #: Equality inherited from ``object``, so a copy equals nothing (the report's bug).
    IDENTITY_EQUALITY = "identity-equality"
    #: A custom ``__eq__`` that a copy does not satisfy (``nan`` included), in
    #: either direction, including copies from separate pickling calls, from
    #: another process, and copies pickled again after a trip.
    COPIES_NOT_EQUAL = "copies-not-equal"
    #: ``==`` raises, or returns something with no truth value.
    EQUALITY_RAISES = "equality-raises"
    #: Two copies are equal but hash differently (``id()``-based hashes).
    HASH_CHANGES_AFTER_COPY = "hash-changes-after-copy"
    #: A hash cached on the instance, computed in one process, meets keys hashed
    #: in another: an error when the cache is pickled with the key (an equal key
    #: built in another process is not found, or the check cannot tell whether it
    #: is), a warning when it is cached lazily (it breaks once a key is hashed
    #: before it is sent).
    CACHED_HASH = "cached-hash"
    #: The hash depends on public attributes that can be reassigned.
    MUTABLE_HASH = "mutable-hash"
    #: A fresh interpreter (as spawn and forkserver start) cannot load the key.
    NEW_PROCESS_CANNOT_LOAD = "new-process-cannot-load"
    #: ``hash()`` differs in another interpreter (salted ``str`` hashes).
    HASH_VARIES_BETWEEN_PROCESSES = "hash-varies-between-processes"
    #: The key's own code ends the process that runs it (``os._exit()``, a crash),
    #: or raises an exception that is not an :exc:`Exception`
    #: (:exc:`KeyboardInterrupt`, :exc:`SystemExit`).
    ENDS_PROCESS = "ends-process"
    #: The key's own code did not return within the timeout.
    CHECK_TIMED_OUT = "check-timed-out"
    #: The check itself failed, not the key, for instance when the fresh
    #: interpreter could not start or mpguide has a bug. The key is not known to work.
    CHECK_FAILED = "check-failed"


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyReport:
        """The report :meth:`to_dict` described (``ok`` is recomputed)."""
        findings = tuple(
            Finding(
                Problem(f["problem"]),
                Severity(f["severity"]),
                summary=f["summary"],
                explanation=f["explanation"],
                fix=f["fix"],
            )
            for f in data["findings"]
        )
        return cls(
            key=data["key"],
            type=data["type"],
            findings=findings,
            checks=tuple(data["checks"]),
        )

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
