"""Each pitfall page, run as a script under every start method, does what it says.

Where a failure exists only under some start methods, the test asserts exactly
that. The outcome lines are read with the parser the start-method matrix uses.
"""

from __future__ import annotations

import os
import re
import sys

import pytest
from conftest import (
    ROOT,
    line_after,
    none_moves_between_runs,
    run_example_ok,
    run_script,
)

from mpguide.sphinxext.start_method_matrix import Outcome

PITFALLS = ROOT / "examples" / "pitfalls"
FRESH_INTERPRETER = ("spawn", "forkserver")


def run_pitfall(
    name: str, start_method: str, hash_seed: str | None = None
) -> tuple[str, Outcome]:
    env = None  # as the build runs it, and then its saved run is read
    if hash_seed is not None or "PYTHONHASHSEED" in os.environ:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
        if hash_seed is not None:
            env["PYTHONHASHSEED"] = hash_seed
    output = run_example_ok(PITFALLS / name, start_method, env=env)
    return output, Outcome.parse(output, name)


def assert_fixed(outcome: Outcome) -> None:
    assert outcome.fixed, outcome


def test_nested_mutation_is_lost_and_both_fixes_keep_it(start_method: str) -> None:
    output, outcome = run_pitfall("plot_01_nested_mutation.py", start_method)
    assert outcome.reproduced and outcome.reproduced_detail == "4 appends, 0 kept"
    assert 'after queries["alice"].append("q0"): []' in output
    assert 'after stats["alice"]["count"] += 1: {\'count\': 0}' in output
    assert "write back under a lock: ['q1', 'q2', 'q3', 'q4']" in output
    assert "type of queries['alice']: ListProxy" in output
    assert_fixed(outcome)


def test_value_increments_race_and_a_lock_fixes_them(start_method: str) -> None:
    output, outcome = run_pitfall("plot_02_value_race.py", start_method)
    assert "two increments, value: 1" in output
    lost = int(re.search(r"lost (\d+) of 800", outcome.reproduced_detail).group(1))
    assert outcome.reproduced and lost > 0
    assert "counted 800 with a lock" in output
    assert "list.append, one message per item: 800 of 800 kept" in output
    added = re.search(r"Tally\.add_one, one message per item: (\d+) of 800", output)
    assert int(added.group(1)) < 800
    assert_fixed(outcome)


def test_salted_shards_break_only_with_a_fresh_interpreter(start_method: str) -> None:
    output, outcome = run_pitfall("plot_03_salted_hash.py", start_method)
    lookups = re.findall(r"a worker looked in shard \d+: (found|missing)", output)
    assert len(lookups) == 16 and lookups[8:] == ["found"] * 8
    assert ("missing" in lookups[:8]) == (start_method in FRESH_INTERPRETER)
    assert outcome.reproduced == (start_method in FRESH_INTERPRETER)
    assert outcome.reason and "inherit the parent's hash salt" in outcome.reason
    assert outcome.fixed_detail == "8 of 8 found"
    differ = re.search(r"^hashes that differ in a worker: (.+)$", output, re.M).group(1)
    salted = {"str", "bytes", "tuple of str", "date", "naive datetime", "time"}
    salted |= {"memoryview", "Enum member", "NaN"}
    salted |= {"a class", "a function", "an object() sentinel"}  # made anew
    if none_moves_between_runs():  # the interpreter's own objects move with it
        salted.add("Ellipsis")
        if sys.version_info < (3, 12):
            salted.add("None")  # hashed from its address until 3.12
    if start_method in FRESH_INTERPRETER:
        assert set(differ.split(", ")) == salted
    else:
        assert differ == "none"
    assert "failure hidden" not in output
    assert_fixed(outcome)


def test_cached_hash_breaks_only_with_a_fresh_interpreter(start_method: str) -> None:
    output, outcome = run_pitfall("plot_04_cached_hash.py", start_method)
    expected = (
        "['KeyError', 'KeyError', 'KeyError']" if start_method != "fork" else "[0, 0, 0]"
    )
    assert f"CachedHashUser: workers got {expected}" in output
    assert outcome.reproduced == (start_method in FRESH_INTERPRETER)
    assert "AddressHashUser: the parent's own key raises KeyError: True" in output
    assert "User: workers got [0, 0, 0]" in output
    assert "pickling the key cached a hash on it: False" in output
    server_salt_is_ours = start_method == "fork"
    assert (
        f"the server's cached hash equals this process's hash('dave'): "
        f"{server_salt_is_ours}" in output
    )
    assert "failure hidden" not in output
    assert_fixed(outcome)


@pytest.mark.parametrize("name", ["plot_03_salted_hash.py", "plot_04_cached_hash.py"])
def test_a_fixed_hash_seed_hides_the_failure_and_says_so(name: str) -> None:
    output, outcome = run_pitfall(name, "spawn", hash_seed="7")
    assert "failure hidden: PYTHONHASHSEED is set to 7" in output
    assert not outcome.reproduced
    assert "PYTHONHASHSEED=7 hides it" in outcome.reproduced_detail
    assert_fixed(outcome)


def test_mutated_key_diverges_and_a_frozen_key_refuses(start_method: str) -> None:
    output, outcome = run_pitfall("plot_05_mutable_key.py", start_method)
    assert "local dict finds (User('alicia'), User('alice')): (False, False)" in output
    assert "manager dict finds (User('alicia'), User('alice')): (False, True)" in output
    assert "FrozenInstanceError: cannot assign to field 'name'" in output
    assert outcome.reproduced
    assert_fixed(outcome)


def test_main_module_classes_fail_only_with_a_fresh_interpreter(start_method: str) -> None:
    output, outcome = run_pitfall("plot_06_main_module.py", start_method)
    assert outcome.reproduced == (start_method in FRESH_INTERPRETER)
    if outcome.reproduced:
        # the module reads "(built-in)" on 3.11, "(<class ...BuiltinImporter>)" from 3.12
        assert outcome.reproduced_detail.startswith(
            "RemoteError from the server: AttributeError: Can't get attribute 'User' "
            "on <module '__main__' ("
        )
    # "pickle" on 3.11 and 3.12.1, "get" on 3.13, PicklingError from 3.14
    assert re.search(
        r"class inside a function, exit status 1 -> \w*(Attribute|Pickling)Error: "
        r"Can't (pickle|get) local object .*make_user_class\.<locals>\.User",
        output,
    )
    assert outcome.fixed_detail == "stored: 1"
    # Only the wording differs by version (3.11 to 3.13), not the verdicts: no
    # version line, which the start-method matrix would refuse.
    assert outcome.version_reason is None
    pool = dict(
        re.findall(r"^Pool\(2, initializer=(\w+)\), 4 tasks -> (.+)$", output, re.M)
    )
    if start_method in FRESH_INTERPRETER:
        # each lost task takes one worker with it; a lost initializer, every worker
        assert pool["None"] == "map finished: False, workers started: 6"
        started = int(
            re.fullmatch(
                r"map finished: False, workers started: (\d+)", pool["setup"]
            ).group(1)
        )
        assert started >= 8
    else:
        assert pool == dict.fromkeys(
            ["None", "setup"], "map finished: True, workers started: 2"
        )
    assert_fixed(outcome)


def test_proxies_compare_by_identity_and_copies_by_value(start_method: str) -> None:
    output, outcome = run_pitfall("plot_07_proxy_identity.py", start_method)
    assert "manager.list([1]) == [1]: False" in output
    assert 'queries["alice"] is queries["alice"]: False' in output
    assert 'queries["alice"] == queries["alice"]: True' in output
    assert "str(shared):  [1]" in output
    assert "str(shared) sends: ['__repr__']" in output
    assert "users[:]: 1 round trips ['__getitem__']" in output
    per_item = ", '__getitem__'"
    assert f"list(users): 5 round trips ['__len__'{per_item * 4}]" in output
    assert "profiles.copy(): 1 round trips ['copy']" in output
    assert f"dict(profiles): 4 round trips ['keys'{per_item * 3}]" in output
    assert "dict(profiles) with bob deleted after keys(): KeyError('bob')" in output
    assert "profiles.copy() afterwards: {'alice': 1, 'carol': 3}" in output
    assert re.search(
        r"repr\(shared\): <ListProxy object, typeid 'list' at 0x[0-9a-f]+>", output
    )
    assert outcome.reproduced
    assert_fixed(outcome)


def test_each_lock_fetch_opens_two_connections(start_method: str) -> None:
    output, outcome = run_pitfall("plot_08_lock_fetch.py", start_method)
    assert "fetch_every_time: 100 connections for 50 uses" in output
    assert "fetch_once: 2 connections for 50 uses" in output
    assert "cache_with_setdefault: 100 connections for 50 uses" in output
    assert "cache_with_get: 2 connections for 50 uses" in output
    assert (
        "one `with user_locks[1]:` sends: __getitem__, [new connection], incref, "
        "acquire, release, [new connection], decref\n"
        "that is 5 requests, each waiting for its reply, and 2 new connections\n"
    ) in output
    for pattern, requests in [
        ("fetch_every_time", 250),
        ("fetch_once", 103),
        ("cache_with_setdefault", 250),
        ("cache_with_get", 103),
    ]:
        assert f"{pattern}: {requests} requests for 50 uses" in output
    assert outcome.reproduced
    assert_fixed(outcome)


def test_manager_shutdown_shows_up_as_connection_errors(start_method: str) -> None:
    output, outcome = run_pitfall("plot_09_manager_shutdown.py", start_method)
    connected = re.search(r"a worker that had connected: (\w+)", output).group(1)
    fresh = re.search(r"a worker that had not: +(\w+)", output).group(1)
    assert connected in {"BrokenPipeError", "EOFError", "ConnectionResetError"}
    assert fresh in {"ConnectionRefusedError", "FileNotFoundError"}
    assert "recorded: {" in output
    assert outcome.reproduced
    assert_fixed(outcome)


def test_a_released_referent_is_not_the_reports_keyerror(start_method: str) -> None:
    output, outcome = run_pitfall("plot_10_not_this_keyerror.py", start_method)
    assert re.search(
        r"^KeyError -> your key was not found: KeyError\(<__main__\.User object at 0x",
        output,
        re.M,
    )
    assert re.search(
        r"^RemoteError -> a shared object was released: referent id '[0-9a-f]+'",
        output,
        re.M,
    )
    assert re.search(r"File \"managers\.py\", line \d+, in incref", output)
    assert "received proxy, after the sender dropped its own: ['q1']" in output
    assert outcome.reproduced
    assert_fixed(outcome)


def test_a_workers_loop_over_a_dict_proxy_fails_and_leaves_iterators_in_the_server(
    start_method: str,
) -> None:
    output, outcome = run_pitfall("plot_13_iterate_proxy_in_worker.py", start_method)
    assert (
        "in a worker, for key in shared: AttributeError: 'NoneType' object has no "
        "attribute '_registry'" in output
    )
    counts = re.search(
        r"objects in the server: (\d+) before, (\d+) after 2 attempts", output
    )
    assert counts and int(counts.group(2)) - int(counts.group(1)) == 2
    fixed = "objects in the server: 1 before, 1 after"
    assert f"in a worker, shared.keys(): ['alice', 'bob']; {fixed}" in output
    assert outcome.reproduced
    assert_fixed(outcome)


def test_an_unpicklable_put_returns_and_only_the_feeder_thread_knows(
    start_method: str,
) -> None:
    output, outcome = run_pitfall("plot_14_queue_put_unpicklable.py", start_method)
    unpicklable = "TypeError: cannot pickle '_thread.RLock' object"
    assert re.fullmatch(
        r"nothing after [\d.]+ s \(queue\.Empty\)",
        line_after("the consumer's get():", output),
    )
    assert line_after("in the worker:", output) == "put() returned; its exit code: 0"
    by_thread = re.findall(r"^  (\S+): (.+)$", output, re.M)
    assert by_thread == [
        ("QueueFeederThread", "Traceback (most recent call last):"),
        ("QueueFeederThread", unpicklable),
    ]
    assert line_after("pickled first, the consumer got:", output) == unpicklable
    assert line_after("with a SimpleQueue, the consumer got:", output) == (
        f"put() raised {unpicklable}"
    )
    # empty() and get_nowait() right after put(): how often varies, never above
    # the tries, and every item still arrives through a blocking get().
    counts = re.search(
        r"^right after put\(\): empty\(\) was True in (\d+) of (\d+) tries, "
        r"get_nowait\(\) raised queue\.Empty in (\d+) of (\d+)$",
        output,
        re.M,
    )
    assert counts, output
    said_empty, tries, said_nothing, tries_again = map(int, counts.groups())
    assert tries == tries_again > 0 and said_empty <= tries and said_nothing <= tries
    assert line_after("get(timeout=60) then received", output) == (
        f"{2 * tries} of {2 * tries} items"
    )
    assert line_after("while the item was being pickled:", output) == (
        "empty() True, get_nowait() raised queue.Empty;"
    )
    assert line_after("then get(timeout=60) returned", output) == "'pickled late'"
    assert line_after("SimpleQueue, right after put(): empty() was True in", output) == (
        f"0 of {tries} tries"
    )
    assert outcome.reproduced and outcome.reason is None
    assert_fixed(outcome)


def test_the_internals_page_records_each_kind_of_answer(start_method: str) -> None:
    result = run_script(
        ROOT / "examples/internals/plot_01_manager_messages.py", start_method
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert "server process: SyncManager-1" in output
    assert re.search(r"token: Token\(typeid='dict', address='.+', id='[0-9a-f]+'\)", output)
    assert re.search(r"sent +\('[0-9a-f]+', '__getitem__', \('alice',\), \{\}\)", output)
    assert "received ('#RETURN', ['q1'])" in output
    assert re.search(
        r"received \('#PROXY', \(\('__next__', .*Token\(typeid='Iterator'", output
    )
    assert "received ('#ERROR', KeyError('bob'))" in output
    assert "and the proxy raised: KeyError('bob')" in output
    assert "objects: 1 -> 2 after manager.list() -> 1 after del" in output
    assert "another proxy shares the connection: True" in output
    unpicklable = "TypeError: cannot pickle '_thread.lock' object"
    assert f"received ('#UNSERIALIZABLE', \"...{unpicklable}\")" in output
    assert f"and the proxy raised: RemoteError, ending {unpicklable}" in output
    assert re.search(r"manager\.dict\(\[1\]\) raised RemoteError, ending TypeError", output)
    child = re.search(r"the child's proxy, after the parent dropped its own: (.+)", output)
    if start_method == "spawn":  # rebuilt without incref, and no after-fork hook
        assert re.fullmatch(r"RemoteError, ending KeyError: '[0-9a-f]+'", child.group(1))
    else:
        assert child.group(1) == "works: ['q1']"
    assert re.search(
        r"a list's token, after its last proxy died: RemoteError, ending KeyError", output
    )
    assert "a lock's token, after its last proxy and its dict died: acquire() -> True" in (
        output
    )
    assert re.search(r"received \('#RETURN', <AcquirerProxy object, typeid 'Lock'", output)
