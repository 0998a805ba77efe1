"""A hash of keys that is the same in every process, run and platform.

Python's ``hash()`` of ``str`` and ``bytes`` is salted per interpreter
(``PYTHONHASHSEED``), and so is the hash of everything that hashes them: a
``date``, a naive ``datetime`` or ``time``, a ``memoryview``, an ``Enum``
member (``Enum.__hash__`` hashes its name). Other hashes come from an address
and differ between runs whatever the seed: NaN, classes, and ``None`` on
Python 3.11 where the interpreter is loaded at a random address (a
position-independent build; Debian's ``python3.11`` is not one), a constant
from 3.12 (gh-99540). So ``hash(key) % n`` picks
different shards or locks in a ``spawn`` or ``forkserver`` worker than in its
parent. :func:`~mpguide.stable_hash` hashes a canonical encoding of the key
instead.

The encoding, which is part of this module's contract (changing it changes
every hash), is a tag byte followed by a payload:

- ``None``: ``N``, nothing more.
- ``int``, ``bool`` and integral ``float``: ``I``, then the signed big-endian
  two's complement bytes, length-prefixed.
- any other ``float``: ``F``, then IEEE 754 binary64, big-endian (every NaN
  as one NaN).
- ``str``: ``S``, then UTF-8 (lone surrogates kept), length-prefixed.
- ``bytes``: ``Y``, then the bytes, length-prefixed.
- ``tuple``: ``T``, the item count, then each item's encoding.
- ``frozenset``: ``Z``, the item count, then the items' encodings, sorted.
- ``enum.Enum`` member: ``E``, then ``module:qualname`` of its class and the
  member's name, each length-prefixed. A class defined in the main script is
  written as module ``__main__`` in every process, although ``spawn`` and
  ``forkserver`` children know it as ``__mp_main__``. A member without a name
  (a ``Flag`` of value 0, or an unnamed combination of flags): ``V``, the
  class as above, then the encoding of its value.
- an object whose class has ``__stable_key__()``: the encoding of what that
  method returns (checked first, whatever else the object is; returning the
  object itself is refused).
- a NumPy scalar whose ``item()`` is a ``bool``, ``int``, ``float``, ``str`` or
  ``bytes`` (``numpy.int64``, ``numpy.float64``, ``numpy.bool_``, ``numpy.str_``...):
  as that value, which it equals. Other NumPy scalars (complex, ``longdouble``,
  ``datetime64``) are refused.

Lengths and counts are unsigned 8-byte big-endian. Subclasses of ``int``,
``float``, ``str``, ``bytes``, ``tuple`` and ``frozenset`` (``IntEnum``,
``StrEnum``, a ``(str, Enum)`` member, a ``NamedTuple``) encode as their value,
read with the base type's own methods (not a subclass's ``__str__``,
``__bytes__`` or ``__iter__``), so that keys equal under ``==`` hash equal:
``stable_hash(1) == stable_hash(1.0) == stable_hash(True)``. A subclass that
overrides the base type's ``__eq__`` or ``__hash__`` (a case-insensitive
``str``, an unordered pair) is refused unless it has ``__stable_key__()``:
its equal keys could otherwise get different hashes, and :class:`~mpguide.KeyedLocks`
different locks. The hash is the first 8 bytes of the BLAKE2b digest of the
encoding, read as an unsigned big-endian integer.
"""

from __future__ import annotations

import enum
import hashlib
import math
import struct
from typing import Protocol, runtime_checkable

__all__ = ["MAX_DEPTH", "StableKey", "stable_hash", "stable_key_bytes"]

#: How deeply tuples and frozensets may nest before :func:`~mpguide.stable_hash` refuses.
MAX_DEPTH = 100


@runtime_checkable
class StableKey(Protocol):
    """An object that names its own stable key (a supported value)."""

    def __stable_key__(self) -> object: ...


def stable_hash(key: object) -> int:
    """Return a 64-bit hash of ``key`` that is the same in every process.

    :raises TypeError: for a value the encoding does not cover, naming it.
    """
    digest = hashlib.blake2b(stable_key_bytes(key), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def stable_key_bytes(key: object) -> bytes:
    """Return the canonical encoding of ``key`` described in this module."""
    return _encode(key, MAX_DEPTH)


def _length(count: int) -> bytes:
    return count.to_bytes(8, "big")


def _encode_int(value: int) -> bytes:
    size = (value.bit_length() + 8) // 8  # room for the sign bit
    payload = value.to_bytes(size, "big", signed=True)
    return b"I" + _length(len(payload)) + payload


#: The value types the encoding covers, and the ``__eq__`` and ``__hash__`` that
#: make equal values of a subclass equal to the plain value.
_VALUE_TYPES = (int, float, str, bytes, tuple, frozenset)


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", "?")
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _own_equality(cls: type) -> type | None:
    """The value type whose equality a subclass ``cls`` overrides, if any."""
    for base in _VALUE_TYPES:
        subclass = issubclass(cls, base) and cls is not base
        if (
            subclass
            and not issubclass(cls, enum.Enum)
            and (cls.__eq__ is not base.__eq__ or cls.__hash__ is not base.__hash__)
        ):
            return base
    return None


#: The types a NumPy scalar's ``item()`` may return for it to encode as that value.
_NUMPY_ITEMS = (bool, int, float, str, bytes)


def _numpy_item(key: object) -> object:
    """The plain value a NumPy scalar equals, or ``None`` for anything else."""
    if not any(
        c.__module__ == "numpy" and c.__name__ == "generic" for c in type(key).__mro__
    ):
        return None
    value = key.item()  # type: ignore[attr-defined]
    return value if type(value) in _NUMPY_ITEMS else None


def _encode(key: object, depth: int) -> bytes:
    if depth < 0:
        raise TypeError(f"key nests deeper than {MAX_DEPTH} tuples or frozensets")
    cls = type(key)
    stable_key = getattr(cls, "__stable_key__", None)
    if stable_key is not None:
        named = stable_key(key)
        if named is key:
            raise TypeError(
                f"{_type_name(cls)}.__stable_key__() returns the object itself; return "
                "a supported value that names it (a str, an int, a tuple of these...)"
            )
        return _encode(named, depth - 1)
    plain = _numpy_item(key)
    if plain is not None:
        return _encode(plain, depth - 1)
    overridden = _own_equality(cls)
    if overridden is not None:
        raise TypeError(
            f"stable_hash refuses {_type_name(cls)} objects: the class overrides the "
            f"__eq__ or __hash__ of {overridden.__qualname__}, so equal keys could get "
            "different hashes; give it a __stable_key__() method returning a value that "
            "is the same for every pair of equal keys"
        )
    if key is None:
        return b"N"
    if isinstance(key, int):  # bool, IntEnum and other int subclasses included
        return _encode_int(int.__index__(key))
    if isinstance(key, float):
        value = float.__float__(key)
        if math.isfinite(value) and value.is_integer():
            return _encode_int(int(value))
        if math.isnan(value):
            value = math.nan
        return b"F" + struct.pack(">d", value)
    if isinstance(key, str):  # the value, not what a subclass's __str__ says
        data = str.__str__(key).encode("utf-8", "surrogatepass")
        return b"S" + _length(len(data)) + data
    if isinstance(key, bytes):  # the value, not what a subclass's __bytes__ says
        data = bytes(memoryview(key))
        return b"Y" + _length(len(data)) + data
    if isinstance(key, tuple):
        items = [_encode(item, depth - 1) for item in tuple.__iter__(key)]
        return b"T" + _length(len(items)) + b"".join(items)
    if isinstance(key, frozenset):
        items = sorted(_encode(item, depth - 1) for item in frozenset.__iter__(key))
        return b"Z" + _length(len(items)) + b"".join(items)
    if isinstance(key, enum.Enum):
        module = "__main__" if cls.__module__ == "__mp_main__" else cls.__module__
        name = f"{module}:{cls.__qualname__}".encode()
        if not isinstance(key.name, str):
            return b"V" + _length(len(name)) + name + _encode(key.value, depth - 1)
        member = key.name.encode()
        return b"E" + _length(len(name)) + name + _length(len(member)) + member
    raise TypeError(
        f"stable_hash cannot encode {_type_name(cls)!r} objects; use None, int, "
        "float, str, bytes, an Enum member, a tuple or frozenset of these, or give "
        "the class a __stable_key__() method returning one"
    )
