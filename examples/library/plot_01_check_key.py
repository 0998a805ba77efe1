"""
Catch a bad key before production does: ``check_key``
=====================================================

:func:`mpguide.check_key` sends an object on the trip a Manager dict key takes:
pickled, unpickled in another process, compared with other copies, hashed
there. It reports each problem with why it breaks and how to fix it. This page
runs it on the report's ``User`` and on each fix, shows the one-line guard for a
test suite, and runs the same check from the command line.
"""

# %%
# The report's ``User``
# ---------------------
# The class from the report: no ``__eq__``, no ``__hash__``. The check finds
# exactly the bug the tutorial reproduces.

import dataclasses
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mpguide import UnshareableKeyError, assert_shareable_key, check_key


class User:
    def __init__(self, id, name):
        self.id = id
        self.name = name


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    report = check_key(User(id=1, name="alice"))
    print(report)
    assert [f.problem for f in report.errors] == ["identity-equality"]

# %%
# The report is data too: ``report.ok``, ``report.errors``, and each finding's
# ``problem``, ``severity``, ``summary``, ``explanation`` and ``fix``.

if __name__ == "__main__":
    print("ok:", report.ok)
    print("checks run:", ", ".join(report.checks))

# %%
# The fixes, checked
# ------------------
# A frozen dataclass passes. Its only finding is a *note*: its hash involves a
# ``str``, which Python salts per interpreter. That is harmless for a Manager
# dict, which hashes every key in its own process, and matters only if you
# pick shards or locks with ``hash(key) % n`` (the next example).


@dataclasses.dataclass(frozen=True)
class FrozenUser:
    id: int
    name: str


if __name__ == "__main__":
    report = check_key(FrozenUser(id=1, name="alice"))
    print(report)
    assert report.ok and [f.problem for f in report.notes] == [
        "hash-varies-between-processes"
    ]

# %%
# ``__eq__`` and ``__hash__`` written by hand over a plain attribute also work,
# with a *warning*: ``id`` can be reassigned, and a key whose hash changes while
# it is in a dict is lost. Make it read-only (a property, as in the tutorial's
# fix) and the warning goes away.


class ValueUser:
    def __init__(self, id, name):
        self.id = id
        self.name = name

    def __eq__(self, other):
        return isinstance(other, ValueUser) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


if __name__ == "__main__":
    report = check_key(ValueUser(id=1, name="alice"))
    print(report)
    assert report.ok and [f.problem for f in report.warnings] == ["mutable-hash"]

# %%
# A subtler bug: a hash cached on the instance
# --------------------------------------------
# Caching ``hash(self.name)`` looks like an optimisation. Pickling never calls
# ``__hash__``: a key travels unhashed, and the process that receives it
# computes (and caches) its own hash. So while keys are sent before anything
# hashes them, every copy is hashed where it is used, and this works: the
# check gives a *warning* (and a second one: ``name`` feeds the hash and can be
# reassigned).


class CachedHashUser:
    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, CachedHashUser) and other.name == self.name

    def __hash__(self):
        if "_hash" not in self.__dict__:
            self._hash = hash(self.name)
        return self._hash


if __name__ == "__main__":
    report = check_key(CachedHashUser("alice"))
    print("a fresh CachedHashUser:", [str(f.problem) for f in report.warnings])
    assert report.ok and "cached-hash" in [f.problem for f in report.warnings]

# %%
# It breaks as soon as a process hashes a key before sending it, as building a
# dict does (``manager.dict({user: 0})`` builds one here first). Every copy
# then carries the hash of the process that computed it, with that process's
# salt, while an equal user built in a spawn or forkserver worker is hashed
# with another salt where it is looked up: equal keys, different slots,
# ``KeyError``. Under fork the server and the workers inherit the parent's
# salt, so the hashes agree: not by luck, and not under the other start
# methods. The check reports both ways of using the key, and the error.

if __name__ == "__main__":
    user = CachedHashUser("bob")
    users = {user: 0}  # hashes it, and caches this process's hash on it
    report = check_key(user)
    print(report)
    assert [f.problem for f in report.errors] == ["cached-hash"]

# %%
# In your test suite
# ------------------
# :func:`~mpguide.assert_shareable_key` raises
# :exc:`~mpguide.UnshareableKeyError` (an ``AssertionError``) carrying the
# report, so a failing test prints the explanation. ``strict=True`` fails on
# warnings too.


def test_user_is_a_shareable_key():
    assert_shareable_key(User(id=1, name="alice"))


if __name__ == "__main__":
    try:
        test_user_is_a_shareable_key()
    except UnshareableKeyError as error:
        print("the test fails with UnshareableKeyError:")
        print(error.report.errors[0].summary)
    assert_shareable_key(FrozenUser(id=1, name="alice"), strict=True)
    print("FrozenUser passes assert_shareable_key(..., strict=True)")

# %%
# From the command line
# ---------------------
# ``python -m mpguide check module:name`` imports the object, or calls a
# zero-argument function that returns one, and prints the same report. Its exit
# status is 0 when the key works and 1 when it does not; bad arguments, a
# target that cannot be imported, a check that runs out of ``--timeout`` and a
# failure of the check itself each have their own status (see
# :doc:`/reference/cli`). ``--json`` prints the report alone on standard output.
# Here it checks a small module like one of yours, written to a temporary
# project directory:

ACCOUNTS_MODULE = """
class User:
    def __init__(self, id, name):
        self.id = id
        self.name = name


def sample_user():
    return User(id=1, name="alice")
"""

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as project:
        Path(project, "accounts.py").write_text(ACCOUNTS_MODULE)
        command = [sys.executable, "-m", "mpguide", "check", "accounts:sample_user"]
        done = subprocess.run(command, cwd=project, capture_output=True, text=True)
    print("$ python -m mpguide check accounts:sample_user")
    print(done.stdout, end="")
    print("exit status:", done.returncode)
    from mpguide.figures import Observation, draw_outcome

    # The report's last line: "1 error, 0 warnings, 0 notes. Does not work ..."
    tally = done.stdout.strip().splitlines()[-1].strip().partition(". ")[0]
    works = done.returncode == 0
    draw_outcome(
        "python -m mpguide check",
        [
            Observation(label="accounts:sample_user", result=tally, ok=works),
            Observation(
                label="as a Manager dict key",
                result="works" if works else "does not work",
                ok=works,
            ),
            Observation(label="exit status", result=str(done.returncode), ok=works),
        ],
    )
    assert done.returncode == 1, done.stderr
