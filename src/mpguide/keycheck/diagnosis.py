"""Explanations: what kind of failure a key shows, why it breaks, and what to do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mpguide.keycheck._child import (
    attempt,
    dumps,
    instance_attributes,
    plain_message,
    plain_repr,
    safe_repr,
    type_name,
)

__all__ = [
    "dumps",
    "nesting_depth",
    "pickling_diagnosis",
    "safe_repr",
    "shorten",
    "type_name",
    "unhashable_fix",
    "unhashable_reason",
    "unpicklable_part",
]

#: Container items visited while measuring how deeply a key nests, at most.
MAX_NESTING_VISITS = 100_000
#: Parts of an object tried while looking for the one that cannot be pickled.
MAX_PARTS = 200


def shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: The containers whose items the check looks into, with the base type's iterator.
CONTAINERS = (tuple, list, set, frozenset)


def base_type(obj: object, kinds: tuple[type, ...]) -> Any:
    """The first of ``kinds`` that ``type(obj)`` derives from, or ``None``. Unlike
    ``isinstance``, runs no ``__class__`` property of ``obj``."""
    return next((kind for kind in kinds if issubclass(type(obj), kind)), None)


def nesting_depth(obj: object, limit: int) -> int:
    """How deeply built-in containers nest in ``obj``, counted up to ``limit + 1``.

    Only the base types' methods run: no code of ``obj`` or of its parts."""
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
        if issubclass(type(item), dict):
            seen.add(id(item))
            mapping: Any = item
            children = (*dict.keys(mapping), *dict.values(mapping))
            stack.extend((child, depth + 1) for child in children)
        elif (base := base_type(item, CONTAINERS)) is not None:
            seen.add(id(item))  # the base type's iterator: no code of a subclass runs
            stack.extend((child, depth + 1) for child in base.__iter__(item))
    return deepest


def _parts(obj: object) -> Iterator[tuple[str, object]]:
    """What pickling ``obj`` also pickles, as (path suffix, part), for common
    shapes. Only the base types' methods run: no code of ``obj`` or its parts."""
    base = base_type(obj, (dict, *CONTAINERS))
    if base in (list, tuple):
        yield from ((f"[{i}]", item) for i, item in enumerate(base.__iter__(obj)))
    elif base is dict:
        mapping: Any = obj
        for key, value in list(dict.items(mapping)):
            yield f"[{plain_repr(key)}]", value
            yield f" (key {plain_repr(key)})", key
    elif base is not None:
        yield from ((f" (item {plain_repr(item)})", item) for item in base.__iter__(obj))
    else:
        yield from ((f".{name}", value) for name, value in instance_attributes(obj))


def unpicklable_part(
    obj: object, error: BaseException
) -> tuple[str, object, BaseException]:
    """Descend into ``obj`` to the innermost part that fails to pickle by itself."""
    path, part, budget = "", obj, MAX_PARTS
    while budget > 0:
        if type(error) is RecursionError or "through inheritance" in message_of(error):
            break  # the nesting itself, or this multiprocessing object, is the problem
        for suffix, child in _parts(part):
            budget -= 1
            ok, child_error = attempt(dumps, child)
            if not ok:
                path, part, error = path + suffix, child, child_error
                break
            if budget <= 0:
                break
        else:
            break
    return path, part, error


def message_of(error: BaseException) -> str:
    """The error's message, read without running code of the key's (see
    :func:`~mpguide.keycheck._child.plain_message`); empty if that cannot be."""
    ok, message = plain_message(error)
    return message if ok and type(message) is str else ""


def pickling_diagnosis(part: object, error: BaseException) -> tuple[str, str, str]:
    """Say what kind of object ``part`` is, why it cannot travel, and what to do."""
    message = message_of(error)
    kind = type(part).__qualname__
    if type(error) is RecursionError:
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


def unhashable_reason(cls: type) -> str:
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


def unhashable_fix(cls: type) -> str:
    if cls.__module__ == "builtins":
        return "Use an immutable equivalent: a tuple for a list, a frozenset for a set."
    if getattr(cls, "__dataclass_params__", None) is not None:
        return "Use @dataclass(frozen=True)."
    if cls.__dict__.get("__hash__", object.__hash__) is None:
        return "Add a __hash__ over the same fields __eq__ compares."
    return "Key by an immutable value that identifies the object, such as its id."
