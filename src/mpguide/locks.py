"""One lock per key, across processes, without a Manager round trip.

:class:`~mpguide.KeyedLocks` is a fixed set of :mod:`multiprocessing` locks. A key's
lock is ``locks[stable_hash(key) % count]``, so every process picks the same
lock for the same key, whatever its start method or hash seed. Acquiring costs
what a plain ``multiprocessing.Lock`` costs: no server, no connection.

Striping means unrelated keys may share a lock. Holding one key at a time is
always safe (it can only make two keys wait for each other, never deadlock).
Holding two keys at once can deadlock if two processes take them in opposite
orders, or can block forever if both keys map to the same non-recursive lock;
:meth:`~mpguide.KeyedLocks.hold_many` takes several keys safely.

A process that ends while holding a lock (killed, ``os._exit()``, a crash in C
code) never releases it: :mod:`multiprocessing` locks do not know their owner,
so that stripe stays locked for every process, and every key that maps to it
blocks forever. ``KeyedLocks`` cannot tell a dead holder from a slow one.
Pass ``timeout`` to :meth:`~mpguide.KeyedLocks.hold` and
:meth:`~mpguide.KeyedLocks.hold_many` wherever a worker may die (a pool's
worker retired by ``maxtasksperchild`` never dies holding a lock; one killed by
the OOM killer or a signal can): a :exc:`~mpguide.LockTimeoutError` then says
the stripe is stuck, and the remedy is to stop the workers and create a new
``KeyedLocks``. Any process may release a ``multiprocessing.Lock``, but none
can tell whether its holder is dead or merely slow: releasing it from another
process could let two holders in.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Hashable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Lock
from typing import Any

from mpguide.hashing import stable_hash

__all__ = ["KeyedLocks", "LockTimeoutError"]


class LockTimeoutError(TimeoutError):
    """A key's lock was not acquired within the timeout."""


#: Keys whose lock index a process remembers, per KeyedLocks, before starting over.
INDEX_CACHE_SIZE = 65536


class _TimedHold:
    """Acquire with a timeout on entering a ``with`` block; release on leaving."""

    def __init__(self, lock: Lock, key: object, timeout: float) -> None:
        self._lock, self._key, self._timeout = lock, key, timeout

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=self._timeout):
            raise LockTimeoutError(
                f"could not lock {self._key!r} within {self._timeout} s; if a process "
                "that held this lock has ended, it stays locked: create a new KeyedLocks"
            )

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


class KeyedLocks:
    """A fixed stripe of locks, one chosen per key by :func:`~mpguide.stable_hash`.

    Create it before starting the workers, from the context that starts them,
    and hand it to them through inheritance (``Process`` arguments, or a pool's
    ``initializer``/``initargs``), as with any ``multiprocessing`` lock.

    :param count: how many locks; more locks, fewer unrelated keys sharing one.
    :param context: the multiprocessing context of the workers; defaults to
        the default context.
    """

    def __init__(self, count: int = 64, *, context: BaseContext | None = None) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        ctx = context if context is not None else multiprocessing.get_context()
        self._locks: tuple[Lock, ...] = tuple(ctx.Lock() for _ in range(count))
        self._index_cache: dict[Hashable, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"_locks": self._locks}  # each process keeps its own index cache

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._locks = state["_locks"]
        self._index_cache = {}

    def __len__(self) -> int:
        """The number of locks."""
        return len(self._locks)

    def index_for(self, key: Hashable) -> int:
        """The index of ``key``'s lock, the same in every process."""
        try:
            index = self._index_cache.get(key)
        except TypeError:  # unhashable: stable_hash explains what it accepts
            return stable_hash(key) % len(self._locks)
        if index is None:
            index = stable_hash(key) % len(self._locks)
            if len(self._index_cache) >= INDEX_CACHE_SIZE:
                self._index_cache.clear()
            self._index_cache[key] = index
        return index

    def lock_for(self, key: Hashable) -> Lock:
        """The lock that guards ``key``."""
        return self._locks[self.index_for(key)]

    def hold(
        self, key: Hashable, timeout: float | None = None
    ) -> AbstractContextManager[object]:
        """Hold ``key``'s lock for the ``with`` block.

        Without a timeout this is the lock itself, so holding costs what a bare
        ``multiprocessing.Lock`` costs, plus a dict lookup for a key seen before.

        :raises LockTimeoutError: on entering the block, if ``timeout`` seconds
            pass before the lock is free.
        """
        lock = self._locks[self.index_for(key)]
        return lock if timeout is None else _TimedHold(lock, key, timeout)

    @contextmanager
    def hold_many(
        self, keys: Iterable[Hashable], timeout: float | None = None
    ) -> Iterator[None]:
        """Hold the locks of several keys, each lock once, in a global order.

        Every process takes locks in increasing index order, so two processes
        holding overlapping sets cannot deadlock each other.
        """
        indexes = sorted({self.index_for(key) for key in keys})
        with ExitStack() as stack:
            for index in indexes:
                lock = self._locks[index]
                if not lock.acquire(timeout=timeout):
                    raise LockTimeoutError(
                        f"could not take lock {index} within {timeout} s; if a process "
                        "that held it has ended, it stays locked: create a new KeyedLocks"
                    )
                stack.callback(lock.release)
            yield

    def __repr__(self) -> str:
        return f"<KeyedLocks: {len(self._locks)} locks>"
