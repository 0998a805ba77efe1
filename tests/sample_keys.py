"""Keys for the check_key and CLI tests, one per problem, in an importable module.

A fresh interpreter (the check's spawn-like process) imports this module by name,
exactly as a Manager's server would.
"""

from __future__ import annotations

import dataclasses
import threading


class User:
    """The report's class: identity equality inherited from object."""

    def __init__(self, name: str) -> None:
        self.name = name


@dataclasses.dataclass(frozen=True)
class FrozenUser:
    id: int
    name: str


@dataclasses.dataclass(frozen=True)
class FrozenId:
    id: int


@dataclasses.dataclass(unsafe_hash=True)
class UnsafeHashUser:
    id: int


@dataclasses.dataclass
class MutableDataclassUser:
    id: int


class ValueUser:
    """__eq__/__hash__ over a plain, reassignable attribute."""

    def __init__(self, id: int) -> None:
        self.id = id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValueUser) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


class IdHashUser:
    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdHashUser) and other.name == self.name

    def __hash__(self) -> int:
        return id(self)


class ObjectHashUser:
    """Value equality, but object's identity hash kept on purpose."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectHashUser) and other.name == self.name

    __hash__ = object.__hash__


class LazilyCachedHashUser:
    """Caches hash(name) on first use; the cache travels with every copy."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazilyCachedHashUser) and other.name == self.name

    def __hash__(self) -> int:
        if "_hash" not in self.__dict__:
            self._hash = hash(self.name)
        return self._hash


class EagerlyCachedHashUser:
    def __init__(self, name: str) -> None:
        self.name = name
        self._hash = hash(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EagerlyCachedHashUser) and other.name == self.name

    def __hash__(self) -> int:
        return self._hash


class OpaqueCachedHashUser:
    """Caches, at construction, a hash the check cannot trace to the fields."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._hash = hash(("user", name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OpaqueCachedHashUser) and other.name == self.name

    def __hash__(self) -> int:
        return self._hash


class CachedAndReassignable:
    """A salted hash cached at construction, and a public attribute that feeds it."""

    def __init__(self, name: str, level: int) -> None:
        self.name, self.level = name, level
        self._hash = hash(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CachedAndReassignable) and other.name == self.name

    def __hash__(self) -> int:
        return self._hash if self.level >= 0 else hash(self.level)


class UserWithLock:
    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserWithLock) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class RaisingReduce:
    def __reduce__(self) -> tuple[object, ...]:
        raise RuntimeError("refuses to be pickled")


class RaisingSetstate:
    def __init__(self) -> None:
        self.state = 1

    def __setstate__(self, state: object) -> None:
        raise RuntimeError("refuses to be unpickled")


class RaisingHash:
    def __hash__(self) -> int:
        raise ValueError("no hash for you")


class RecursiveHash:
    def __hash__(self) -> int:
        return hash(self)


class RandomHash:
    calls = 0

    def __hash__(self) -> int:
        RandomHash.calls += 1
        return RandomHash.calls


class NoTruth:
    def __bool__(self) -> bool:
        raise ValueError("the truth value is ambiguous")


class ArrayLikeEquality:
    """== returns something without a truth value, like a NumPy array."""

    def __init__(self, id: int) -> None:
        self.id = id

    def __eq__(self, other: object) -> NoTruth:  # type: ignore[override]
        return NoTruth()

    def __hash__(self) -> int:
        return hash(self.id)


class RaisingRepr(FrozenId):
    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


class LoopingHash:
    def __hash__(self) -> int:
        while True:
            pass


def make_user() -> User:
    return User("sam")


def make_frozen_user() -> FrozenUser:
    return FrozenUser(1, "sam")


def make_frozen_id() -> FrozenId:
    return FrozenId(1)


def make_unsafe_hash_user() -> UnsafeHashUser:
    return UnsafeHashUser(1)


def make_looping_hash() -> LoopingHash:
    return LoopingHash()


def needs_an_argument(name: str) -> User:
    return User(name)


def make_nested_tuple(depth: int = 100_000) -> tuple[object, ...]:
    nested: tuple[object, ...] = ()
    for _ in range(depth):
        nested = (nested,)
    return nested


sam = User("sam")


class ExitingRepr(FrozenId):
    def __repr__(self) -> str:
        raise SystemExit("a repr that exits")
