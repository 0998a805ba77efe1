"""KeyedLocks: the same lock for a key in every process, and real mutual exclusion."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import run_script

from mpguide import KeyedLocks, LockTimeoutError, stable_hash

_shared: dict[str, Any] = {}


def _adopt(locks: KeyedLocks, counter: Any) -> None:
    _shared.update(locks=locks, counter=counter)


def _indexes(keys: list[str]) -> list[int]:
    return [_shared["locks"].index_for(key) for key in keys]


def _increment(key: str, times: int) -> None:
    locks, counter = _shared["locks"], _shared["counter"]
    for _ in range(times):
        with locks.hold(key):
            value = counter.value
            time.sleep(0)  # invite a switch between the read and the write
            counter.value = value + 1


def _pool(start_method: str, locks_count: int = 16) -> tuple[ProcessPoolExecutor, Any]:
    context = multiprocessing.get_context(start_method)
    locks = KeyedLocks(locks_count, context=context)
    counter = context.RawValue("i", 0)  # no lock of its own: KeyedLocks must protect it
    pool = ProcessPoolExecutor(
        4, mp_context=context, initializer=_adopt, initargs=(locks, counter)
    )
    _adopt(locks, counter)
    return pool, counter


def test_workers_pick_the_same_lock_as_the_parent(start_method: str) -> None:
    keys = [f"user-{n}" for n in range(50)]
    pool, _ = _pool(start_method)
    with pool:
        in_workers = list(pool.map(_indexes, [keys] * 4))
    assert in_workers == [_indexes(keys)] * 4


def test_no_update_is_lost_under_contention(start_method: str) -> None:
    pool, counter = _pool(start_method)
    with pool:
        list(pool.map(_increment, ["alice"] * 4, [250] * 4))
    assert counter.value == 1000


def test_index_is_the_stable_hash_modulo_the_count() -> None:
    locks = KeyedLocks(7)
    assert len(locks) == 7
    assert all(locks.index_for(k) == stable_hash(k) % 7 for k in ("a", 1, ("x", 2)))
    assert locks.lock_for("a") is locks.lock_for("a")


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "8"])
def test_count_must_be_a_positive_int(count: object) -> None:
    with pytest.raises(ValueError, match="count must be a positive int"):
        KeyedLocks(count)  # type: ignore[arg-type]


def test_hold_times_out_with_a_clear_error() -> None:
    locks = KeyedLocks(4)
    with (
        locks.hold("alice"),
        pytest.raises(LockTimeoutError, match="'alice'"),
        locks.hold("alice", timeout=0.05),
    ):
        pass
    with locks.hold("alice", timeout=0.05):  # released after the failure
        pass


def test_hold_many_takes_a_shared_lock_once() -> None:
    locks = KeyedLocks(1)  # every key shares the one lock
    with locks.hold_many(["alice", "bob", "alice"], timeout=1):
        assert not locks.lock_for("carol").acquire(block=False)
    assert locks.lock_for("carol").acquire(block=False)


def test_hold_many_releases_what_it_took_when_it_times_out() -> None:
    locks = KeyedLocks(64)
    by_index = {locks.index_for(f"key-{n}"): f"key-{n}" for n in range(100)}
    first, second = (by_index[index] for index in sorted(by_index)[:2])
    blocker = locks.lock_for(second)
    blocker.acquire()
    with pytest.raises(LockTimeoutError), locks.hold_many([first, second], timeout=0.05):
        pass
    blocker.release()
    assert locks.lock_for(first).acquire(block=False)


def test_unhashable_keys_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="stable_hash cannot encode 'list'"):
        KeyedLocks(4).index_for(["alice"])  # type: ignore[arg-type]


MAIN_MODULE_SCRIPT = '''
import enum
import multiprocessing
import os

from mpguide import KeyedLocks, LockTimeoutError, stable_hash


class Colour(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3
    CYAN = 4
    MAGENTA = 5
    YELLOW = 6


def try_each(locks, results):
    """In the child: Colour is __mp_main__.Colour under spawn and forkserver."""
    outcomes = []
    for colour in Colour:
        try:
            with locks.hold(colour, timeout=0.05):
                outcomes.append("acquired")
        except LockTimeoutError:
            outcomes.append("blocked")
    results.put((type(colour).__module__, [stable_hash(c) for c in Colour], outcomes))


def run_child(context, locks):
    results = context.SimpleQueue()
    child = context.Process(target=try_each, args=(locks, results))
    child.start()
    answer = results.get()
    child.join(60)
    results.close()
    return answer


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    locks = KeyedLocks(64, context=context)
    with locks.hold_many(list(Colour), timeout=5):
        module, hashes, while_held = run_child(context, locks)
    _, _, when_free = run_child(context, locks)
    print("child module:", module)
    print("same hashes:", hashes == [stable_hash(c) for c in Colour])
    print("while the parent holds them:", sorted(set(while_held)))
    print("once released:", sorted(set(when_free)))
'''


def test_a_key_class_from_the_main_script_locks_across_processes(
    start_method: str, tmp_path: Path
) -> None:
    """Its module is __main__ here and __mp_main__ in spawn and forkserver children."""
    script = tmp_path / "main_module_locks.py"
    script.write_text(MAIN_MODULE_SCRIPT)
    result = run_script(script, start_method, timeout=120)
    assert result.returncode == 0, result.stderr
    expected_module = "__main__" if start_method == "fork" else "__mp_main__"
    assert f"child module: {expected_module}" in result.stdout
    assert "same hashes: True" in result.stdout
    assert "while the parent holds them: ['blocked']" in result.stdout
    assert "once released: ['acquired']" in result.stdout


class CaseInsensitive(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.lower() == other.lower()

    def __hash__(self) -> int:
        return hash(self.lower())


def test_equal_keys_never_get_different_locks() -> None:
    """A str subclass with its own __eq__ is refused, not given two locks."""
    locks = KeyedLocks(64)
    assert CaseInsensitive("Sam") == CaseInsensitive("sam")
    with pytest.raises(TypeError, match="refuses"):
        locks.lock_for(CaseInsensitive("Sam"))


def test_a_timeout_names_the_stripe_a_dead_holder_leaves_locked() -> None:
    locks = KeyedLocks(1)
    assert locks.lock_for("a").acquire()
    try:
        with (
            pytest.raises(LockTimeoutError, match="create a new KeyedLocks"),
            locks.hold("b", timeout=0.05),
        ):
            pass
    finally:
        locks.lock_for("a").release()
