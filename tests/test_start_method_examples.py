"""The "moving off fork" pages, run as scripts under every start method, do what they say.

Each page shows the break under an explicit ``fork`` context and the fix under
a fresh-interpreter one in the same run, so its outcome is the same under every
start method; the tests check that, and the version-dependent parts by version.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, line_after, run_example_ok

from mpguide.sphinxext.start_method_matrix import Outcome

PAGES = ROOT / "examples" / "start_methods"
FRESH_INTERPRETER = ("spawn", "forkserver")


def run_page(name: str, start_method: str) -> tuple[str, Outcome | None]:
    output = run_example_ok(PAGES / name, start_method)
    outcome = None
    if "failure reproduced:" in output:
        outcome = Outcome.parse(output, name)
        assert outcome.reproduced and outcome.fixed, outcome
    return output, outcome


def test_run_time_state_reaches_fork_workers_only(start_method: str) -> None:
    output, _ = run_page("plot_01_runtime_state.py", start_method)
    assert re.search(
        r"a fork worker: \{'mode': 'production', 'plugins': \['audit'\], "
        r"'greet\(\)': 'patched', 'log handlers': 1, "
        r"'imported in this process': False\}",
        output,
    )
    for fresh in FRESH_INTERPRETER:
        assert (
            f"a {fresh} worker: {{'mode': 'default', 'plugins': [], 'greet()': 'hello', "
            "'log handlers': 0, 'imported in this process': True}" in output
        )
    fixed = re.search(rf"a {start_method} worker, with an initializer: (.*)", output)
    assert fixed and "'mode': 'production', 'plugins': ['audit']" in fixed.group(1)
    assert "'log handlers': 1" in fixed.group(1)
    patched = "'greet()': 'patched'" in fixed.group(1)
    assert patched == (start_method == "fork")  # code reaches a fresh one by import only


def test_targets_that_fork_copies_must_pickle_elsewhere(start_method: str) -> None:
    output, outcome = run_page("plot_02_must_pickle.py", start_method)
    assert outcome and outcome.reproduced_detail.startswith("9 of 9")
    blocks = re.findall(r"^(.+):\n    fork: (.*)\n    spawn: (.*)$", output, re.M)
    assert len(blocks) == 9
    for name, under_fork, under_spawn in blocks:
        assert under_fork == "ran", name
        assert re.search(r"pickle|Can't get local object", under_spawn), (name, under_spawn)
    assert output.count(f"under {start_method}: ran") == 7
    decorated = dict((name, spawn) for name, _, spawn in blocks)
    assert (
        "it's not the same object as __main__.report"
        in decorated["a decorated function under another name"]
    )
    assert (
        "it's not the same object as __main__.Point"
        in decorated["an object of a class defined again"]
    )
    pool_line = re.search(r"^a lambda sent to a fork Pool: (.*)$", output, re.M).group(1)
    assert "pickle" in pool_line and "lambda" in pool_line, pool_line


def test_fork_with_a_thread_holding_a_lock_warns_from_3_12(start_method: str) -> None:
    output, _ = run_page("plot_03_fork_with_threads.py", start_method)
    assert "fork: child exit code 3" in output
    warning = (
        "DeprecationWarning: This process (pid=<pid>) is multi-threaded, "
        "use of fork() may lead to deadlocks in the child."
    )
    fork_warnings = re.search(r"^fork: warnings: (.*)$", output, re.M).group(1)
    if sys.version_info >= (3, 12):
        assert fork_warnings == repr([warning])
    else:
        assert fork_warnings == "none"
    fix_method = start_method if start_method != "fork" else "forkserver"
    assert f"{fix_method}: child exit code 0" in output
    assert f"{fix_method}: warnings: none" in output


FORK_WHILE_A_THREAD_RUNS = """
import multiprocessing, threading

def nothing():
    pass

if __name__ == "__main__":
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, args=(30,))
    thread.start()
    child = multiprocessing.get_context("fork").Process(target=nothing)
    child.start()
    child.join(30)
    stop.set()
    thread.join()
"""


@pytest.mark.parametrize("flags", [[], ["-X", "dev"]])
def test_the_fork_warning_is_shown_only_when_warnings_are_enabled(
    tmp_path: Path, flags: list[str]
) -> None:
    program = tmp_path / "fork_with_thread.py"
    program.write_text(FORK_WHILE_A_THREAD_RUNS)
    done = subprocess.run(
        [sys.executable, *flags, str(program)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    shown = "is multi-threaded, use of fork() may lead to deadlocks" in done.stderr
    assert shown == (bool(flags) and sys.version_info >= (3, 12)), done.stderr
    if shown:
        assert "popen_fork.py" in done.stderr  # attributed to multiprocessing, not to us


def test_set_start_method_conflicts_and_contexts(start_method: str) -> None:
    output, _ = run_page("plot_04_choosing.py", start_method)
    already = "RuntimeError: context has already been set"
    assert f"a library set it at import: {already}" in output
    assert f"asked before setting: {already}" in output
    assert "method after the import: spawn\na worker sees mode: default" in output
    process_class = {
        "fork": "ForkProcess",
        "spawn": "SpawnProcess",
        "forkserver": "ForkServerProcess",
    }[start_method]
    assert f"context.Pool worker: {process_class}" in output
    assert f"ProcessPoolExecutor(mp_context=context) worker: {process_class}" in output
    assert "context.Manager() and SyncManager(ctx=context) work: True" in output
    # Starting a fresh-interpreter process fills in the global default (fork,
    # Linux's before 3.14); fork leaves it unset.
    after = "None" if start_method == "fork" else "fork"
    assert f"the global setting before and after: None -> {after}" in output


def test_python_m_package_needs_its_workers_in_a_module(start_method: str) -> None:
    output, _ = run_page("plot_05_python_m_package.py", start_method)
    assert "python -m app fork: the worker ran / worker exit code: 0" in output
    assert re.search(
        r"python -m app forkserver: worker exit code: 1 / worker failed: "
        r"AttributeError: Can't get attribute 'work' on <module '__main__'",
        output,
    )
    for each in {start_method, "forkserver"}:
        assert f"python -m fixed_app {each}: the worker ran / worker exit code: 0" in output


def test_start_cost_counts_where_the_main_script_runs(start_method: str) -> None:
    output = run_example_ok(PAGES / "plot_06_start_cost.py", start_method)
    version = sys.version_info[:3]
    # The forkserver runs the script itself from 3.13.8 and 3.14.1 (GH-135295),
    # and gets the parent's sys.path from 3.12.8 and 3.13.1 (gh-117378).
    main_preloaded = (3, 13, 8) <= version < (3, 14) or version >= (3, 14, 1)
    sys_path_sent = (3, 12, 8) <= version < (3, 13) or version >= (3, 13, 1)
    in_children = "0 times" if main_preloaded else "3 times"
    in_server = "once" if main_preloaded else "0 times"
    per_child = {}
    for method, script, slowlib in [
        ("fork", "0 times", "0 times"),
        ("spawn", "3 times", "3 times"),
        ("forkserver", in_children, in_children),
        ("forkserver, preload ['__main__', 'slowlib']", in_children, "0 times"),
    ]:
        line = line_after(f"{method}:", output)
        match = re.fullmatch(
            r"(\d+\.\d) ms per child \((\d+\.\d)x fork\); in 3 children the script "
            rf"ran {script}, slowlib {slowlib}",
            line,
        )
        assert match, line
        per_child[method] = float(match.group(1))
    assert per_child["spawn"] >= 100 and per_child["forkserver"] >= 100 * (
        not main_preloaded
    )
    assert line_after("forkserver, in the server:", output) == (
        f"the script ran {in_server}, slowlib {in_server}"
    )
    assert line_after("forkserver, preloaded, in the server:", output) == (
        f"the script ran {in_server}, slowlib once"
    )
    assert line_after("Pool(2), 6 tasks, under spawn:", output) == "the script ran 2 times"
    found = sys_path_sent or main_preloaded
    assert line_after("the same, run from another directory:", output) == (
        "slowlib ran once in the server, 0 times in the first child"
        if found
        else "slowlib ran 0 times in the server, once in the first child"
    )
    # What spawn, Windows' only method, costs every worker, and the import that
    # the main guard keeps out of them (the WinError 1455 section).
    assert line_after("spawn, import under the main guard:", output) == (
        "in 3 children the script ran 3 times, slowlib 0 times"
    )
    outcome = Outcome.parse(output, "plot_06_start_cost.py")
    assert outcome.reproduced == (not main_preloaded)
    assert outcome.fixed
    assert outcome.fixed_detail == (
        "with set_forkserver_preload, slowlib ran once in the server, 0 times in 3 children"
    )
    assert outcome.reason is None and outcome.version_reason is None


def test_a_method_as_target_sends_its_object_and_each_held_resource_fails_its_way(
    start_method: str,
) -> None:
    output, _ = run_page("plot_07_bound_method_target.py", start_method)
    rlock = "TypeError: cannot pickle '_thread.RLock' object"
    assert line_after("holding a logging handler: Pool.map:", output) == rlock
    assert line_after("holding a Manager: Pool.map:", output) == (
        "TypeError: Pickling an AuthenticationString object is disallowed for security "
        "reasons"
    )
    in_process = line_after("holding a Manager: Process:", output)
    if start_method == "fork":
        assert in_process == "exit code 0"
        assert line_after("holding a logging handler: Process:", output) == "exit code 0"
    else:
        assert in_process == "TypeError: cannot pickle 'weakref.ReferenceType' object"
        assert line_after("holding a logging handler: Process:", output) == rlock
    assert ("fork warned that the process has threads" in output) == (
        start_method == "fork" and sys.version_info >= (3, 12)
    )
    assert line_after("a function and the factor:", output) == (
        "Process: exit code 0; Pool.starmap: [2, 4]"
    )


def test_a_deeply_linked_argument_exceeds_the_picklers_recursion_limit(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_08_deep_object_recursion.py", start_method)
    too_deep = re.compile(
        r"RecursionError: maximum recursion depth exceeded while "
        r"(pickling an object|calling a Python object)"
    )
    assert too_deep.fullmatch(line_after("a Pool task, 20000 nodes:", output))
    in_process = line_after("a Process argument, 20000 nodes:", output)
    if start_method in FRESH_INTERPRETER:
        assert in_process.startswith("start() raised ")
        assert too_deep.fullmatch(in_process.removeprefix("start() raised "))
    else:
        assert in_process == "20000 nodes"
    deepest = re.search(r"the longest chain that pickles has (\d+) nodes", output)
    raised = re.search(r"with the limit raised to 3000: (\d+) nodes", output)
    assert deepest and raised and 0 < int(deepest.group(1)) < 20000
    crash = line_after("100000 nodes, recursion limit 1000000:", output)
    if sys.version_info < (3, 12):  # the interpreter's limit, which can pass the C stack
        assert int(raised.group(1)) > 2 * int(deepest.group(1))
        assert crash == "killed by SIGSEGV"
    else:  # a C recursion limit that setrecursionlimit does not move
        assert raised.group(1) == deepest.group(1)
        assert crash == "RecursionError"
    assert line_after("FlatNode, a Pool task, 20000 nodes:", output) == "20000 nodes"
    assert line_after("FlatNode, a Process argument, 20000 nodes:", output) == (
        "20000 nodes"
    )
    assert outcome and outcome.reason is None
