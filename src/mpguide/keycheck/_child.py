"""The far end of a key's trip: what processes that receive pickled keys make of them.

:func:`mpguide.check_key` only pickles the key in the caller's process, as a
Manager's client does. Everything else runs here, in fresh interpreters
started as ``spawn`` starts a child (same ``sys.path``, same working directory,
the parent's ``__main__`` re-imported as ``__mp_main__``), each with its own
``PYTHONHASHSEED``. :func:`examine` plays the Manager's server: it unpickles
the payloads of separate pickling calls, re-pickles a copy and unpickles that
(as the server sends keys back, and a client sends them again), hashes copies
in several threads (the server answers each connection in its own thread) and
compares every copy with every other, both ways. The first interpreter sends
its re-pickled copies to the second, which compares them with its own. Only
the second runs the probes that reassign attributes of further copies.

Run as a script, it reads the preparation data and the tasks from stdin and
writes marked JSON lines: ``{"prepared": true}``, then for each key
``{"step": ...}`` before each step (so that the parent can name the step during
which a key ended or hung the process) and one ``{"result": ...}``. Whatever
the keys' code prints goes to stderr. This file imports nothing from
``mpguide``: the child knows the parent's ``sys.path`` only once prepared.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import pickle
import reprlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing import spawn
from multiprocessing.reduction import ForkingPickler
from typing import Any

RESULT_MARKER = "mpguide-fresh-process-result:"
#: Attributes tried by the mutation probe, at most.
MAX_ATTRIBUTES = 32
#: Threads that hash a copy, besides the main thread.
HASHING_THREADS = 2
#: The stack of the threads that hash and compare here.
THREAD_STACK_SIZE = 16 * 1024 * 1024
#: The environment variable that names the process this one must not outlive.
PARENT_VARIABLE = "MPGUIDE_CHECK_PARENT"
#: Seconds between looks at whether that process still exists.
WATCH_INTERVAL = 0.1


class Marker:
    """A value no real attribute holds, for the probes."""

    def __repr__(self) -> str:
        return "<mpguide marker>"


class Aborted(Exception):
    """The key's code raised a BaseException that is not an Exception."""

    def __init__(self, step: str, error: str) -> None:
        super().__init__(step, error)
        self.step = step
        self.error = error


def attempt(function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """Call ``function``; return ``(True, result)`` or ``(False, exception)``.

    :exc:`KeyboardInterrupt` and :exc:`SystemExit` raised by a key's code are
    returned too: the caller decides whether they end the check.
    """
    try:
        return True, function(*args)
    except BaseException as error:  # the key's own code may raise anything
        return False, error


#: Values whose ``str`` and ``repr`` run no code but the interpreter's.
PLAIN_TYPES = (str, bytes, int, float, bool, type(None))


def describe(error: BaseException, *, run_its_code: bool = True) -> str:
    """``Type: message``. Without ``run_its_code``, the message is read only
    when that runs no code of the error's class or of its arguments."""
    if run_its_code:
        ok, text = attempt(str, error)
    else:
        ok, text = plain_message(error)
    message = text if ok and isinstance(text, str) else "(its message could not be read)"
    if len(message) > 300:
        message = message[:297] + "..."
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def plain_message(error: BaseException) -> tuple[bool, str]:
    """``str(error)`` if a built-in class's ``__str__`` makes it from plain values."""
    owner = next(k for k in type(error).__mro__ if "__str__" in k.__dict__)
    args_of: Any = BaseException.__dict__["args"]  # not error.args: no __getattribute__
    args = args_of.__get__(error)
    if owner.__module__ != "builtins" or any(type(a) not in PLAIN_TYPES for a in args):
        return False, ""
    return attempt(str, error)


def plain_repr(obj: object) -> str:
    """``repr(obj)`` for plain values, else ``<module.Class object>``: runs no
    code of ``obj``'s class."""
    if type(obj) in PLAIN_TYPES:
        return _short_repr.repr(obj)
    return f"<{type_name(type(obj))} object>"


def dumps(obj: object) -> bytes:
    """Pickle as a Manager connection does."""
    return bytes(ForkingPickler.dumps(obj))


def type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None) or "?"
    return f"{module}.{getattr(cls, '__qualname__', '?')}"


_short_repr = reprlib.Repr()
_short_repr.maxstring = 120
_short_repr.maxother = 120


def safe_repr(obj: object) -> str:
    ok, text = attempt(_short_repr.repr, obj)
    if ok and isinstance(text, str):
        return text
    if not isinstance(text, Exception) and isinstance(text, BaseException):
        raise Aborted("calling repr()", describe(text))
    return f"<{type_name(type(obj))} object (repr raised {describe(text)})>"


def instance_attributes(obj: object) -> Iterator[tuple[str, object]]:
    """The object's own attributes: its ``__dict__`` and filled ``__slots__``."""
    ok, namespace = attempt(object.__getattribute__, obj, "__dict__")
    if ok and issubclass(type(namespace), dict):  # the base type's methods: no code
        items = list(dict.items(namespace))  # of a subclass runs
        yield from ((k if type(k) is str else plain_repr(k), v) for k, v in items)
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            ok, value = attempt(object.__getattribute__, obj, name)
            if ok:
                yield name, value


def equal(left: object, right: object) -> bool:
    return bool(left == right)


def int_attributes(obj: object) -> dict[str, int]:
    return {name: v for name, v in instance_attributes(obj) if type(v) is int}


def address_hashes(obj: object) -> set[int]:
    """What a ``__hash__`` computed from ``id()`` would return."""
    address = id(obj)
    return {address, hash(address), address >> 4, hash(str(address))}


def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in another thread, as the server runs each connection;
    what it raises is raised here."""
    outcome: list[tuple[bool, Any]] = []
    thread = threading.Thread(target=lambda: outcome.append(attempt(function, *args)))
    thread.start()
    thread.join()
    ok, value = outcome[0] if outcome else (False, RuntimeError("the thread ended early"))
    if not ok:
        raise value
    return value


class Examination:
    """One key's steps in this process; each step is announced before it runs."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self.send = send
        self.step = "starting"

    def run(self, step: str, function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """Run one step of the key's code; a BaseException that is not an Exception
        (KeyboardInterrupt, SystemExit, GeneratorExit) aborts the examination."""
        if step != self.step:
            self.step = step
            self.send({"step": step})
        ok, value = attempt(function, *args)
        if isinstance(value, Aborted):
            raise value
        if not ok and not isinstance(value, Exception):
            raise Aborted(step, describe(value))
        return ok, value


def examine(
    payloads: list[bytes],
    foreign: list[bytes],
    *,
    probe: bool,
    send: Callable[[dict[str, Any]], None] = lambda message: None,
) -> dict[str, Any]:
    """What a receiving process makes of a key: see the module's description.

    ``payloads`` come from separate pickling calls in the caller; ``foreign``
    from another interpreter that re-pickled its copies. The result says what
    failed first (``unpickle_error``, ``hash_error``, ``hash_unstable``,
    ``hash_thread``, ``equality_error``, ``unequal``, ``copy_hashes``,
    ``repickle_error``, ``aborted``), or carries ``complete``.
    """
    exam = Examination(send)
    result: dict[str, Any] = {}
    try:
        _examine(exam, payloads, foreign, probe, result)
    except Aborted as abort:
        result["aborted"] = {"step": abort.step, "error": abort.error}
    return result


def _examine(
    exam: Examination,
    payloads: list[bytes],
    foreign: list[bytes],
    probe: bool,
    result: dict[str, Any],
) -> None:
    copies = []
    for payload in [payloads[0], *payloads, *foreign]:
        ok, copy = exam.run("unpickling it", pickle.loads, payload)
        if not ok:
            result["unpickle_error"] = describe(copy)
            return
        copies.append(copy)
    first, second = copies[0], copies[1]
    cls = type(first)
    result["type"] = type_name(cls)
    result["repr"] = exam.run("calling repr()", safe_repr, first)[1]
    result["identity_hash"] = getattr(cls, "__hash__", None) is object.__hash__
    result["identity_eq"] = getattr(cls, "__eq__", None) is object.__eq__
    singleton = first is second
    result["singleton"] = singleton
    carried = {} if singleton else int_attributes(first)  # before any hash
    ok, value = exam.run("calling hash()", hash, first)
    if not ok:
        result["hash_error"] = describe(value)
        return
    ok, again = exam.run("calling hash()", hash, first)
    if not ok or again != value:
        result["hash_unstable"] = [value, again if ok else describe(again)]
        return
    result["hash"] = value
    for _ in range(HASHING_THREADS):
        ok, other = exam.run("calling hash() in another thread", in_thread, hash, first)
        if not ok:
            result["hash_error"] = (
                f"{describe(other)} (in a thread other than the main one)"
            )
            return
        if other != value:
            result["hash_thread"] = [value, other]
            return
    if not compare_all(exam, copies, result, "comparing copies with =="):
        return
    ok, same = exam.run(
        "comparing copies in another thread", in_thread, equal, second, first
    )
    if not ok:
        result["equality_error"] = describe(same)
        return
    if not same:
        ok, reflexive = exam.run("comparing copies with ==", equal, first, first)
        result["unequal"] = {"reflexive": bool(ok and reflexive)}
        return
    # Copies another interpreter pickled are compared, not hashed: one hashed
    # before it was pickled carries that process's cached hash, which the cache
    # probes judge (it breaks only for keys hashed before they are sent).
    for copy in copies[1 : 1 + len(payloads)]:
        ok, other = exam.run("calling hash() on the other copies", hash, copy)
        if not ok:
            result["hash_error"] = describe(other)
            return
        if other != value:
            result["copy_hashes"] = [value, other]
            result["address_hash"] = value in address_hashes(first)
            return
    # The server sends keys back (keys(), items()); a client sends them again.
    ok, repickled = exam.run("pickling a copy again, once hashed", dumps, first)
    if not ok:
        result["repickle_error"] = describe(repickled)
        return
    result["repickled"] = base64.b64encode(repickled).decode("ascii")
    travelled = [*copies[: 1 + len(payloads)]]
    payload = repickled
    for _ in range(2):
        ok, copy = exam.run("unpickling a re-pickled copy", pickle.loads, payload)
        if not ok:
            result["repickle_error"] = f"unpickling it again raised {describe(copy)}"
            return
        travelled.append(copy)
        ok, payload = exam.run("pickling a copy again, once hashed", dumps, copy)
        if not ok:
            result["repickle_error"] = describe(payload)
            return
    if not compare_all(exam, travelled, result, "comparing re-pickled copies with =="):
        return
    for copy in travelled[1 + len(payloads) :]:
        ok, other = exam.run("calling hash() on re-pickled copies", hash, copy)
        if not ok:
            result["hash_error"] = describe(other)
            return
        if other != value:
            result["copy_hashes"] = [value, other]
            result["address_hash"] = False
            return
    if not (singleton or result["identity_hash"]):
        probe_caches(exam, payloads[0], first, value, carried, probe, result)
    result["complete"] = True


def compare_all(
    exam: Examination, copies: list[object], result: dict[str, Any], step: str
) -> bool:
    """Compare every pair of copies both ways; record the first failure."""
    for left, right in itertools.permutations(copies, 2):
        if left is right:
            continue
        ok, same = exam.run(step, equal, left, right)
        if not ok:
            result["equality_error"] = describe(same)
            return False
        if not same:
            ok, reflexive = exam.run(step, equal, left, left)
            result["unequal"] = {"reflexive": bool(ok and reflexive)}
            return False
    return True


def probe_caches(
    exam: Examination,
    payload: bytes,
    first: object,
    value: int,
    carried: dict[str, int],
    probe: bool,
    result: dict[str, Any],
) -> None:
    travelling = [name for name, v in carried.items() if v == value]
    lazy = [
        name
        for name, v in int_attributes(first).items()
        if v == value and name not in carried
    ]
    step = "looking for a cached hash"
    result["candidates"] = {
        name: exam.run(step, hash_candidates, first, name)[1] for name in travelling
    }
    if not probe:
        return
    step = "reassigning attributes of further copies"
    caches = [
        name
        for name in (*travelling, *lazy)
        if exam.run(step, returned_as_is, payload, name)[1]
    ]
    result["caches"] = {
        name: {
            "travels": name in travelling,
            "travels_once_hashed": name in travelling
            or bool(exam.run(step, pickled_along, first, name)[1]),
            "recomputed": exam.run(step, recomputed_hash, payload, name)[1],
        }
        for name in caches
    }
    result["mutable"] = exam.run(step, feeding_attributes, payload, value, caches)[1]


def strict_attempt(function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """:func:`attempt` that lets a BaseException other than an Exception through."""
    ok, value = attempt(function, *args)
    if not ok and not isinstance(value, Exception):
        raise value
    return ok, value


def hash_candidates(obj: object, cached: str) -> list[int | None]:
    """Hashes an eager cache may hold: of each other attribute, and of all of them."""
    others = [value for name, value in instance_attributes(obj) if name != cached]
    candidates: list[int | None] = []
    for value in (*others, tuple(others)):
        ok, result = strict_attempt(hash, value)
        candidates.append(result if ok else None)
    return candidates


def returned_as_is(payload: bytes, name: str) -> bool:
    """Does ``__hash__`` return attribute ``name`` as it is (a cache), or hash it?"""
    ok, copy = strict_attempt(pickle.loads, payload)
    if not ok or not strict_attempt(setattr, copy, name, Marker())[0]:
        return False
    ok, error = strict_attempt(hash, copy)
    return not ok and "should return an integer" in str(error)


def pickled_along(obj: object, name: str) -> bool:
    """Does a copy of ``obj``, once hashed, carry its cache ``name`` to the next copy?"""
    ok, payload = strict_attempt(pickle.dumps, obj)
    if not ok:
        return False
    ok, copy = strict_attempt(pickle.loads, payload)
    return ok and name in int_attributes(copy)


def recomputed_hash(payload: bytes, name: str) -> int | None:
    """The hash of a copy whose cache ``name`` is removed, if ``__hash__`` recomputes it."""
    ok, copy = strict_attempt(pickle.loads, payload)
    if not ok or not strict_attempt(delattr, copy, name)[0]:
        return None
    ok, value = strict_attempt(hash, copy)
    return value if ok and type(value) is int else None


def feeding_attributes(payload: bytes, value: int, exclude: list[str]) -> list[str]:
    """Public attributes that, once reassigned on a copy, change its hash.

    None for the standard library's value types (``ipaddress`` networks keep
    public attributes, documented as read-only)."""
    ok, copy = strict_attempt(pickle.loads, payload)
    if not ok or is_standard(type(copy)):
        return []
    names = [n for n, _ in instance_attributes(copy) if not n.startswith("_")]
    feeding = []
    for name in names[:MAX_ATTRIBUTES]:
        if name in exclude:
            continue
        ok, copy = strict_attempt(pickle.loads, payload)
        if not ok or not strict_attempt(setattr, copy, name, Marker())[0]:
            continue
        ok, changed = strict_attempt(hash, copy)
        if not ok or changed != value:
            feeding.append(name)
    return feeding


def is_standard(cls: type) -> bool:
    """Whether ``cls`` comes from the standard library."""
    module = str(getattr(cls, "__module__", "") or "")
    return module.partition(".")[0] in sys.stdlib_module_names


def end_with_parent(parent: int) -> None:
    """End this process, and its process group when it leads one, once
    ``parent`` (the process that started it) has ended. The parent ends this
    group itself; this covers a parent killed before it could."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL)
        if os.name == "posix" and os.getpgid(0) == os.getpid():
            os.killpg(0, signal.SIGKILL)
        os._exit(1)

    threading.Thread(target=watch, name="mpguide-watch-parent", daemon=True).start()


def main() -> None:
    """Report on each key on the original stdout; send everything else to stderr."""
    parent = os.environ.pop(PARENT_VARIABLE, "")
    if parent.isdigit():  # before any code of the keys' or the main module's runs
        end_with_parent(int(parent))
    results = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def send(message: dict[str, Any]) -> None:
        results.write(RESULT_MARKER + json.dumps(message) + "\n")
        results.flush()

    preparation, tasks = pickle.load(sys.stdin.buffer)
    threading.stack_size(THREAD_STACK_SIZE)  # this process is ours
    try:
        spawn.prepare(preparation)
    except BaseException as error:  # the parent's __main__, re-run here, failed
        send({"prepare_error": describe(error)})
        os._exit(0)
    send({"prepared": True})
    for payloads, foreign, probe in tasks:
        try:
            result = examine(payloads, [*foreign], probe=probe, send=send)
            send({"result": result})
        except Exception as error:  # a bug of the check's own, not the key's
            send({"result": {"check_error": describe(error)}})
    results.close()
    # Do not wait for threads a key's module started: the parent ends this
    # process's group once it has every result.
    os._exit(0)


if __name__ == "__main__":
    main()
