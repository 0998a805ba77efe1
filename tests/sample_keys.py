"""Keys for the check_key and CLI tests, one per problem, in an importable module.

A fresh interpreter (the check's spawn-like process) imports this module by name,
exactly as a Manager's server would.
"""

from __future__ import annotations

import copyreg
import dataclasses
import enum
import pathlib
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


# -- Singletons: unpickling returns the very object, not a copy ----------------------


class Colour(enum.Enum):
    RED = 1
    GREEN = 2


class Level(enum.IntEnum):
    HIGH = 3


class Sentinel:
    """Pickled by reference: ``__reduce__`` returns the name of a global."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sentinel) and other.label == self.label

    def __hash__(self) -> int:
        return hash(self.label)

    def __reduce__(self) -> str:
        return self.label


MISSING = Sentinel("MISSING")


class Settings:
    """Pickled by reference through copyreg, not by a method of its own."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


DEFAULT_SETTINGS = Settings("default")
copyreg.pickle(Settings, lambda settings: "DEFAULT_SETTINGS")


class Point:
    """A module-level constant of it is pickled by reference; other points by value."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (other.x, other.y) == (self.x, self.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __reduce__(self) -> str | tuple[object, ...]:
        return "ORIGIN" if self is ORIGIN else (Point, (self.x, self.y))


ORIGIN = Point(0, 0)


class LazyConstant(LazilyCachedHashUser):
    """A module-level constant pickled by reference, caching its hash when hashed."""

    def __reduce__(self) -> str:
        return "LAZY_CONSTANT"


LAZY_CONSTANT = LazyConstant("constant")


# -- Good keys an earlier check rejected ---------------------------------------------


class SlotsPoint:
    __slots__ = ("x", "y")

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlotsPoint) and (other.x, other.y) == (self.x, self.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))


class UserId:
    """Sent as a plain int: the server only ever sees ints."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __reduce__(self) -> tuple[object, ...]:
        return (int, (self.value,))


class Slug:
    """Sent as a plain str."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __reduce__(self) -> tuple[object, ...]:
        return (str, (self.text,))


def make_path() -> pathlib.Path:
    return pathlib.Path("/srv/data/alice.txt")


def make_pure_posix_path() -> pathlib.PurePosixPath:
    return pathlib.PurePosixPath("data/alice.txt")


def make_slots_point() -> SlotsPoint:
    return SlotsPoint(1, 2)


def make_user_id() -> UserId:
    return UserId(7)


def make_slug() -> Slug:
    return Slug("alice")


def make_colour() -> Colour:
    return Colour.RED


def make_eagerly_cached() -> EagerlyCachedHashUser:
    return EagerlyCachedHashUser("alice")


def make_lazily_cached() -> LazilyCachedHashUser:
    return LazilyCachedHashUser("alice")
