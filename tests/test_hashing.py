"""stable_hash: the same in a fresh interpreter, consistent with ==, and strict."""

from __future__ import annotations

import ast
import enum
import json
import math
import os
import pickle
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from conftest import none_moves_between_runs
from hypothesis import given, settings
from hypothesis import strategies as st

from mpguide import stable_hash
from mpguide.hashing import MAX_DEPTH, stable_key_bytes

leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
keys = st.recursive(
    leaves,
    lambda children: st.tuples(children, children) | st.frozensets(children, max_size=4),
    max_leaves=12,
)


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Account:
    def __init__(self, number: int) -> None:
        self.number = number

    def __stable_key__(self) -> object:
        return ("account", self.number)


def hashes_in_fresh_interpreter(values: list[object], seed: str) -> list[int]:
    code = (
        "import pickle, sys; from mpguide import stable_hash; "
        "keys = pickle.load(sys.stdin.buffer); "
        "print(repr([stable_hash(k) for k in keys]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(values),
        capture_output=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": seed},
    )
    return ast.literal_eval(result.stdout.decode())


@settings(max_examples=25, deadline=None)
@given(st.lists(keys, min_size=1, max_size=30), st.integers(1, 2**32 - 1))
def test_same_hash_in_a_fresh_interpreter_with_another_hash_seed(
    values: list[object], seed: int
) -> None:
    assert hashes_in_fresh_interpreter(values, str(seed)) == [
        stable_hash(v) for v in values
    ]


SALTED_VALUES = {
    "str": "'alice'",
    "bytes": "b'alice'",
    "date": "datetime.date(2024, 1, 2)",
    "naive datetime": "datetime.datetime(2024, 1, 2, 3, 4)",
    "naive time": "datetime.time(3, 4)",
    "memoryview": "memoryview(b'alice')",
    "Enum member": "enum.Enum('Colour', 'RED').RED",
}
ADDRESS_HASHED = {"NaN": "float('nan')", "None": "None"}
UNSALTED = {"int": "12345", "tuple of ints": "(1, 2)", "aware datetime": "AWARE"}


def builtin_hashes(expressions: dict[str, str], seed: str) -> dict[str, int]:
    code = (
        "import datetime, enum, json, sys\n"
        "AWARE = datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)\n"
        "names = json.loads(sys.argv[1])\n"
        "print(json.dumps({name: hash(eval(e)) for name, e in names.items()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(expressions)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": seed},
    )
    return dict(json.loads(result.stdout))


def test_what_the_module_says_is_salted_differs_with_the_seed() -> None:
    """What stable_hash protects against, value by value, as the docstring lists it."""
    one, two = (builtin_hashes({**SALTED_VALUES, **UNSALTED}, seed) for seed in "12")
    assert [name for name in one if one[name] != two[name]] == list(SALTED_VALUES)


@pytest.mark.skipif(
    Path("/proc/sys/kernel/randomize_va_space").exists()
    and Path("/proc/sys/kernel/randomize_va_space").read_text().strip() == "0",
    reason="address space randomization is off: addresses repeat between runs",
)
def test_address_hashes_differ_between_runs_with_the_same_seed() -> None:
    runs = [builtin_hashes(ADDRESS_HASHED, "1") for _ in range(3)]
    assert len({run["NaN"] for run in runs}) > 1
    none_varies = len({run["None"] for run in runs}) > 1
    # From its address up to 3.11, a constant from 3.12 (gh-99540).
    assert none_varies == (sys.version_info < (3, 12) and none_moves_between_runs())


def test_a_class_from_the_main_script_hashes_alike_in_every_child() -> None:
    """Spawn and forkserver children import the main script as __mp_main__."""
    here = enum.Enum("Colour", "RED", module="__main__", qualname="Colour")
    there = enum.Enum("Colour", "RED", module="__mp_main__", qualname="Colour")
    elsewhere = enum.Enum("Colour", "RED", module="app", qualname="Colour")
    assert stable_hash(here.RED) == stable_hash(there.RED) != stable_hash(elsewhere.RED)


class Permission(enum.Flag):
    READ = 1
    WRITE = 2


def test_flags_without_a_name_are_encoded_by_value() -> None:
    none, both = Permission(0), Permission.READ | Permission.WRITE
    hashes = {stable_hash(v) for v in (none, Permission.READ, Permission.WRITE, both)}
    assert len(hashes) == 4
    name = f"{__name__}:Permission".encode()
    assert stable_key_bytes(none) == b"V" + len(name).to_bytes(8, "big") + name + (
        stable_key_bytes(0)
    )


@given(keys, keys)
def test_equal_keys_hash_equal(a: object, b: object) -> None:
    if a == b:
        assert stable_hash(a) == stable_hash(b)


def test_numbers_equal_under_eq_hash_equal() -> None:
    assert stable_hash(1) == stable_hash(1.0) == stable_hash(True)
    assert stable_hash(0) == stable_hash(-0.0) == stable_hash(False)
    assert stable_hash(Level.HIGH) == stable_hash(3)
    assert stable_hash(float("nan")) == stable_hash(-float("nan"))


@given(st.frozensets(leaves, max_size=8))
def test_frozensets_ignore_order(items: frozenset[object]) -> None:
    reordered = frozenset(sorted(items, key=repr, reverse=True))
    assert stable_hash(items) == stable_hash(reordered)


def test_types_that_differ_under_eq_hash_differently() -> None:
    values = [None, 1, "1", b"1", (1,), frozenset({1}), 1.5, "", b"", (), frozenset()]
    assert len({stable_hash(v) for v in values}) == len(values)
    assert stable_hash(("a", "bc")) != stable_hash(("ab", "c"))


def test_the_documented_encoding() -> None:
    def length(n: int) -> bytes:
        return n.to_bytes(8, "big")

    assert stable_key_bytes(None) == b"N"
    assert stable_key_bytes("ab") == b"S" + length(2) + b"ab"
    assert stable_key_bytes(b"ab") == b"Y" + length(2) + b"ab"
    assert stable_key_bytes(-1) == b"I" + length(1) + b"\xff"
    assert stable_key_bytes(255) == b"I" + length(2) + b"\x00\xff"
    assert stable_key_bytes(1.5) == b"F" + b"\x3f\xf8" + bytes(6)
    assert stable_key_bytes((None,)) == b"T" + length(1) + b"N"
    name = f"{__name__}:Colour".encode()
    assert stable_key_bytes(Colour.RED) == (
        b"E" + length(len(name)) + name + length(3) + b"RED"
    )
    assert stable_key_bytes(Account(7)) == stable_key_bytes(("account", 7))
    assert 0 <= stable_hash("x") < 2**64


@pytest.mark.parametrize(
    "value", [[1], {"a": 1}, {1}, object(), Account, bytearray(b"x"), 1j]
)
def test_unsupported_values_are_a_clear_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="stable_hash cannot encode"):
        stable_hash(value)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    key: object = ()
    for _ in range(MAX_DEPTH + 5):
        key = (key,)
    with pytest.raises(TypeError, match="nests deeper"):
        stable_hash(key)


def test_a_stable_key_that_returns_itself_is_refused() -> None:
    class Loop:
        def __stable_key__(self) -> object:
            return self

    with pytest.raises(
        TypeError, match=r"Loop.__stable_key__\(\) returns the object itself"
    ):
        stable_hash(Loop())


class CaseInsensitive(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.lower() == other.lower()

    def __hash__(self) -> int:
        return hash(self.lower())


class Pair(tuple):  # type: ignore[type-arg]
    """An unordered pair: Pair((1, 2)) == Pair((2, 1))."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, tuple) and sorted(self) == sorted(other)

    def __hash__(self) -> int:
        return hash(frozenset(self))


class Point(typing.NamedTuple):
    x: int
    y: int

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Point) and abs(self.x - other.x) + abs(self.y - other.y) == 0
        )

    def __hash__(self) -> int:
        return hash((self.x, self.y))


class Slug(str):
    def __stable_key__(self) -> object:
        return str.lower(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.lower() == other.lower()

    def __hash__(self) -> int:
        return hash(self.lower())


@pytest.mark.parametrize(
    "key",
    [CaseInsensitive("Sam"), Pair((1, 2)), Point(1, 2)],
    ids=lambda key: type(key).__name__,
)
def test_a_subclass_with_its_own_equality_is_refused_by_name(key: object) -> None:
    """Equal keys would get different hashes, and KeyedLocks different locks."""
    with pytest.raises(TypeError, match=rf"refuses .*{type(key).__qualname__} objects"):
        stable_hash(key)


def test_a_stable_key_wins_over_the_value_type() -> None:
    assert Slug("Sam") == Slug("sam")
    assert stable_hash(Slug("Sam")) == stable_hash(Slug("sam")) == stable_hash("sam")


class Mood(str, enum.Enum):  # noqa: UP042 (a mixin, not a StrEnum, on purpose)
    HAPPY = "happy"


class Tagged(bytes):
    def __bytes__(self) -> bytes:
        return b"tag:" + bytes(memoryview(self))


class Loud(str):
    def __str__(self) -> str:
        return self.upper()


@pytest.mark.parametrize(
    ("key", "plain"),
    [(Mood.HAPPY, "happy"), (Tagged(b"ab"), b"ab"), (Loud("ab"), "ab")],
    ids=["(str, Enum) member", "bytes with __bytes__", "str with __str__"],
)
def test_a_value_subclass_hashes_like_the_equal_plain_value(
    key: object, plain: object
) -> None:
    assert key == plain
    assert stable_hash(key) == stable_hash(plain)


def test_numpy_scalars_hash_like_the_equal_plain_value() -> None:
    numpy = pytest.importorskip("numpy")
    pairs = [
        (numpy.int64(5), 5),
        (numpy.uint8(5), 5),
        (numpy.int32(5), 5),
        (numpy.float64(0.5), 0.5),
        (numpy.float32(0.1), float(numpy.float32(0.1))),
        (numpy.float64(2.0), 2),
        (numpy.bool_(True), 1),
        (numpy.str_("a"), "a"),
        (numpy.bytes_(b"a"), b"a"),
    ]
    for value, plain in pairs:
        assert value == plain
        assert stable_hash(value) == stable_hash(plain), value
    for value in (numpy.complex128(1j), numpy.datetime64("2020-01-01")):
        with pytest.raises(TypeError, match=r"cannot encode 'numpy\."):
            stable_hash(value)


def test_infinities_are_supported() -> None:
    assert stable_hash(math.inf) != stable_hash(-math.inf)
