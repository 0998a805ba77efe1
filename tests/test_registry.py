"""KeyRegistry: same object, same token; unique tokens across concurrent processes."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from mpguide import KeyRegistry, UnregisteredObjectError


class Thing:
    """No __eq__/__hash__: only identity tells two things apart."""


def test_same_object_same_token_and_distinct_objects_distinct_tokens() -> None:
    registry = KeyRegistry()
    a, b = Thing(), Thing()
    token_a = registry.register(a)
    assert registry.register(a) == token_a
    assert registry.register(b) != token_a
    assert registry.token_of(a) == token_a
    assert registry.lookup(token_a) is a
    assert type(token_a) is int
    assert len(registry) == 2 and a in registry and Thing() not in registry


def test_tokens_start_at_first() -> None:
    registry = KeyRegistry(first=100)
    assert [registry.register(Thing()) for _ in range(3)] == [100, 101, 102]


@pytest.mark.parametrize("first", [2**63 - 1, 2**63, -(2**63) - 1, 10**30])
def test_first_outside_the_counters_range_is_refused(first: int) -> None:
    """A shared "q" counter silently wraps a value it cannot hold."""
    with pytest.raises(ValueError, match="signed 64-bit"):
        KeyRegistry(first=first)


def test_the_last_token_is_handed_out_once() -> None:
    registry = KeyRegistry(first=2**63 - 2)
    assert registry.register(object()) == 2**63 - 2
    with pytest.raises(OverflowError, match="no token left"):
        registry.register(object())


@pytest.mark.parametrize("first", ["1", 1.0, True, None])
def test_first_must_be_an_int(first: object) -> None:
    with pytest.raises(TypeError, match="first must be an int"):
        KeyRegistry(first=first)  # type: ignore[arg-type]


def test_a_copy_has_no_token_and_the_error_says_why() -> None:
    registry = KeyRegistry()
    thing = Thing()
    registry.register(thing)
    copy = pickle.loads(pickle.dumps(thing))
    with pytest.raises(UnregisteredObjectError, match="send the token along"):
        registry.token_of(copy)
    with pytest.raises(
        UnregisteredObjectError, match="no object was registered under token 99"
    ):
        registry.lookup(99)


def test_forget_releases_the_object_and_never_reuses_its_token() -> None:
    registry = KeyRegistry()
    thing = Thing()
    token = registry.register(thing)
    registry.forget(thing)
    assert thing not in registry
    with pytest.raises(UnregisteredObjectError):
        registry.lookup(token)
    assert registry.register(thing) == token + 1
    registry.forget(Thing())  # forgetting an unknown object is a no-op


def test_registry_keeps_objects_alive_so_addresses_are_not_reused() -> None:
    registry = KeyRegistry()
    tokens = {registry.register(Thing()) for _ in range(1000)}
    assert len(tokens) == 1000


def test_threads_registering_at_once_get_unique_tokens() -> None:
    registry = KeyRegistry()
    things = [Thing() for _ in range(2000)]
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(registry.register, things + things))
    assert tokens[:2000] == tokens[2000:]
    assert sorted(set(tokens)) == list(range(1, 2001))


def test_pickling_outside_process_start_is_refused_clearly() -> None:
    with pytest.raises(RuntimeError, match="through inheritance"):
        pickle.dumps(KeyRegistry())


# -- across processes -----------------------------------------------------------

_registry: KeyRegistry | None = None


def _share(registry: KeyRegistry, barrier: threading.Barrier) -> None:
    global _registry
    _registry = registry
    barrier.wait(timeout=60)  # every worker is up before any registers


def _register_many(count: int) -> list[int]:
    assert _registry is not None
    things = [Thing() for _ in range(count)]
    tokens = [_registry.register(thing) for thing in things]
    assert [_registry.register(thing) for thing in things] == tokens
    return tokens


def test_processes_registering_at_once_lose_and_duplicate_no_token(
    start_method: str,
) -> None:
    context = multiprocessing.get_context(start_method)
    registry = KeyRegistry(context)
    parents_thing = Thing()
    assert registry.register(parents_thing) == 1
    workers, per_task, tasks = 4, 250, 8
    barrier = context.Barrier(workers)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_share, initargs=(registry, barrier)
    ) as pool:
        batches = list(pool.map(_register_many, [per_task] * tasks))
    tokens = [token for batch in batches for token in batch]
    assert sorted(tokens) == list(range(2, 2 + per_task * tasks))
    assert registry.register(Thing()) == 2 + per_task * tasks


def _token_of_inherited(
    registry: KeyRegistry, thing: Thing, answers: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    try:
        answers.put(("token", registry.token_of(thing)))
    except UnregisteredObjectError:
        answers.put(("unregistered", registry.register(thing)))


def test_a_child_starts_with_an_empty_identity_map_under_every_method(
    start_method: str,
) -> None:
    """Even under fork, where the child's object sits at the parent's address."""
    context = multiprocessing.get_context(start_method)
    registry = KeyRegistry(context)
    thing = Thing()
    registry.register(thing)
    answers = context.Queue()
    child = context.Process(target=_token_of_inherited, args=(registry, thing, answers))
    child.start()
    answer = answers.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    assert answer == ("unregistered", 2)
