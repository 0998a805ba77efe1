"""The managers gallery, run as scripts under every start method, does as its pages say.

Timings the pages print are not asserted; counts and outcomes are.
"""

from __future__ import annotations

import re

from conftest import ROOT, line_after, run_example_ok

MANAGERS = ROOT / "examples" / "managers"


def run_ok(name: str, start_method: str) -> str:
    return run_example_ok(MANAGERS / name, start_method)


def test_a_registered_class_forwards_methods_only(start_method: str) -> None:
    output = run_ok("plot_01_register_a_class.py", start_method)
    assert line_after("proxy type:", output) == "AutoProxy[UserStore]"
    assert (
        line_after("forwarded methods:", output) == "['add', 'get_size', 'names', 'record']"
    )
    assert line_after("store.names():", output) == "['alice']"
    assert line_after("store.size:", output).startswith("AttributeError: ")
    assert line_after("store._check():", output).startswith("AttributeError: ")
    assert line_after('store._callmethod("_check"):', output).startswith(
        "RemoteError ending in "
    )
    copies, proxies = re.findall(
        r"^after add_query\(\) on it, the server has: (.*)$", output, re.M
    )
    assert (copies, proxies) == ("alice: 0 queries", "alice: 1 queries")
    assert line_after("type of store.record('alice'):", output) == "UserRecord"
    assert line_after("type of shared.record('alice'):", output) == "AutoProxy[UserRecord]"
    assert line_after("shared.size:", output) == "1"
    assert line_after("get_size, not in exposed:", output).startswith("RemoteError")
    in_worker = line_after("in a worker, shared.record('alice'):", output)
    assert in_worker.startswith("AttributeError: ") and "_registry" in in_worker
    assert line_after("in a worker, a proxy to the record itself:", output) == (
        "alice: 1 queries"
    )


def test_server_threads_run_increments_at_once_and_a_lock_fixes_it(
    start_method: str,
) -> None:
    output = run_ok("plot_02_custom_proxy.py", start_method)
    assert line_after("serving on", output) == "127.0.0.1"
    assert line_after("two increments, value:", output) == "1"
    plain = re.search(
        r"^expected 200, counted (\d+): lost (\d+) in this run$", output, re.M
    )
    assert plain and int(plain.group(1)) + int(plain.group(2)) == 200
    assert "with a lock in the counter: expected 200, counted 200" in output


def test_pool_waits_and_the_executor_breaks_then_recovers(start_method: str) -> None:
    output = run_ok("plot_03_pool_loses_a_worker.py", start_method)
    assert line_after("Pool.map_async(...).get(timeout):", output).endswith(
        "(TimeoutError)"
    )
    assert line_after("and the result is ready:", output) == "False"
    assert line_after("item 5:", output) == "BrokenProcessPool"
    split = re.search(r"^all items: (\d+) results, (\d+) BrokenProcessPool$", output, re.M)
    assert split and int(split.group(1)) + int(split.group(2)) == 8
    assert int(split.group(2)) >= 1
    assert line_after("submit after the break:", output) == "BrokenProcessPool"
    assert line_after("results after 2 pools:", output) == "[0, 1, 4, 9, 16, 25, 36, 49]"
    assert line_after("processes left running:", output) == "0"


def test_remote_errors_carry_the_server_traceback(start_method: str) -> None:
    output = run_ok("plot_04_remote_errors.py", start_method)
    assert line_after("take('pears') raised:", output) == "KeyError('pears')"
    frames = line_after("its traceback, in this process:", output).split(" -> ")
    assert frames[-1] == "_callmethod"
    assert line_after("lock_for('apples') raised:", output) == "RemoteError"
    assert line_after("its text ends with the server's error:", output).startswith(
        "TypeError: "
    )
    assert line_after("reserve raised OutOfStock in the server; here:", output) == (
        'TypeError("OutOfStock.__init__() missing 1 required positional argument: '
        "'left'\")"
    )
    assert line_after("with every argument passed on:", output) == (
        "Rebuildable('apples', 3) -> apples: only 3 left"
    )
    note = output.index("in the Manager's server:")
    assert "self._items[item] -= 1" in output[note:]
    assert re.search(r'File "managers\.py", line \d+, in serve_client', output)
    assert "/" not in "".join(re.findall(r'File "([^"]*)"', output))


def test_a_proxy_call_on_the_loop_stalls_it_and_a_thread_does_not(
    start_method: str,
) -> None:
    output = run_ok("plot_05_asyncio.py", start_method)
    assert line_after("gate.wait(1.0) on the loop returned", output) == "False"
    assert line_after("gate.wait(60) in a thread returned", output) == "True"
    during = [
        int(n)
        for n in re.findall(r"^heartbeat ticks during the call: (\d+);", output, re.M)
    ]
    assert len(during) == 2
    assert during[0] == 0 and during[1] >= 5


def test_two_programs_share_one_dict_and_each_mistake_fails_as_shown() -> None:
    output = run_ok("plot_06_two_programs.py", "spawn")
    expected = "[(2, 4), (3, 9), (4, 16)]"
    assert line_after("the reader saw:", output) == expected
    assert line_after("with callable=dict, the reader saw:", output) == "[]"
    assert line_after("without DictProxy:", output) == (
        "consume: TypeError: 'AutoProxy[get_results]' object does not support item "
        "assignment"
    )
    assert line_after("without DictProxy in the clients only:", output) == expected


def callers(text: str) -> list[tuple[int, str]]:
    """Each caller's wrong answers and ending error, from a race line of plot_07."""
    parsed = [
        re.fullmatch(r"\w+: (\d+) wrong(?:, then (.*))?", caller)
        for caller in text.split("; ")
    ]
    assert all(parsed), text
    return [(int(m.group(1)), m.group(2) or "") for m in parsed if m]


def test_a_piped_proxy_loses_its_key_and_an_os_fork_child_its_connection(
    start_method: str,
) -> None:
    output = run_ok("plot_07_proxy_outside_process_args.py", start_method)
    assert line_after("as a Process argument:", output) == "appended"
    assert line_after("through a pipe:", output) == (
        "loading it raised AuthenticationError: digest sent was rejected"
    )
    assert line_after("keys in a proxy pickled now:", output) == "[]"
    assert line_after("default key, through a pipe:", output) == "appended"
    assert line_after("own key set in the child, through a pipe:", output) == "appended"
    assert line_after("the shared lists:", output) == (
        "['pipe, default key'] ['argument', 'pipe, key set']"
    )
    untouched = [(0, ""), (0, "")]
    assert callers(line_after("two threads, 2000 calls each:", output)) == untouched
    forked = re.search(r"^os\.fork\(\), attempt (\d+): (.*)$", output, re.M)
    assert forked and 1 <= int(forked.group(1)) <= 20
    assert any(wrong or error for wrong, error in callers(forked.group(2))), forked
    assert callers(line_after("a Process of the start method:", output)) == untouched
    reconnected = line_after("os.fork(), then _connect() in the child:", output)
    assert callers(reconnected) == untouched
