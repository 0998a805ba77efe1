"""
Pitfall 3: ``hash(key) % n`` picks different shards in different processes
===========================================================================

Spreading users over several Manager dicts (shards) with ``hash(name) % n`` is
correct in one process. Python salts ``hash()`` of ``str`` and ``bytes`` (and of
types that hash through them, such as dates and Enum members) once per
interpreter, though, so a worker that is a fresh interpreter computes other
shards than the parent that filled them, and finds nothing. Whether you see it
depends on the start method. The fix is a hash that is the same everywhere:
:func:`mpguide.stable_hash`.
"""

# %%
# Why it happens: :doc:`/explanation/copies-not-references`, where each process's
# :term:`hash salt` comes from.

# %%
# Reproduce
# ---------
# The parent stores each user's profile in shard ``hash(name) % 8``; workers
# look each user up in the shard *they* compute.

import datetime
import enum
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from mpguide import stable_hash

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
SHARDS = 8


class Color(enum.Enum):
    RED = 1


def no_op():
    pass


MISSING = object()  # a sentinel, as many libraries define one

SAMPLES = {
    "str": "alice",
    "bytes": b"alice",
    "tuple of str": ("alice", 1),
    "date": datetime.date(2024, 1, 1),
    "naive datetime": datetime.datetime(2024, 1, 1, 12),
    "time": datetime.time(12),
    "memoryview": memoryview(b"alice"),
    "Enum member": Color.RED,
    "NaN": float("nan"),
    "None": None,
    "Ellipsis": ...,
    "a class": Color,
    "a function": no_op,
    "an object() sentinel": MISSING,
    "int": 12345,
    "tuple of int": (1, 2),
    "float": 1.5,
}


def sample_hashes():
    return {name: hash(value) for name, value in SAMPLES.items()}


def salted_shard(name):
    return hash(name) % SHARDS


def fixed_shard(name):
    return stable_hash(name) % SHARDS


def look_up(shards, pick, name):
    """In a worker: the shard this process picks, and whether the user is there."""
    shard = pick(name)
    return shard, name in shards[shard]


def fill_and_look_up(manager, pool, pick):
    shards = [manager.dict() for _ in range(SHARDS)]
    parent_picks = {name: pick(name) for name in USERS}
    for name, shard in parent_picks.items():
        shards[shard][name] = {"name": name}
    found = 0
    for name in USERS:
        worker_shard, present = pool.submit(
            look_up, shards=shards, pick=pick, name=name
        ).result()
        found += present
        print(f"{name}: parent put it in shard {parent_picks[name]},", end=" ")
        print(
            f"a worker looked in shard {worker_shard}: {'found' if present else 'missing'}"
        )
    return found


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    manager = context.Manager()
    pool = ProcessPoolExecutor(max_workers=2, mp_context=context)
    salted_found = fill_and_look_up(manager=manager, pool=pool, pick=salted_shard)
    print(f"found {salted_found} of {len(USERS)} users")

# %%
# Why, and why it depends on the start method
# -------------------------------------------
# Each interpreter draws its hash salt when it starts (unless
# ``PYTHONHASHSEED`` is set):
#
# - ``fork``: a worker is a copy of the parent, salt included: same shards.
# - ``spawn``: every worker is a new interpreter: its own salt, other shards.
# - ``forkserver``: workers are forks of the server, a new interpreter started
#   once: they agree with each other, not with the parent.
#
# So code tested on Linux with ``fork`` breaks on macOS and Windows (``spawn``),
# and on Linux from Python 3.14 (``forkserver``). ``PYTHONHASHSEED=0`` would
# hide it, but ``hash()`` is not a contract between processes.

if __name__ == "__main__":
    seed = os.environ.get("PYTHONHASHSEED")
    salt_shared = seed not in (None, "random")
    if salt_shared:
        print(f"failure hidden: PYTHONHASHSEED is set to {seed}: one salt everywhere")
    print(
        "depends on the start method: fork workers inherit the parent's hash salt; "
        "spawn and forkserver workers are (forks of) fresh interpreters with their own"
    )

# %%
# Not only ``str``
# ----------------
# The salt reaches every hash computed from ``str`` or ``bytes``: tuples and
# dataclasses of them, ``datetime.date``, naive ``datetime`` and ``time``
# (hashed from their bytes), ``memoryview``, and Enum members (which hash their
# name). Some hashes come from an address instead, which differs between
# interpreters too: a NaN's; a class's, a function's and an ``object()``
# sentinel's, when your code defines them (each is made anew in every
# interpreter); and ``Ellipsis``'s, a built-in class's, and
# ``None``'s up to Python 3.11 (a constant from 3.12), where the interpreter is
# loaded at a random address (a position-independent build; Debian's
# ``python3.11`` is not one). Numbers, and tuples of them, hash the same
# everywhere. A worker hashes the values of
# ``SAMPLES`` (defined at the top, with this page's other functions), built
# from this file, and the parent compares:


if __name__ == "__main__":
    in_worker = pool.submit(sample_hashes).result()
    differ = [name for name, value in sample_hashes().items() if in_worker[name] != value]
    print("hashes that differ in a worker:", ", ".join(differ) or "none")

# %%
# Fix: a stable hash
# ------------------
# :func:`mpguide.stable_hash` hashes a canonical encoding of the key, the same
# in every process, run and platform.

if __name__ == "__main__":
    fixed_found = fill_and_look_up(manager=manager, pool=pool, pick=fixed_shard)
    print(f"found {fixed_found} of {len(USERS)} users")
    pool.shutdown()
    manager.shutdown()

# %%
# ``python -m mpguide lint`` finds ``hash() % n`` in a module that uses processes
# without running it (rule MPG007, :doc:`/reference/lint`), and prints nothing for the
# stable hash:

from mpguide.lint import lint_snippet

BROKEN = """\
import multiprocessing


def salted_shard(name):
    return hash(name) % 8
"""
FIXED = """\
import multiprocessing

from mpguide import stable_hash


def fixed_shard(name):
    return stable_hash(name) % 8
"""

if __name__ == "__main__":
    lint_broken, lint_fixed = lint_snippet(BROKEN), lint_snippet(FIXED)
    print(*lint_broken, sep="\n")
    print("for the fix:", lint_fixed or "nothing")
    assert len(lint_broken) == 1 and all(" MPG007 " in line for line in lint_broken)
    assert lint_fixed == []

# %%
# What happened
# -------------

if __name__ == "__main__":
    missing = len(USERS) - salted_found
    hidden_by = f"; PYTHONHASHSEED={seed} hides it" if salt_shared else ""
    print(
        f"failure reproduced: {'yes' if missing else 'no'} "
        f"({missing} of {len(USERS)} users missing{hidden_by})"
    )
    print(
        f"fix works: {'yes' if fixed_found == len(USERS) else 'no'} "
        f"({fixed_found} of {len(USERS)} found)"
    )
    from mpguide.figures import Observation, draw_outcome

    users = len(USERS)
    draw_outcome(
        f"Shard lookups, start method {method}",
        [
            Observation(
                label="hash(name) % n",
                result=f"found {salted_found} of {users}",
                ok=salted_found == users,
                fraction=salted_found / users,
            ),
            Observation(
                label="stable_hash(name) % n",
                result=f"found {fixed_found} of {users}",
                ok=fixed_found == users,
                fraction=fixed_found / users,
            ),
        ],
    )
    assert fixed_found == len(USERS)
    assert (missing > 0) == (method != "fork" and not salt_shared)
