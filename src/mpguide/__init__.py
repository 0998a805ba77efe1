"""mpguide: keys that survive the trip to a ``multiprocessing`` Manager and back.

PYTEST_DONT_REWRITE: ``python -m mpguide run -m pytest`` imports this package
before pytest, which would otherwise warn that it cannot rewrite it (an error
under ``filterwarnings = error``); it has no assertions to rewrite.
"""

from mpguide.hashing import StableKey, stable_hash
from mpguide.keycheck import (
    Finding,
    KeyReport,
    Problem,
    Severity,
    UnshareableKeyError,
    assert_shareable_key,
    check_key,
    check_keys,
)
from mpguide.locks import KeyedLocks, LockTimeoutError
from mpguide.registry import KeyRegistry, UnregisteredObjectError

__all__ = [
    "Finding",
    "KeyRegistry",
    "KeyReport",
    "KeyedLocks",
    "LockTimeoutError",
    "Problem",
    "Severity",
    "StableKey",
    "UnregisteredObjectError",
    "UnshareableKeyError",
    "assert_shareable_key",
    "check_key",
    "check_keys",
    "stable_hash",
]
__version__ = "0.1.0"
