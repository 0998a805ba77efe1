"""
``ShareableList`` drops trailing zero bytes, and cuts long UTF-8 strings
========================================================================

``multiprocessing.shared_memory.ShareableList`` holds ``bytes`` and ``str``
values in shared memory for other processes to read. A value that ends in
zero bytes comes back without them: ``b"\\x00\\x01\\x00"`` is read as
``b"\\x00\\x01"``, ``b"\\x00"`` as ``b""``, and a string ending in ``"\\x00"``
loses it too. A string of characters that take more than one byte in UTF-8
can come back shorter, or not at all (``UnicodeDecodeError``). Nothing is
raised when the value is stored. This page stores such values, reads them in
another process, explains both from CPython's code, and fixes them by ending
each value with a byte that says its type.
"""

# %%
# Reproduce
# ---------
# The parent stores five values; a worker process reads the list (under
# ``spawn`` and ``forkserver`` it is pickled as its name, and the worker
# attaches to it) and sends back what it reads.

import multiprocessing
import os
from multiprocessing.shared_memory import ShareableList

WAIT = 60  # seconds: a bound on every wait
VALUES = [
    b"\x00\x01\x00",  # bytes ending in a zero byte
    b"\x00\x00\x00\x00",  # only zero bytes
    "tab\x00",  # a str ending in "\x00"
    "é" * 9,  # 9 characters, 18 bytes in UTF-8
    "0\U0001f642\U0001f642",  # 3 characters, 9 bytes in UTF-8
]


def read_all(shared, convert=None):
    """Each item of ``shared`` (passed through ``convert``), or the error
    reading it raised."""
    items = []
    for position in range(len(shared)):
        try:
            item = shared[position]
        except UnicodeDecodeError as error:
            item = f"UnicodeDecodeError: {error.reason}"
        items.append(item if convert is None else convert(item))
    return items


def read_in_worker(shared, results, convert):
    results.send(read_all(shared, convert))
    results.close()
    shared.shm.close()


def read_in_a_worker(context, shared, convert=None):
    """What a worker process reads from ``shared``."""
    reader, writer = context.Pipe(duplex=False)
    worker = context.Process(target=read_in_worker, args=(shared, writer, convert))
    worker.start()
    writer.close()
    items = reader.recv() if reader.poll(WAIT) else "no answer"
    reader.close()
    worker.join(WAIT)
    return items


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    shared = ShareableList(VALUES)
    try:
        read = read_in_a_worker(context, shared)
        formats = shared.format
    finally:
        shared.shm.close()
        shared.shm.unlink()
    for stored, came_back in zip(VALUES, read, strict=True):
        print(f"stored {stored!r:34} read {came_back!r}")
    print("the list's struct format:", formats)

# %%
# Why
# ---
# ``ShareableList.__init__`` (``multiprocessing/shared_memory.py``) gives each
# ``str`` or ``bytes`` item a slot of ``8 * (len(item) // 8 + 1)`` bytes and
# records its format as ``"<slot>s"`` (printed above): the real length is not
# kept anywhere. ``struct`` pads a shorter value with zero bytes to fill the
# slot, so on reading, ``__getitem__`` unpacks the whole slot and its
# ``_back_transforms_mapping`` removes the padding with ``rstrip(b'\x00')``,
# for ``str`` before decoding (transform code 1) and for ``bytes`` (code 2):
# the value's own trailing zeros go with it. A value assigned later
# (``__setitem__``) is padded and stripped the same way. When the list is
# created, a string's slot is counted in characters, ``len(item)``, while the
# string is stored UTF-8 encoded, and ``struct``'s ``s`` format silently cuts a
# longer value to its slot. Nine ``é`` are 18 bytes in a 16-byte slot: eight
# come back. The last string is 9 bytes in an 8-byte slot, cut inside a
# character, and cannot be decoded. (``__setitem__`` compares the encoded
# length with the slot and raises ``ValueError`` instead.) The class is the
# same in CPython 3.11, 3.12 and 3.13. Both are reported to CPython: the
# trailing zeros as python/cpython#96779 and #106939, the cut strings as
# #88336.
#
# Fix: end each value with a byte that says its type
# --------------------------------------------------
# Store ``bytes`` with ``b"b"`` appended, and ``str`` encoded to UTF-8 with
# ``b"s"`` appended. The slot is then sized for the bytes really stored,
# ``rstrip`` stops at the last byte, which is never zero, and the reader
# drops it and decodes what the tag says. Every process that reads or writes
# the list uses the two functions.


def tagged(value):
    """What to store for ``value``: ``str`` and ``bytes`` as bytes ending in a tag."""
    if isinstance(value, str):
        return value.encode() + b"s"
    if isinstance(value, bytes):
        return value + b"b"
    return value


def untagged(stored):
    """The value that ``tagged`` stored as ``stored``."""
    if not isinstance(stored, bytes):
        return stored
    data, tag = stored[:-1], stored[-1:]
    return data.decode() if tag == b"s" else data


if __name__ == "__main__":
    shared = ShareableList([tagged(value) for value in VALUES])
    try:
        shared[2] = tagged("\x00\x00")  # a replacement, stored the same way
        expected = [*VALUES[:2], "\x00\x00", *VALUES[3:]]
        fixed_read = read_in_a_worker(context, shared, convert=untagged)
    finally:
        shared.shm.close()
        shared.shm.unlink()
    for stored, came_back in zip(expected, fixed_read, strict=True):
        print(f"stored {stored!r:34} read {came_back!r}")

# %%
# What happened
# -------------

if __name__ == "__main__":
    pairs = zip(VALUES, read, strict=True)
    changed = sum(came_back != stored for stored, came_back in pairs)
    reproduced = changed == len(VALUES)
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} ({changed} of "
        f"{len(VALUES)} values came back changed or unreadable)"
    )
    fixed_pairs = zip(expected, fixed_read, strict=True)
    exact = sum(came_back == stored for stored, came_back in fixed_pairs)
    fixed = fixed_read == expected
    print(f"fix works: {'yes' if fixed else 'no'} (with a tag byte, every value came back)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "bytes and str in a ShareableList",
        [
            Observation(label="trailing zero bytes", result=repr(read[0]), ok=False),
            Observation(label="nine é (18 bytes)", result=f"{len(read[3])} é", ok=False),
            Observation(
                label="with a tag byte",
                result=f"{exact} of {len(expected)} exact",
                ok=fixed,
            ),
        ],
    )
    assert read[:4] == [b"\x00\x01", b"", "tab", "é" * 8], read
    assert read[4].startswith("UnicodeDecodeError: "), read[4]
    assert formats == "8s8s8s16s8s"
    assert reproduced and fixed
    assert not multiprocessing.active_children()
