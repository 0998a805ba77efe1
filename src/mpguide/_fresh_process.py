"""The far end of a key's trip: what a process that receives pickled keys makes of them.

:func:`examine` plays the Manager's server: it unpickles a key twice, hashes
the copies and compares them with each other, as the server does with the copy
it stores and the copy a lookup sends. :func:`mpguide.check_key` runs it twice:
in the caller's process (reading only), and in a fresh interpreter started as
``spawn`` starts a child, with another ``PYTHONHASHSEED``. Only the fresh
interpreter runs the probes that reassign attributes, so nothing the caller
holds is ever changed (an Enum member, or anything pickled by reference,
unpickles as the very object the caller has).

Run as a script, it reads the parent's preparation data and the keys from
stdin, prepares itself exactly as a ``spawn`` or ``forkserver`` child does
(same ``sys.path``, same working directory, the parent's ``__main__``
re-imported as ``__mp_main__``) and writes one marked JSON line per key.
Whatever the keys' code prints goes to stderr. This file imports nothing from
``mpguide``: the child knows the parent's ``sys.path`` only once prepared.
"""

from __future__ import annotations

import enum
import json
import os
import pickle
import sys
from collections.abc import Callable, Iterator
from multiprocessing import spawn
from typing import Any

RESULT_MARKER = "mpguide-fresh-process-result:"
#: Attributes tried by the mutation probe, at most.
MAX_ATTRIBUTES = 32


class Marker:
    """A value no real attribute holds, for the probes."""

    def __repr__(self) -> str:
        return "<mpguide marker>"


def attempt(function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """Call ``function``; return ``(True, result)`` or ``(False, exception)``."""
    try:
        return True, function(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # the key's own code may raise anything
        return False, error


def describe(error: BaseException) -> str:
    ok, text = attempt(str, error)
    message = text if ok else "(its message could not be read)"
    if len(message) > 300:
        message = message[:297] + "..."
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def instance_attributes(obj: object) -> Iterator[tuple[str, object]]:
    """The object's own attributes: its ``__dict__`` and filled ``__slots__``."""
    ok, namespace = attempt(object.__getattribute__, obj, "__dict__")
    if ok and isinstance(namespace, dict):
        yield from ((str(k), v) for k, v in list(namespace.items()))
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


def hash_candidates(obj: object, cached: str) -> list[int | None]:
    """Hashes an eager cache may hold: of each other attribute, and of all of them."""
    others = [value for name, value in instance_attributes(obj) if name != cached]
    candidates: list[int | None] = []
    for value in (*others, tuple(others)):
        ok, result = attempt(hash, value)
        candidates.append(result if ok else None)
    return candidates


def address_hashes(obj: object) -> set[int]:
    """What a ``__hash__`` computed from ``id()`` would return."""
    address = id(obj)
    return {address, hash(address), address >> 4, hash(str(address))}


def no_steps(step: str) -> None:
    """The default ``on_step`` of :func:`examine`."""


def examine(
    payload: bytes, *, probe: bool, on_step: Callable[[str], None] = no_steps
) -> dict[str, Any]:
    """Unpickle ``payload`` twice and report what hashing and ``==`` make of the copies.

    With ``probe``, also reassign and delete attributes of further copies, to
    find a cached hash and attributes that feed the hash; never on a key that
    unpickles as one shared object (a singleton), since that is not a copy.
    Without ``probe`` (in the caller's process), a singleton is the caller's own
    object: it is not even hashed or compared, unless it is an Enum member
    (whose hashing, in the standard library, changes nothing).
    """
    result: dict[str, Any] = {}
    on_step("unpickling it")
    copies = []
    for _ in range(2):
        ok, copy = attempt(pickle.loads, payload)
        if not ok:
            result["unpickle_error"] = describe(copy)
            return result
        copies.append(copy)
    first, second = copies
    cls = type(first)
    result["type"] = f"{getattr(cls, '__module__', '?')}.{cls.__qualname__}"
    result["identity_hash"] = getattr(cls, "__hash__", None) is object.__hash__
    result["identity_eq"] = getattr(cls, "__eq__", None) is object.__eq__
    singleton = first is second
    result["singleton"] = singleton
    if singleton and not probe and not isinstance(first, enum.Enum):
        return result  # the caller's own object: even hashing it could change it
    carried = {} if singleton else int_attributes(first)  # before any hash
    on_step("calling hash()")
    ok, value = attempt(hash, first)
    if not ok:
        result["hash_error"] = describe(value)
        return result
    ok, again = attempt(hash, first)
    if not ok or again != value:
        result["hash_unstable"] = [value, again if ok else describe(again)]
        return result
    result["hash"] = value
    on_step("comparing copies with ==")
    for left, right in ((first, second), (second, first)):
        ok, same = attempt(equal, left, right)
        if not ok:
            result["equality_error"] = describe(same)
            return result
        if not same:
            ok, reflexive = attempt(equal, first, first)
            result["unequal"] = {"reflexive": bool(ok and reflexive)}
            return result
    on_step("calling hash() on the second copy")
    ok, other = attempt(hash, second)
    if not ok:
        result["hash_error"] = describe(other)
        return result
    if other != value:
        result["copy_hashes"] = [value, other]
        result["address_hash"] = value in address_hashes(first)
        return result
    if singleton or result["identity_hash"]:
        return result
    travelling = [name for name, v in carried.items() if v == value]
    lazy = [
        name
        for name, v in int_attributes(first).items()
        if v == value and name not in carried
    ]
    result["candidates"] = {name: hash_candidates(first, name) for name in travelling}
    if probe:
        on_step("reassigning attributes of further copies")
        caches = [name for name in (*travelling, *lazy) if returned_as_is(payload, name)]
        result["caches"] = {
            name: {
                "travels": name in travelling,
                "travels_once_hashed": name in travelling or pickled_along(first, name),
                "recomputed": recomputed_hash(payload, name),
            }
            for name in caches
        }
        result["mutable"] = feeding_attributes(payload, value, exclude=caches)
    return result


def returned_as_is(payload: bytes, name: str) -> bool:
    """Does ``__hash__`` return attribute ``name`` as it is (a cache), or hash it?"""
    ok, copy = attempt(pickle.loads, payload)
    if not ok or not attempt(setattr, copy, name, Marker())[0]:
        return False
    ok, error = attempt(hash, copy)
    return not ok and "should return an integer" in str(error)


def pickled_along(obj: object, name: str) -> bool:
    """Does a copy of ``obj``, once hashed, carry its cache ``name`` to the next copy?"""
    ok, payload = attempt(pickle.dumps, obj)
    if not ok:
        return False
    ok, copy = attempt(pickle.loads, payload)
    return ok and name in int_attributes(copy)


def recomputed_hash(payload: bytes, name: str) -> int | None:
    """The hash of a copy whose cache ``name`` is removed, if ``__hash__`` recomputes it."""
    ok, copy = attempt(pickle.loads, payload)
    if not ok or not attempt(delattr, copy, name)[0]:
        return None
    ok, value = attempt(hash, copy)
    return value if ok and type(value) is int else None


def feeding_attributes(payload: bytes, value: int, exclude: list[str]) -> list[str]:
    """Public attributes that, once reassigned on a copy, change its hash."""
    ok, copy = attempt(pickle.loads, payload)
    if not ok:
        return []
    names = [n for n, _ in instance_attributes(copy) if not n.startswith("_")]
    feeding = []
    for name in names[:MAX_ATTRIBUTES]:
        if name in exclude:
            continue
        ok, copy = attempt(pickle.loads, payload)
        if not ok or not attempt(setattr, copy, name, Marker())[0]:
            continue
        ok, changed = attempt(hash, copy)
        if not ok or changed != value:
            feeding.append(name)
    return feeding


def main() -> None:
    """Report on each key on the original stdout; send everything else to stderr."""
    results = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def send(result: dict[str, Any]) -> None:
        results.write(RESULT_MARKER + json.dumps(result) + "\n")
        results.flush()

    preparation, payloads = pickle.load(sys.stdin.buffer)
    try:
        spawn.prepare(preparation)
    except BaseException as error:  # the parent's __main__, re-run here, failed
        if isinstance(error, KeyboardInterrupt):
            raise
        send({"prepare_error": describe(error)})
        return
    send({"prepared": True})
    for payload in payloads:
        send(examine(payload, probe=True))


if __name__ == "__main__":
    main()
