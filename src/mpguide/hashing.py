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
  method returns.

Lengths and counts are unsigned 8-byte big-endian. ``int`` and ``str``
subclasses (``IntEnum``, ``StrEnum``) encode as their value, so that keys
equal under ``==`` hash equal: ``stable_hash(1) == stable_hash(1.0) ==
stable_hash(True)``. The hash is the first 8 bytes of the BLAKE2b digest of the
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


def _encode(key: object, depth: int) -> bytes:
    if depth < 0:
        raise TypeError(f"key nests deeper than {MAX_DEPTH} tuples or frozensets")
    if key is None:
        return b"N"
    if isinstance(key, int):  # bool, IntEnum and other int subclasses included
        return _encode_int(int(key))
    if isinstance(key, float):
        if math.isfinite(key) and key.is_integer():
            return _encode_int(int(key))
        if math.isnan(key):
            key = math.nan
        return b"F" + struct.pack(">d", key)
    if isinstance(key, str):
        data = str(key).encode("utf-8", "surrogatepass")
        return b"S" + _length(len(data)) + data
    if isinstance(key, bytes):
        return b"Y" + _length(len(key)) + bytes(key)
    if isinstance(key, tuple):
        items = [_encode(item, depth - 1) for item in key]
        return b"T" + _length(len(items)) + b"".join(items)
    if isinstance(key, frozenset):
        items = sorted(_encode(item, depth - 1) for item in key)
        return b"Z" + _length(len(items)) + b"".join(items)
    if isinstance(key, enum.Enum):
        cls = type(key)
        module = "__main__" if cls.__module__ == "__mp_main__" else cls.__module__
        name = f"{module}:{cls.__qualname__}".encode()
        if not isinstance(key.name, str):
            return b"V" + _length(len(name)) + name + _encode(key.value, depth - 1)
        member = key.name.encode()
        return b"E" + _length(len(name)) + name + _length(len(member)) + member
    stable_key = getattr(type(key), "__stable_key__", None)
    if stable_key is not None:
        return _encode(stable_key(key), depth - 1)
    raise TypeError(
        f"stable_hash cannot encode {type(key).__qualname__!r} objects; use None, int, "
        "float, str, bytes, an Enum member, a tuple or frozenset of these, or give "
        "the class a __stable_key__() method returning one"
    )
