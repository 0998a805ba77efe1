"""The steps of a key's trip, and what each outcome means for a Manager dict key.

In the caller's process the key is only pickled, several times by separate
calls, as the Manager's client pickles it (and, when that fails, its parts one
by one, read with the base types' methods); the original is never hashed,
compared, printed or changed, and no copy is unpickled there. Fresh
interpreters unpickle, re-pickle, hash and compare the copies (see
:mod:`mpguide.keycheck._child`).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from mpguide.keycheck._child import attempt, describe, dumps, type_name
from mpguide.keycheck.diagnosis import (
    nesting_depth,
    pickling_diagnosis,
    shorten,
    unhashable_fix,
    unhashable_reason,
    unpicklable_part,
)
from mpguide.keycheck.report import Finding, Problem, Severity

#: Keys nesting containers deeper than this are refused, whatever the caller's
#: recursion limit: a fresh interpreter (and the Manager's server) runs with the
#: default limit of 1000 frames, and the Manager pickles a key with frames of its
#: own on the stack. On CPython 3.11 a tuple nested 993 deep already fails there;
#: 3.12 and 3.13 allow more (measured: 1200 passes; 3000 fails on 3.12).
MAX_NESTING = 900
#: The stack of the thread that pickles the key: room for :exc:`RecursionError`
#: to be raised cleanly on every platform.
CHECK_STACK_SIZE = 16 * 1024 * 1024
#: Separate pickling calls in the caller's process: a key whose pickle depends
#: on the moment (a timestamp in ``__getstate__``) gives copies that differ.
PICKLINGS = 3
#: Held while the stack size is changed for the check's thread and put back, so
#: that concurrent checks leave it as they found it.
_STACK_LOCK = threading.Lock()
#: Errors of unpickling that mean the class cannot be found by name.
CANNOT_LOAD = ("AttributeError: Can't get attribute", "ModuleNotFoundError", "ImportError")

SALTED = (
    "Python salts the hash of str and bytes per interpreter (PYTHONHASHSEED), and "
    "so the hash of whatever hashes them: date, naive datetime and time, memoryview, "
    "Enum members (hashed by name); some objects hash by address, so differ between "
    "runs too (NaN, classes, and None before Python 3.12)."
)


def fixed_seed_caveat() -> str:
    """A sentence for verdicts that a fixed PYTHONHASHSEED would change."""
    seed = os.environ.get("PYTHONHASHSEED", "")
    if not seed or seed == "random":
        return ""
    return (
        f" This program runs with PYTHONHASHSEED={seed}, which the processes it starts "
        "inherit: while every process that hashes these keys has that seed, the salted "
        "hashes agree and this does not show. The check judged it with other seeds, as "
        "a run or a machine without that setting would."
    )


class _Stop(Exception):
    """A finding that makes the remaining steps meaningless."""


class Trip:
    """One key's check: the pickling here, then the fresh interpreters' results."""

    def __init__(self, obj: object) -> None:
        self.obj = obj
        self.cls = type(obj)
        self.name = self.cls.__qualname__
        self.key = f"<{type_name(self.cls)} object>"
        self.findings: list[Finding] = []
        self.checks: list[str] = []
        self.step = "starting"
        self.timed_out = False
        self.payloads: list[bytes] = []
        self.here: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def failed(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def add(
        self, problem: Problem, severity: Severity, summary: str, why: str, fix: str
    ) -> None:
        with self._lock:
            if not self.timed_out:
                self.findings.append(
                    Finding(problem, severity, summary=summary, explanation=why, fix=fix)
                )

    def begin(self, check: str, step: str) -> None:
        with self._lock:
            if not self.timed_out:
                self.checks.append(check)
                self.step = step

    def set_step(self, step: str) -> None:
        with self._lock:
            self.step = step

    def run_here(self) -> None:
        """The steps in the caller's process (in a thread that may be abandoned)."""
        try:
            self.check_nesting()
            self.check_pickle()
        except _Stop:
            pass
        except Exception as error:  # a bug of the check's own: never a silent pass
            self.report_check_failure(f"while {self.step}: {describe(error)}")
        except BaseException as error:  # the key's code, in this thread only
            self.report_abort(self.step, describe(error, run_its_code=False), where="")

    def report_check_failure(self, text: str) -> None:
        self.add(
            Problem.CHECK_FAILED,
            Severity.ERROR,
            summary=f"The check failed {text}.",
            why="This is an error in mpguide, not in the key; the key is not known to "
            "work.",
            fix="Report it, with the key's class, to the mpguide developers.",
        )

    def report_abort(self, step: str, error: str, *, where: str) -> None:
        self.add(
            Problem.ENDS_PROCESS,
            Severity.ERROR,
            summary=f"Its own code raised {error} while {step}{where}.",
            why=f"{self.name}'s code raises an exception that is not an Exception "
            "(KeyboardInterrupt, SystemExit, GeneratorExit). In the Manager's server "
            "it ends the thread serving that connection, which closes it (the client "
            "gets EOFError); in your program it ends whatever touches the key.",
            fix="Raise an Exception subclass (or nothing) from __hash__, __eq__, "
            "__repr__ and pickling code.",
        )

    def report_death(self, outcome: dict[str, Any]) -> None:
        tail = (
            f" Its last words: {shorten(outcome['stderr'], 200)}"
            if outcome.get("stderr")
            else ""
        )
        self.add(
            Problem.ENDS_PROCESS,
            Severity.ERROR,
            summary=f"A process receiving it ended while {outcome['died']} "
            f"({outcome['how']}).{tail}",
            why=f"{self.name}'s own code (or C code it calls) ends the process that "
            "unpickles, hashes or compares it: os._exit(), a crash, sys.exit() in a "
            "thread-less place. In a Manager that process is the server, and every "
            "proxy of it fails from then on.",
            fix="Find the exit or the crash in that step of the key's code "
            "(__setstate__, __reduce__, __hash__, __eq__, __repr__).",
        )

    def run_here_within(self, timeout: float | None) -> None:
        """:meth:`run_here` in a daemon thread; give up after ``timeout`` seconds."""
        thread = threading.Thread(target=self.run_here, name="mpguide-check-key")
        thread.daemon = True
        with _STACK_LOCK:
            previous = threading.stack_size(CHECK_STACK_SIZE)
            try:
                thread.start()
            finally:
                threading.stack_size(previous)
        thread.join(timeout)
        if thread.is_alive():
            with self._lock:
                step = self.step
            self.add(
                Problem.CHECK_TIMED_OUT,
                Severity.ERROR,
                summary=f"The check gave up after {timeout:g} s while {step}.",
                why=f"{self.name}'s own code ({step}) did not return. A key whose "
                "__hash__, __eq__, __repr__ or pickling never returns hangs every dict "
                "and every process that touches it.",
                fix="Find the loop or the blocking call in that method. The check's thread "
                "is left running in the background.",
            )
            with self._lock:
                self.timed_out = True

    # -- in this process ----------------------------------------------------------

    def check_nesting(self) -> None:
        self.begin("nesting", "measuring how deeply it nests")
        ok, depth = attempt(nesting_depth, self.obj, MAX_NESTING)
        if ok and depth > MAX_NESTING:
            # Hashing a tuple recurses in C, on some versions with no limit.
            self.add(
                Problem.NOT_PICKLABLE,
                Severity.ERROR,
                summary=f"It nests containers more than {MAX_NESTING} levels deep; the "
                "check "
                "did not hash it.",
                why="Pickling, comparing and hashing recurse once per level. The Manager "
                "pickles a key with frames of its own on the stack, and its server "
                "runs with the default limits, whatever limit this process set: on "
                "Python 3.11 a tuple nested 993 deep already fails there (3.12 and "
                "3.13 allow more, but not without bound), and hashing a tuple that "
                "deep can crash an interpreter. The check refuses any key that could "
                "fail on one of them.",
                fix="Use a flat key (a tuple of ids), not a deep structure.",
            )
            raise _Stop

    def check_pickle(self) -> None:
        self.begin("pickle", "pickling it")
        for _ in range(PICKLINGS):
            ok, value = attempt(dumps, self.obj)
            if not ok:
                break
            self.payloads.append(value)
        else:
            return
        if not issubclass(type(value), Exception):
            self.payloads = []
            raise value
        self.payloads = []
        self.set_step("looking for the part that cannot be pickled")
        path, part, error = unpicklable_part(self.obj, value)
        where = (
            f" (the part at {shorten(path, 80)}, a {type(part).__qualname__})"
            if path
            else ""
        )
        summary, why, fix = pickling_diagnosis(part, error)
        self.add(
            Problem.NOT_PICKLABLE,
            Severity.ERROR,
            summary=f"It cannot be pickled{where}: {describe(error, run_its_code=False)}.",
            why="Every key sent to a Manager, and every argument sent to a worker, is "
            f"pickled. {summary} {why}",
            fix=fix,
        )
        raise _Stop

    # -- what a receiving process made of the copies -------------------------------

    def interpret(self, result: dict[str, Any], *, where: str) -> None:
        """Turn :func:`examine`'s result into findings; stop at the first error."""
        if "repr" in result:
            with self._lock:
                self.key = result["repr"]
        if "aborted" in result:
            aborted = result["aborted"]
            self.report_abort(aborted["step"], aborted["error"], where=where)
        elif "unpickle_error" in result:
            self.report_unpickle_error(result["unpickle_error"], where)
        elif "hash_error" in result:
            self.report_hash_failure(result["hash_error"], where)
        elif "hash_unstable" in result:
            first, second = result["hash_unstable"]
            self.add(
                Problem.HASH_UNSTABLE,
                Severity.ERROR,
                summary=f"hash() of the same copy returned {first!r}, then "
                f"{second!r}{where}.",
                why="A dict files a key under its hash and looks it up by recomputing it: "
                "a hash that changes from call to call finds nothing.",
                fix="Compute __hash__ only from the fields __eq__ compares, without "
                "randomness, time or counters.",
            )
        elif "hash_thread" in result:
            first, second = result["hash_thread"]
            self.add(
                Problem.HASH_UNSTABLE,
                Severity.ERROR,
                summary=f"hash() of the same copy returned {first!r} in one thread and "
                f"{second!r} in another{where}.",
                why="A Manager's server answers each connection in a thread of its own: "
                "the thread that stores a key and the one that looks it up compute "
                "different hashes, and the lookup finds nothing.",
                fix="Compute __hash__ only from the fields __eq__ compares, not from "
                "thread-local or other per-thread state.",
            )
        elif "repickle_error" in result:
            self.add(
                Problem.NOT_PICKLABLE,
                Severity.ERROR,
                summary="A copy that a receiving process has hashed cannot be pickled "
                f"again there: {result['repickle_error']}{where}.",
                why="The Manager's server pickles the keys it holds to send them back "
                "(keys(), items(), copy()): d[key] works, and d.keys() fails with an "
                "'Unserializable message' error. A process started by spawn or "
                "forkserver also lacks whatever this program registered under its "
                "main guard (copyreg reducers, patched classes).",
                fix="Do not store unpicklable state on the key (not even a cache set by "
                "__hash__), and register copyreg reducers where the class is defined.",
            )
        elif "equality_error" in result:
            self.add(
                Problem.EQUALITY_RAISES,
                Severity.ERROR,
                summary="Comparing two copies with == raised "
                f"{result['equality_error']}{where}.",
                why="A dict compares the key it looks up with the keys it holds; an "
                "__eq__ that raises (or returns something with no truth value) "
                "breaks every lookup that lands in the same slot.",
                fix="Make __eq__ return True, False or NotImplemented.",
            )
        elif "unequal" in result:
            self.report_unequal_copies(result, where)
        elif "copy_hashes" in result:
            self.report_hash_changed(result, where)
        else:
            return
        raise _Stop

    def report_unpickle_error(self, error: str, where: str) -> None:
        if error.startswith(CANNOT_LOAD):
            self.add(
                Problem.NEW_PROCESS_CANNOT_LOAD,
                Severity.ERROR,
                summary=f"A new process cannot unpickle it: {error}.",
                why="Under spawn and forkserver (the default on macOS and Windows, and on "
                "Linux from Python 3.14) the Manager's server is a fresh interpreter: "
                "it recreates a key by importing its class by name. A class defined "
                "in a notebook, an interactive session, python -c, or inside a "
                "function cannot be imported (under fork the server inherits it, "
                "which hides the problem).",
                fix=f"Define {self.name} at the top level of a module the workers can "
                "import (a .py file next to your script, or your package).",
            )
            return
        self.add(
            Problem.NOT_UNPICKLABLE,
            Severity.ERROR,
            summary=f"It pickles, but unpickling raised {error}.",
            why="The Manager's server unpickles every key it receives; this one fails "
            "there, and the error comes back to you as a RemoteError.",
            fix=f"Make {self.name}'s __reduce__ / __getstate__ / __setstate__ round-trip: "
            "test pickle.loads(pickle.dumps(obj)) == pickle.loads(pickle.dumps(obj)).",
        )

    def report_hash_failure(self, text: str, where: str) -> None:
        if text.startswith("TypeError: unhashable"):
            self.add(
                Problem.UNHASHABLE,
                Severity.ERROR,
                summary=f"{self.name} objects are unhashable{where}: {text}.",
                why="Dict keys must be hashable, in a Manager dict as in any other. "
                + unhashable_reason(self.cls),
                fix=unhashable_fix(self.cls),
            )
        else:
            self.add(
                Problem.HASH_RAISES,
                Severity.ERROR,
                summary=f"hash() raised{where}: {text}.",
                why=f"{self.name}.__hash__ fails, so no dict can hold or find this key.",
                fix="Make __hash__ return hash() of a tuple of the fields __eq__ compares.",
            )

    def report_unequal_copies(self, result: dict[str, Any], where: str) -> None:
        if result["identity_eq"]:
            self.add(
                Problem.IDENTITY_EQUALITY,
                Severity.ERROR,
                summary=f"Two copies are not equal{where}: {self.name} compares by "
                "identity.",
                why=f"{self.name} defines neither __eq__ nor __hash__, so it inherits "
                "object's, which compare identity. A Manager dict lives in another "
                "process and gets a pickled copy of every key: a new object, equal to "
                "nothing but itself. Looking the key up raises KeyError although it is "
                "'right there' when printed.",
                fix="Key the dict by a stable id (user.id); or give the class value "
                "equality: @dataclass(frozen=True), or __eq__ and __hash__ over the "
                "same fields; or key by a token from mpguide.KeyRegistry.",
            )
        elif not result["unequal"]["reflexive"]:
            self.add(
                Problem.COPIES_NOT_EQUAL,
                Severity.ERROR,
                summary="It is not even equal to itself (obj == obj is False).",
                why="In a single process a dict still finds it, because a dict tries "
                "identity before ==. A copy is another object, so the identity "
                "shortcut fails and nothing equals it: float('nan') is the classic case.",
                fix="Do not use such values as keys; map them to a representative first "
                "(for instance, every NaN to None).",
            )
        else:
            self.add(
                Problem.COPIES_NOT_EQUAL,
                Severity.ERROR,
                summary=f"Two copies are not equal{where}: {result['type']}.__eq__ says "
                "so.",
                why=f"{self.name} defines __eq__, but it compares something a pickled "
                "copy does not keep (identity, id(), a field left out of pickling, "
                "a live resource). The Manager's server compares copies only.",
                fix="Compare, in __eq__, exactly the fields that pickling keeps and that "
                "__hash__ uses.",
            )

    def report_hash_changed(self, result: dict[str, Any], where: str) -> None:
        first, second = result["copy_hashes"]
        if result["identity_hash"]:
            why = (
                f"{result['type']} defines __eq__ but keeps object.__hash__, which is "
                "derived from the object's address."
            )
        elif result.get("address_hash"):
            why = f"{result['type']}.__hash__ is computed from id(), the object's address."
        else:
            why = f"{result['type']}.__hash__ depends on something pickling does not keep."
        self.add(
            Problem.HASH_CHANGES_AFTER_COPY,
            Severity.ERROR,
            summary=f"Two copies are equal but hash differently{where}: {first} and "
            f"{second}.",
            why=f"{why} A dict looks only in the slot of the key's hash, so an equal "
            "key with another hash is never found: KeyError.",
            fix="Make __hash__ return hash() of a tuple of the fields __eq__ compares; "
            "or use @dataclass(frozen=True), which does exactly that.",
        )

    # -- the fresh interpreter ------------------------------------------------------

    def interpret_outcome(
        self, outcome: dict[str, Any], timeout: float | None, *, last: bool
    ) -> None:
        """Findings from one interpreter's outcome. The first interpreter's result
        becomes :attr:`here`; with ``last``, the cache and hash probes that compare
        it with this one's run too."""
        where = " in a new process"
        try:
            if "prepare_error" in outcome:
                self.report_unstartable(outcome["prepare_error"])
            elif "timeout" in outcome:
                self.report_fresh_timeout(outcome["timeout"], timeout)
            elif "died" in outcome:
                self.report_death(outcome)
            elif "failed" in outcome:
                self.add(
                    Problem.CHECK_FAILED,
                    Severity.ERROR,
                    summary=f"The fresh interpreter failed: {outcome['failed']}.",
                    why="The check starts a Python interpreter the way spawn starts a "
                    "child; it could not start one.",
                    fix="Run the check again; if it persists, start a process with the "
                    "spawn start method to see the whole error.",
                )
            else:
                result = outcome["result"]
                if "check_error" in result:
                    self.report_check_failure(
                        f"in a fresh interpreter: {result['check_error']}"
                    )
                    return
                self.interpret(result, where=where)
                if not result.get("complete"):
                    self.report_check_failure(
                        "to finish: the fresh interpreter did not run every step"
                    )
                    return
                if not self.here:
                    self.here = result
                    if not last:
                        return
                    self.report_mutable(result)
                    return
                self.report_caches(result)
                self.report_mutable(result)
                self.report_varying_hash(result)
        except _Stop:
            pass
        except Exception as error:  # a bug of the check's own: never a silent pass
            self.report_check_failure(
                f"reading a fresh interpreter's result: {describe(error)}"
            )

    def report_unstartable(self, error: str) -> None:
        self.add(
            Problem.NEW_PROCESS_CANNOT_LOAD,
            Severity.ERROR,
            summary="A new process cannot even start from this program: re-running its "
            "main "
            f"module failed with {error}.",
            why="A spawn or forkserver child first re-imports the parent's main module as "
            "__mp_main__, so that it can find what is defined there. That failed, so "
            "every process this program starts under spawn or forkserver fails the "
            "same way, whatever the key.",
            fix="Run the program from a file (python your_script.py) or as a module "
            "(python -m package.module), keep its work under if __name__ == "
            "'__main__':, and define key classes in an importable module.",
        )

    def report_fresh_timeout(self, step: str, timeout: float | None) -> None:
        limit = "the timeout" if timeout is None else f"{timeout:g} s"
        self.add(
            Problem.CHECK_TIMED_OUT,
            Severity.ERROR,
            summary=f"A fresh interpreter did not finish {step} within {limit}.",
            why="A spawn or forkserver child re-imports your main module and the modules "
            f"{self.name} needs, then unpickles and hashes it; one of those steps did "
            "not return. Every new process you start would block the same way.",
            fix="Look for work done at import time (outside if __name__ == '__main__':), "
            "or a __setstate__, __eq__ or __hash__ that blocks.",
        )

    def report_caches(self, fresh: dict[str, Any]) -> None:
        here_hash, there_hash = self.here.get("hash"), fresh.get("hash")
        for name, cache in fresh.get("caches", {}).items():
            if cache["travels"]:
                elsewhere = cache["recomputed"]
                if elsewhere is None:
                    elsewhere = self.hash_elsewhere(name, here_hash, fresh)
                if elsewhere is None:
                    self.report_uncertain_cache(name)
                elif elsewhere != here_hash:
                    self.report_travelling_cache(name, here_hash, elsewhere)
            elif cache["travels_once_hashed"] and here_hash != there_hash:
                self.report_lazy_cache(name, here_hash, there_hash)

    def hash_elsewhere(
        self, name: str, carried: object, fresh: dict[str, Any]
    ) -> int | None:
        """What a process that builds an equal key would cache, judged from the
        hashes both interpreters computed of the key's other attributes."""
        here = self.here.get("candidates", {}).get(name, [])
        there = fresh.get("candidates", {}).get(name, [])
        if carried in here:
            value: int | None = there[here.index(carried)]
            return value
        varying = [b for a, b in zip(here, there, strict=False) if a != b and b is not None]
        return varying[-1] if varying else None

    def report_travelling_cache(self, name: str, here: object, elsewhere: int) -> None:
        self.add(
            Problem.CACHED_HASH,
            Severity.ERROR,
            summary=f"Its hash is cached in {name!r} and pickled with it. Sent itself, it "
            f"works: every copy carries {here}. An equal key built in another process "
            f"is not found: it hashes to {elsewhere} there.",
            why="The cache holds the hash of the process that computed it, and pickling "
            f"copies it. {SALTED} A spawn or forkserver worker that builds an equal "
            "key itself computes another hash, so the two equal keys live in different "
            "slots of the server's dict: KeyError. Under fork every process inherits "
            "the parent's salt, which hides it." + fixed_seed_caveat(),
            fix="Do not pickle a cached hash: drop it in __getstate__, or compute the hash "
            "on every call; hash only values whose hash is the same in every process, "
            "or use mpguide.stable_hash.",
        )

    def report_uncertain_cache(self, name: str) -> None:
        self.add(
            Problem.CACHED_HASH,
            Severity.ERROR,
            summary=f"Its hash is cached in {name!r} and pickled with it. Sent itself, it "
            "works; whether an equal key built in another process is found, the check "
            "cannot tell, so it does not pass it.",
            why="Every copy carries the hash computed by the process that built the key. "
            "If that hash depends on the process (salted str hashes, id()), an equal "
            "key built in another process hashes differently and is not found. The "
            "check could not recompute the hash without the cache." + fixed_seed_caveat(),
            fix="Do not pickle a cached hash: drop it in __getstate__, or compute the hash "
            "on every call.",
        )

    def report_lazy_cache(self, name: str, here: int | None, there: int | None) -> None:
        self.add(
            Problem.CACHED_HASH,
            Severity.WARNING,
            summary=f"Its hash is cached lazily in {name!r}: {here} in one fresh "
            f"interpreter, {there} in another. Sent before anything hashes it, it "
            "works; a key hashed before it is sent is not found by equal keys hashed "
            "elsewhere.",
            why="Pickling never calls __hash__: a key arrives unhashed and the server "
            "computes (and caches) its own hash. But a key hashed before it is sent "
            "(put in a dict or set, as manager.dict({key: value}) does) carries the "
            "hash of the process that hashed it, and an equal key hashed by the "
            "server or a worker gets another one: KeyError under spawn and "
            "forkserver. Under fork every process inherits the parent's salt."
            + fixed_seed_caveat(),
            fix="Do not pickle a cached hash: drop it in __getstate__, or compute the hash "
            "on every call.",
        )

    def report_mutable(self, fresh: dict[str, Any]) -> None:
        feeding = fresh.get("mutable", [])
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
            summary=f"Its hash depends on {names}, which can be reassigned.",
            why=why,
            fix=fix,
        )

    def report_varying_hash(self, fresh: dict[str, Any]) -> None:
        here, there = self.here.get("hash"), fresh.get("hash")
        if "hash" not in self.here or "hash" not in fresh:
            return  # a singleton, not hashed here: nothing to compare
        if here == there or self.here.get("identity_hash") or fresh.get("caches"):
            return
        self.add(
            Problem.HASH_VARIES_BETWEEN_PROCESSES,
            Severity.NOTE,
            summary=f"hash() differs between interpreters: {here} in one fresh "
            f"interpreter, {there} in another.",
            why=f"{SALTED} A Manager dict does not care: pickling never calls __hash__, "
            "and the server hashes every key it receives in its own process. It "
            "matters when one process computes hash(key) and another compares it: "
            "sharding or lock striping with hash(key) % n picks different shards in "
            "spawn and forkserver workers." + fixed_seed_caveat(),
            fix="For sharding or striping use mpguide.stable_hash(key) % n, or "
            "mpguide.KeyedLocks.",
        )
