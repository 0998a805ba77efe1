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
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Hashable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Lock

from mpguide.hashing import stable_hash

__all__ = ["KeyedLocks", "LockTimeoutError"]


class LockTimeoutError(TimeoutError):
    """A key's lock was not acquired within the timeout."""


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

    def __len__(self) -> int:
        """The number of locks."""
        return len(self._locks)

    def index_for(self, key: Hashable) -> int:
        """The index of ``key``'s lock, the same in every process."""
        return stable_hash(key) % len(self._locks)

    def lock_for(self, key: Hashable) -> Lock:
        """The lock that guards ``key``."""
        return self._locks[self.index_for(key)]

    @contextmanager
    def hold(self, key: Hashable, timeout: float | None = None) -> Iterator[None]:
        """Hold ``key``'s lock for the ``with`` block.

        :raises LockTimeoutError: if ``timeout`` seconds pass first.
        """
        lock = self.lock_for(key)
        if not lock.acquire(timeout=timeout):
            raise LockTimeoutError(f"could not lock {key!r} within {timeout} s")
        try:
            yield
        finally:
            lock.release()

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
                        f"could not take lock {index} within {timeout} s"
                    )
                stack.callback(lock.release)
            yield

    def __repr__(self) -> str:
        return f"<KeyedLocks: {len(self._locks)} locks>"
