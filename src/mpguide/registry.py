"""Stable tokens for objects that have no natural id.

An object without ``__eq__``/``__hash__`` cannot key a Manager dict: every copy
that crosses a process boundary is a new object that matches nothing. When the
object has no natural id either, a :class:`KeyRegistry` hands it a plain ``int``
token, unique across every process that shares the registry. Key the shared dict
by the token and send the token along with the object.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.context import BaseContext
from typing import Any

#: The range of tokens: the shared counter is a signed 64-bit ``int`` (``"q"``),
#: which holds the next token, and ``TOKEN_MAX + 1`` once every token is used.
TOKEN_MIN, TOKEN_MAX = -(2**63), 2**63 - 2


class UnregisteredObjectError(LookupError):
    """An object, or a token, that this process never registered."""


class KeyRegistry:
    """Hand out process-wide unique ``int`` tokens for arbitrary objects.

    Registering the same object twice (the same object, by identity) returns the
    same token. Tokens come from a counter in shared memory, so registries handed
    to worker processes never hand out a token twice, whichever process asks.

    Identity is per process: a worker that receives a *copy* of a registered
    object does not know its token (the copy is another object). Register objects
    where they are created and send the token with the object. This holds under
    every start method; under ``fork`` a child's registry starts empty too, so
    code never depends on the start method.

    The registry keeps each registered object alive (its token must not be reused
    for a new object at the same address); :meth:`forget` releases one.

    Share a registry with workers the way :mod:`multiprocessing` shares locks:
    through inheritance (``Process`` arguments, or a pool's ``initializer`` /
    ``initargs``), created from the context that starts those workers.

    :param context: the multiprocessing context whose workers will share the
        registry; defaults to :func:`multiprocessing.get_context`'s default.
    :param first: the first token handed out, from ``-2**63`` to ``2**63 - 2``
        (the shared counter is a signed 64-bit int); tokens count up from it,
        and ``register()`` raises :exc:`OverflowError` once the last is handed out.
    """

    def __init__(self, context: BaseContext | None = None, *, first: int = 1) -> None:
        if isinstance(first, bool) or not isinstance(first, int):
            raise TypeError(f"first must be an int, not {type(first).__name__}")
        if not TOKEN_MIN <= first <= TOKEN_MAX:
            raise ValueError(
                f"first must be a token the shared counter can hold, from {TOKEN_MIN} "
                f"to {TOKEN_MAX} (the counter is a signed 64-bit int), got {first}"
            )
        ctx = context if context is not None else multiprocessing.get_context()
        self._next_token = ctx.Value("q", first)
        self._reset_local_state()

    def _reset_local_state(self) -> None:
        self._owner_pid = os.getpid()
        self._local_lock = threading.Lock()
        self._tokens: dict[int, tuple[object, int]] = {}
        self._objects: dict[int, object] = {}

    def _ensure_local_state(self) -> None:
        # A forked child inherits the parent's identity map, whose objects are
        # the parent's; start empty instead, exactly as under spawn.
        if self._owner_pid != os.getpid():
            self._reset_local_state()

    def register(self, obj: object) -> int:
        """Return the token of ``obj``, allocating a new one on first sight."""
        self._ensure_local_state()
        with self._local_lock:
            known = self._tokens.get(id(obj))
            if known is not None:
                return known[1]
            with self._next_token.get_lock():
                token = int(self._next_token.value)
                if token > TOKEN_MAX:  # one more and the counter would wrap
                    raise OverflowError(f"no token left after {TOKEN_MAX}")
                self._next_token.value = token + 1
            self._tokens[id(obj)] = (obj, token)
            self._objects[token] = obj
            return token

    def token_of(self, obj: object) -> int:
        """Return the token of an object registered in this process.

        :raises UnregisteredObjectError: if this process never registered ``obj``
            (for instance because ``obj`` is a copy received from another process).
        """
        self._ensure_local_state()
        known = self._tokens.get(id(obj))
        if known is None:
            raise UnregisteredObjectError(
                f"{obj!r} was never registered in process {os.getpid()}. A copy "
                "received from another process is a different object: send the "
                "token along with the object, or register it where it was created."
            )
        return known[1]

    def lookup(self, token: int) -> object:
        """Return the object this process registered under ``token``.

        :raises UnregisteredObjectError: if no object was registered under
            ``token`` in this process.
        """
        self._ensure_local_state()
        try:
            return self._objects[token]
        except KeyError:
            raise UnregisteredObjectError(
                f"no object was registered under token {token!r} in process {os.getpid()}"
            ) from None

    def forget(self, obj: object) -> None:
        """Drop ``obj`` from this process's map; its token is never handed out again."""
        self._ensure_local_state()
        with self._local_lock:
            known = self._tokens.pop(id(obj), None)
            if known is not None:
                del self._objects[known[1]]

    def __len__(self) -> int:
        """Number of objects registered in this process."""
        self._ensure_local_state()
        return len(self._tokens)

    def __contains__(self, obj: object) -> bool:
        self._ensure_local_state()
        return id(obj) in self._tokens

    def __getstate__(self) -> dict[str, Any]:
        # Only the shared counter travels; identity maps are per process.
        return {"_next_token": self._next_token}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._next_token = state["_next_token"]
        self._reset_local_state()

    def __repr__(self) -> str:
        return f"<KeyRegistry: {len(self)} objects in this process>"
