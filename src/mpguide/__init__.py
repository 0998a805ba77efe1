"""mpguide: keys that survive the trip to a ``multiprocessing`` Manager and back."""

from mpguide.registry import KeyRegistry, UnregisteredObjectError

__all__ = ["KeyRegistry", "UnregisteredObjectError"]
__version__ = "0.1.0"
