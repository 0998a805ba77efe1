"""mpguide: keys that survive the trip to a ``multiprocessing`` Manager and back."""

from mpguide.hashing import StableKey, stable_hash
from mpguide.locks import KeyedLocks, LockTimeoutError
from mpguide.registry import KeyRegistry, UnregisteredObjectError

__all__ = [
    "KeyRegistry",
    "KeyedLocks",
    "LockTimeoutError",
    "StableKey",
    "UnregisteredObjectError",
    "stable_hash",
]
__version__ = "0.1.0"
