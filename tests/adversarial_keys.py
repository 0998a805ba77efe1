"""A corpus of keys, good and adversarial, each built by a function named in BUILDERS.

Each key's real outcome is measured by ``real_trips.py`` through real Managers;
``check_key``'s verdict on it is compared with that. The kinds are listed in
KINDS. Keys whose code ends the process, raises ``BaseException`` or starts
threads and processes do so only when unpickled, hashed, compared or printed:
never when built, so that building one harms nothing.
"""

from __future__ import annotations

import copyreg
import dataclasses
import datetime
import decimal
import enum
import fractions
import ipaddress
import itertools
import os
import pathlib
import random
import subprocess
import sys
import threading
import time
import typing
import uuid
from collections.abc import Callable
from typing import Any

BUILDERS: dict[str, Callable[[], object]] = {}
KINDS: dict[str, str] = {}


def key(kind: str) -> Callable[[Callable[[], object]], Callable[[], object]]:
    def register(builder: Callable[[], object]) -> Callable[[], object]:
        name = builder.__name__
        BUILDERS[name] = builder
        KINDS[name] = kind
        globals()[name] = builder  # a target of python -m mpguide check
        return builder

    return register


# -- good keys --------------------------------------------------------------------


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Mood(enum.StrEnum):
    HAPPY = "happy"


@dataclasses.dataclass(frozen=True)
class Frozen:
    id: int
    name: str


class Point(typing.NamedTuple):
    x: int
    y: int


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slotted) and (self.a, self.b) == (other.a, other.b)

    def __hash__(self) -> int:
        return hash((self.a, self.b))

    def __getstate__(self) -> tuple[int, int]:
        return self.a, self.b

    def __setstate__(self, state: tuple[int, int]) -> None:
        self.a, self.b = state


for _name, _build in {
    "good_int": lambda: 7,
    "good_str": lambda: "sam",
    "good_bytes": lambda: b"\x00sam",
    "good_none": lambda: None,
    "good_tuple": lambda: (1, "a", (2.5, None)),
    "good_frozenset": lambda: frozenset({1, 2, "x"}),
    "good_enum": lambda: Colour.RED,
    "good_int_enum": lambda: Level.HIGH,
    "good_str_enum": lambda: Mood.HAPPY,
    "good_frozen_dataclass": lambda: Frozen(1, "sam"),
    "good_named_tuple": lambda: Point(1, 2),
    "good_slots": lambda: Slotted(1, 2),
    "good_date": lambda: datetime.date(2024, 1, 2),
    "good_decimal": lambda: decimal.Decimal("1.10"),
    "good_fraction": lambda: fractions.Fraction(1, 3),
    "good_complex": lambda: complex(1, 2),
    "good_network": lambda: ipaddress.ip_network("10.0.0.0/8"),
    "good_pure_path": lambda: pathlib.PurePosixPath("/srv/a.txt"),
    "good_uuid": lambda: uuid.UUID(int=5),
    "good_big_str": lambda: "x" * 100_000,
}.items():
    _build.__name__ = _name
    key("good")(_build)


# -- a trip changes the key -------------------------------------------------------


class Price:
    """Stores dollars; reduces to Price(dollars), which reads them as cents."""

    def __init__(self, cents: int) -> None:
        self.dollars = cents / 100

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Price) and other.dollars == self.dollars

    def __hash__(self) -> int:
        return hash(self.dollars)

    def __reduce__(self) -> tuple[Any, ...]:
        return Price, (self.dollars,)


class Prefixed:
    def __init__(self, name: str) -> None:
        self.name = "id:" + name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prefixed) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self) -> tuple[Any, ...]:
        return Prefixed, (self.name,)


@dataclasses.dataclass(frozen=True)
class Normalised:
    """__post_init__ transforms a field; pickling a frozen dataclass re-runs nothing,
    but its __reduce__ below feeds the field back to __init__."""

    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.strip() + "!")

    def __reduce__(self) -> tuple[Any, ...]:
        return Normalised, (self.name,)


class Counted:
    """Each unpickling adds one to a generation that __eq__ compares."""

    def __init__(self, id: int, generation: int = 0) -> None:
        self.id, self.generation = id, generation

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Counted) and (self.id, self.generation) == (
            other.id,
            other.generation,
        )

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> tuple[Any, ...]:
        return Counted, (self.id, self.generation + 1)


class Newer:
    """Asymmetric: a copy equals only copies at least as new as itself."""

    def __init__(self, id: int, generation: int = 0) -> None:
        self.id, self.generation = id, generation

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Newer)
            and self.id == other.id
            and self.generation >= other.generation
        )

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> tuple[Any, ...]:
        return Newer, (self.id, self.generation + 1)


class Older(Newer):
    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Older)
            and self.id == other.id
            and self.generation <= other.generation
        )

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> tuple[Any, ...]:
        return Older, (self.id, self.generation + 1)


class Stamped:
    """__getstate__ adds the time of pickling, which __eq__ compares."""

    def __init__(self, id: int) -> None:
        self.id = id

    def __getstate__(self) -> dict[str, Any]:
        return {"id": self.id, "sent_at": time.time_ns()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stamped) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(self.id)


class FromPid:
    """__getstate__ adds the sender's pid, which __eq__ compares."""

    def __init__(self, id: int) -> None:
        self.id = id

    def __getstate__(self) -> dict[str, Any]:
        return {"id": self.id, "sender": os.getpid()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FromPid) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(self.id)


class Tokened:
    """__setstate__ draws a fresh token that __eq__ compares."""

    def __init__(self, id: int) -> None:
        self.id = id

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, token=uuid.uuid4().hex)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokened) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(self.id)


class Guarded:
    """Holds a lock; a copyreg reducer that drops it is registered only by
    :func:`register_main_only`, which scripts call under their main guard."""

    def __init__(self, id: int) -> None:
        self.id = id
        self.lock = threading.Lock()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Guarded) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def rebuild_guarded(id: int) -> Guarded:
    return Guarded(id)


def reduce_guarded(obj: Guarded) -> tuple[Any, ...]:
    return rebuild_guarded, (obj.id,)


def register_main_only() -> None:
    copyreg.pickle(Guarded, reduce_guarded)


def _add(name: str, kind: str, build: Callable[[], object]) -> None:
    build.__name__ = name
    key(kind)(build)


_add("price", "reduce-changes-key", lambda: Price(12345))
_add("prefixed", "reduce-changes-key", lambda: Prefixed("sam"))
_add("post_init", "reduce-changes-key", lambda: Normalised(" sam "))
_add("counted", "reduce-changes-key", lambda: Counted(1))
_add("newer", "asymmetric-eq", lambda: Newer(1))
_add("older", "asymmetric-eq", lambda: Older(1))
_add("stamped", "getstate-timestamp", lambda: Stamped(1))
_add("from_pid", "getstate-pid", lambda: FromPid(1))
_add("tokened", "setstate-random", lambda: Tokened(1))
_add("guarded", "copyreg-under-main-guard", lambda: Guarded(1))


# -- hashes that depend on the thread, the process, or nothing stable -------------

_local = threading.local()


class ThreadSalted:
    def __init__(self, id: int) -> None:
        self.id = id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ThreadSalted) and other.id == self.id

    def __hash__(self) -> int:
        if not hasattr(_local, "salt"):
            _local.salt = random.getrandbits(32)
        return hash((self.id, _local.salt))


class ThreadIdent(ThreadSalted):
    def __hash__(self) -> int:
        return hash((self.id, threading.get_ident()))


class MainThreadOnly(ThreadSalted):
    def __hash__(self) -> int:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("hashed outside the main thread")
        return hash(self.id)


class MainThreadEq(ThreadSalted):
    def __eq__(self, other: object) -> bool:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("compared outside the main thread")
        return isinstance(other, MainThreadEq) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


_calls = itertools.count()


class Counter(ThreadSalted):
    def __hash__(self) -> int:
        return next(_calls)


class ByAddress(ThreadSalted):
    def __hash__(self) -> int:
        return id(self)


class Identity:
    def __init__(self, id: int) -> None:
        self.id = id


class EqById(ThreadSalted):
    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return hash(self.id)


class EagerSalted:
    def __init__(self, name: str) -> None:
        self.name = name
        self._hash = hash(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EagerSalted) and other.name == self.name

    def __hash__(self) -> int:
        return self._hash


class OpaqueSalted(EagerSalted):
    def __init__(self, name: str) -> None:
        self.name = name
        self._hash = hash(("user", 7))

    def __hash__(self) -> int:
        return self._hash


class HashStoresLock(ThreadSalted):
    """Its first hash stores an unpicklable lock on the key."""

    def __hash__(self) -> int:
        self.__dict__.setdefault("_guard", threading.Lock())
        return hash(self.id)


class Mutable(ThreadSalted):
    def __hash__(self) -> int:
        return hash(self.id)


@dataclasses.dataclass(eq=True, unsafe_hash=True)
class UnsafeHash:
    id: int


_add("thread_salted", "thread-local-hash", lambda: ThreadSalted(1))
_add("thread_ident", "thread-local-hash", lambda: ThreadIdent(1))
_add("main_thread_hash", "thread-local-hash", lambda: MainThreadOnly(1))
_add("main_thread_eq", "thread-local-eq", lambda: MainThreadEq(1))
_add("counter_hash", "unstable-hash", lambda: Counter(1))
_add("address_hash", "identity-hash", lambda: ByAddress(1))
_add("identity", "identity-eq", lambda: Identity(1))
_add("eq_by_id", "identity-eq", lambda: EqById(1))
_add("eager_salted", "salted-cached-hash", lambda: EagerSalted("sam"))
_add("opaque_salted", "salted-cached-hash", lambda: OpaqueSalted("sam"))
_add("hash_stores_lock", "hash-stores-unpicklable", lambda: HashStoresLock(1))
_add("mutable_hash", "mutable-hash", lambda: Mutable(1))
_add("unsafe_hash", "mutable-hash", lambda: UnsafeHash(1))


# -- values that are never equal, or cannot be hashed or pickled ------------------


@dataclasses.dataclass(frozen=True)
class WithNan:
    value: float


@dataclasses.dataclass
class MutableDataclass:
    id: int


class Local:
    pass


class NotImplementedEq(ThreadSalted):
    def __eq__(self, other: object) -> bool:
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)


class TruthlessEq(ThreadSalted):
    def __eq__(self, other: object) -> Any:
        class Vague:
            def __bool__(self) -> bool:
                raise ValueError("ambiguous")

        return Vague()

    def __hash__(self) -> int:
        return hash(self.id)


class WithLambda(ThreadSalted):
    def __init__(self, id: int) -> None:
        self.id = id
        self.callback = lambda: id


def nested(depth: int) -> object:
    value: object = ()
    for _ in range(depth):
        value = (value,)
    return value


_add("nan", "nan", lambda: float("nan"))
_add("nan_in_tuple", "nan", lambda: (1, float("nan")))
_add("nan_in_dataclass", "nan", lambda: WithNan(float("nan")))
_add("list", "unhashable", lambda: [1, 2])
_add("dict", "unhashable", lambda: {"a": 1})
_add("mutable_dataclass", "unhashable", lambda: MutableDataclass(1))
_add("not_implemented_eq", "eq-never-true", lambda: NotImplementedEq(1))
_add("truthless_eq", "eq-raises", lambda: TruthlessEq(1))
_add("with_lambda", "unpicklable", lambda: WithLambda(1))
_add("with_lock", "unpicklable", lambda: (1, threading.Lock()))
_add("deep", "deep-nesting", lambda: nested(950))


# -- code that raises BaseException, ends the process, or starts things -----------


class Raises(ThreadSalted):
    """Raises ``error`` from ``where`` (a method name), only in a copy."""

    where = ""
    error: type[BaseException] = KeyboardInterrupt

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, copy=True)
        if self.where == "__setstate__":
            raise self.error("from __setstate__")

    def _maybe(self, where: str) -> None:
        if self.where == where and self.__dict__.get("copy"):
            raise self.error(f"from {where}")

    def __hash__(self) -> int:
        self._maybe("__hash__")
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        self._maybe("__eq__")
        return isinstance(other, Raises) and other.id == self.id

    def __repr__(self) -> str:
        self._maybe("__repr__")
        return f"Raises({self.id})"


def raising(where: str, error: type[BaseException]) -> Callable[[], object]:
    cls = type(
        f"Raises_{where.strip('_')}_{error.__name__}",
        (Raises,),
        {"where": where, "error": error},
    )
    globals()[cls.__name__] = cls
    return lambda: cls(1)


class ReduceRaises(ThreadSalted):
    error: type[BaseException] = KeyboardInterrupt

    def __reduce__(self) -> tuple[Any, ...]:
        raise self.error("from __reduce__")

    def __hash__(self) -> int:
        return hash(self.id)


class ReduceExits(ReduceRaises):
    error = SystemExit


for _where in ("__setstate__", "__hash__", "__eq__", "__repr__"):
    for _error in (KeyboardInterrupt, SystemExit):
        _add(
            f"raises_{_where.strip('_')}_{_error.__name__}",
            "base-exception",
            raising(_where, _error),
        )
_add("reduce_keyboard_interrupt", "base-exception", lambda: ReduceRaises(1))
_add("reduce_system_exit", "base-exception", lambda: ReduceExits(1))


class Ends(ThreadSalted):
    """Calls ``os._exit`` (or crashes) from ``where``, only in a copy."""

    where = ""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, copy=True)
        self._maybe("__setstate__")

    def _maybe(self, where: str) -> None:
        if self.where == where and self.__dict__.get("copy"):
            if where == "__eq__":
                import ctypes

                ctypes.string_at(0)  # a segmentation fault
            os._exit(0)

    def __hash__(self) -> int:
        self._maybe("__hash__")
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        self._maybe("__eq__")
        return isinstance(other, Ends) and other.id == self.id


for _where in ("__setstate__", "__hash__", "__eq__"):
    _cls = type(f"Ends_{_where.strip('_')}", (Ends,), {"where": _where})
    globals()[_cls.__name__] = _cls
    _add(f"ends_in_{_where.strip('_')}", "ends-process", lambda _cls=_cls: _cls(1))


class StartsThread(ThreadSalted):
    """Unpickling starts a non-daemon thread that lives 20 s (in a process that
    ends sooner, as the check's interpreters and the trips' processes do)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        threading.Thread(target=time.sleep, args=(20,), name="started-by-a-key").start()

    def __hash__(self) -> int:
        return hash(self.id)


#: A process that ends with its parent, or after 20 s.
WATCHER = """
import os, sys, time
parent = os.getppid()
for _ in range(200):
    if os.getppid() != parent:
        break
    time.sleep(0.1)
"""


class StartsProcess(ThreadSalted):
    """Unpickling starts a process that lives as long as the process that unpickled it."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        subprocess.Popen([sys.executable, "-c", WATCHER])

    def __hash__(self) -> int:
        return hash(self.id)


class HangsInHash(ThreadSalted):
    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, copy=True)

    def __hash__(self) -> int:
        while self.__dict__.get("copy"):
            time.sleep(0.05)
        return hash(self.id)


_add("starts_thread", "starts-thread-on-unpickle", lambda: StartsThread(1))
_add("starts_process", "starts-process-on-unpickle", lambda: StartsProcess(1))
_add("hangs_in_hash", "hangs", lambda: HangsInHash(1))


#: Keys that start things when unpickled: a harmless trip leaves them running
#: in the server, never in the caller.
STARTERS = {"starts_thread", "starts_process"}
