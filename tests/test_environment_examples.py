"""Where the program runs: each page, run as a script under every start method,
shows what it says, and its producers give the error index's messages."""

from __future__ import annotations

import ast
import re
import sys

from conftest import ROOT, line_after, run_example_ok
from problems_page import load as load_problems

from mpguide.sphinxext.start_method_matrix import Outcome

PAGES = ROOT / "examples" / "environment"
FRESH_INTERPRETER = ("spawn", "forkserver")


def run_page(name: str, start_method: str) -> tuple[str, Outcome]:
    output = run_example_ok(PAGES / name, start_method)
    outcome = Outcome.parse(output, name)
    assert outcome.fixed and outcome.version_reason is None, outcome
    return output, outcome


def printed_dict(label: str, output: str) -> dict[str, str]:
    value = ast.literal_eval(line_after(label, output))
    assert isinstance(value, dict)
    return value


def test_a_long_tmpdir_breaks_the_manager_everywhere_and_every_start_under_forkserver(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_01_socket_path_too_long.py", start_method)
    too_long = "OSError: AF_UNIX path too long"
    long_run = printed_dict("TMPDIR of 80 characters:", output)
    if start_method == "forkserver":
        assert long_run == {"Process": too_long, "Pool": too_long, "Manager": too_long}
        assert line_after("a Manager on TCP, TMPDIR of 80 characters:", output) == too_long
    else:
        assert long_run == {"Process": "ok", "Pool": "ok", "Manager": too_long}
        assert line_after("a Manager on TCP, TMPDIR of 80 characters:", output) == "ok"
    assert line_after("the longest socket path bind() took:", output) == "107 characters"
    assert line_after("one more:", output) == f"{too_long}, errno None"
    assert outcome.reproduced


def test_a_fork_context_queue_is_refused_by_other_contexts_and_a_same_context_one_works(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_02_mixed_contexts.py", start_method)
    mixed = line_after(f"a fork-context queue, a {start_method} process:", output)
    if start_method in FRESH_INTERPRETER and sys.version_info >= (3, 11, 5):
        assert mixed.startswith(
            "RuntimeError: A SemLock created in a fork context is being shared with "
            "a process in a spawn context."
        )
    elif start_method in FRESH_INTERPRETER:  # no check before 3.11.5
        assert mixed.startswith("the child failed"), mixed
        assert line_after(f"a {start_method}-context lock's semaphore has a name:", output)
    else:
        assert mixed == "received 'hello', exit code 0"
    assert outcome.reproduced == (start_method in FRESH_INTERPRETER)
    assert outcome.reason is not None


def test_a_thread_pool_set_up_before_fork_never_runs_a_forked_workers_task(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_03_state_before_fork.py", start_method)
    results = ast.literal_eval(line_after("the workers' results:", output))
    if start_method == "fork":
        assert results == ["no result after 2.0 s"] * 4
    else:
        assert results == [0, 1, 4, 9]
    per_worker = ast.literal_eval(line_after("a client made in each worker:", output))
    assert per_worker == [0, 1, 4, 9]
    assert outcome.reproduced == (start_method == "fork")
    assert outcome.reason is not None


def test_pool_counts_the_machines_cpus_before_3_13_and_the_usable_ones_from_3_13(
    start_method: str,
) -> None:
    name = "plot_04_cpu_count.py"
    output = run_example_ok(PAGES / name, start_method)
    outcome = Outcome.parse(output, name)
    machine = int(line_after("this machine:", output).split()[0])
    pinned = {
        label: value for label, value in re.findall(r"^  (.+?): (\S+)$", output, re.M)
    }
    assert pinned["os.cpu_count()"] == str(machine)
    assert pinned["len(os.sched_getaffinity(0))"] == "1"
    counts_process = sys.version_info >= (3, 13)
    started = "1" if counts_process else str(machine)
    assert pinned["Pool() workers"] == pinned["ProcessPoolExecutor() workers"] == started
    assert pinned["Pool(usable_cpus()) workers"] == "1"
    assert pinned["os.process_cpu_count()"] == ("1" if counts_process else "absent")
    option = line_after(
        "python -X cpu_count=1: os.cpu_count(), os.process_cpu_count():", output
    )
    assert option == ("1 1" if counts_process else f"{machine} absent")
    assert outcome.reproduced == (machine > 1 and not counts_process)
    assert outcome.fixed and outcome.reason is None
    assert (outcome.version_reason is not None) == (machine > 1)


def printed_block(label: str, output: str) -> dict[str, str]:
    """The indented ``key: value`` lines printed under the line ``label``."""
    lines = output.splitlines()
    assert label in lines, f"no line {label!r} in:\n{output}"
    block = {}
    for line in lines[lines.index(label) + 1 :]:
        if not line.startswith("  "):
            break
        key, _, value = line.strip().partition(": ")
        block[key] = value
    return block


def test_a_frozen_application_starts_copies_of_itself_unless_freeze_support_runs_first(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_05_frozen_app_restarts.py", start_method)
    unfixed = printed_block("frozen, no freeze_support() call:", output)
    bare = printed_block("frozen without a runtime hook, freeze_support() called:", output)
    fixed = printed_block("frozen, freeze_support() called first:", output)
    if start_method in FRESH_INTERPRETER:
        # two copies per copy that starts a process, for three generations
        assert unfixed["copies by generation"] == "[1, 2, 4]"
        assert unfixed["tasks run"] == "0"
        helper = "a spawned child" if start_method == "spawn" else "the forkserver"
        started_as = ast.literal_eval(unfixed["started as"])
        assert started_as == {"the application": 1, "the resource tracker": 3, helper: 3}
        if sys.version_info < (3, 13, 4):  # freeze_support() acts only on Windows
            assert bare["copies by generation"] == "[1, 2, 4]"
    else:
        assert unfixed == bare == fixed
    assert fixed["copies by generation"] == "[1, 0, 0]"
    assert fixed["tasks run"] == "1"
    assert outcome.reproduced == (start_method in FRESH_INTERPRETER)
    assert outcome.reason is not None


def test_a_host_application_starts_itself_until_set_executable_names_python(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_06_embedded_sys_executable.py", start_method)
    unfixed = printed_block("the plugin as written:", output)
    fixed = printed_block("the plugin with set_executable:", output)
    assert unfixed["sys.executable of the spawn code"] == "host"
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert fixed["sys.executable of the spawn code"] == python
    if start_method in FRESH_INTERPRETER:
        modules = ast.literal_eval(unfixed["modules those command lines run"])
        helper = f"multiprocessing.{start_method}"
        assert modules == sorted([helper, "multiprocessing.resource_tracker"])
        assert unfixed["tasks run"] == "0"
        ended = "exit code 0" if start_method == "spawn" else "start() raised EOFError"
        assert unfixed["the child"] == ended
    else:
        assert unfixed["the host opened again with"] == "[]"
        assert unfixed["tasks run"] == "1"
    assert fixed["the host opened again with"] == "[]"
    assert fixed["tasks run"] == "1"
    imports = line_after("with sys.executable None, multiprocessing.spawn imports:", output)
    assert imports == str(sys.version_info >= (3, 11, 5))
    assert outcome.reproduced == (start_method in FRESH_INTERPRETER)
    assert outcome.reason is not None


def test_main_without_spec_fails_spawn_and_forkserver_and_pdb_until_its_fix(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_07_main_without_spec.py", start_method)
    unfixed = printed_block("the program as written:", output)
    fixed = printed_block("with __spec__ set when missing:", output)
    ok = "ok, exit code 0"
    if start_method in FRESH_INTERPRETER:
        caller = (
            "popen_spawn_posix.py" if start_method == "spawn" else "popen_forkserver.py"
        )
        error = (
            "AttributeError: module '__main__' has no attribute '__spec__' "
            f"(in spawn.py get_preparation_data < {caller} _launch)"
        )
        pdb_sets_spec = sys.version_info >= {11: (3, 11, 9), 12: (3, 12, 3)}.get(
            sys.version_info.minor, (3, 13)
        )
        expected = {
            "python program.py": ok,
            "python -m pdb -c continue program.py": ok if pdb_sets_spec else error,
            "python runner.py program.py": error,
        }
    else:
        expected = dict.fromkeys(
            [
                "python program.py",
                "python -m pdb -c continue program.py",
                "python runner.py program.py",
            ],
            ok,
        )
    assert unfixed == expected
    assert fixed == dict.fromkeys(expected, ok)
    assert outcome.reproduced == (start_method in FRESH_INTERPRETER)
    assert outcome.reason is not None


def test_breakpoint_in_a_child_reads_end_of_file_and_a_debugger_on_a_socket_stops(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_08_debugger_in_children.py", start_method)
    runs = {
        where: printed_dict(f"breakpoint() in the {where}:", output)
        for where in ("main process", "Process", "Pool")
    }
    typed = repr("p y\nc\n")
    assert runs["main process"]["answered p y"] is True
    assert runs["main process"]["outcome"] == "result 41"
    assert runs["main process"]["unread input"] == repr("")
    for where in ("Process", "Pool"):
        assert runs[where]["debugger prompts"] == 1, runs
        assert runs[where]["answered p y"] is False, runs
        assert runs[where]["unread input"] == typed, runs
    assert runs["Process"]["outcome"] == "exit code 1"
    assert runs["Process"]["traceback ends with"] == "bdb.BdbQuit"
    assert runs["Pool"]["outcome"] == "pool.map raised BdbQuit"
    session = output.split("the session on the socket:\n", 1)[1]
    assert re.search(r"^\(Pdb\) 40$", session, re.M), session
    assert line_after("the program:", output) == "result [41]"
    assert line_after("PYTHONBREAKPOINT=0, breakpoint() in the Pool:", output) == (
        "result [41]"
    )
    assert outcome.reproduced and outcome.reason is None


def test_a_spawned_workers_print_misses_an_ides_window_and_returned_lines_reach_it(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_09_ide_child_output.py", start_method)
    workers = [f"worker {x}: working" for x in range(4)]

    def lines(label: str) -> list[str]:
        value = ast.literal_eval(line_after(label, output))
        assert isinstance(value, list)
        return value

    def workers_in(found: list[str]) -> list[str]:
        return sorted(re.findall(r"worker \d+: working", "\n".join(found)))

    forked = start_method == "fork"
    assert workers_in(lines("nothing fixed, the window shows:")) == (
        workers if forked else []
    )
    on_fd_1 = workers_in(lines("nothing fixed, file descriptor 1 got:"))
    assert on_fd_1 == ([] if forked else workers)
    for fix in ("the lines returned", "logged through a queue"):
        assert workers_in(lines(f"{fix}, the window shows:")) == workers
        assert lines(f"{fix}, file descriptor 1 got:") == []
    assert outcome.reproduced == (not forked)
    assert outcome.reason is not None


def test_coverage_misses_a_workers_lines_until_concurrency_is_multiprocessing(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_10_coverage_in_workers.py", start_method)
    body = ast.literal_eval(line_after("the lines of square's body:", output))
    assert isinstance(body, list) and len(body) == 2

    def missed(label: str) -> object:
        return ast.literal_eval(line_after(f"{label}: missed lines", output))

    assert missed("coverage run, no settings") == body
    assert missed("pool closed and joined, no settings") == body
    assert missed("patch = _exit") == ([] if start_method == "fork" else body)
    assert missed("concurrency = multiprocessing, pool joined") == []
    assert outcome.reproduced and outcome.reason is None


def test_django_in_spawned_and_forkserver_workers_needs_setup_and_fork_inherits_it(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_11_django_apps_in_workers.py", start_method)
    (reported,) = [
        p["message"]
        for p in load_problems()
        if p["id"] == "django-apps-not-loaded-in-worker"
    ]
    fresh = start_method in FRESH_INTERPRETER
    tasks = ("import a models module", "unpickle a model instance", "a query")

    def worker_got(label: str) -> dict[str, str]:
        lines = output.splitlines()
        start = lines.index(label) + 1
        return dict(line.strip().split(": ", 1) for line in lines[start : start + 3])

    manage_py = worker_got("set up the manage.py way, the worker got:")
    configured = worker_got("set up the settings.configure() way, the worker got:")
    assert list(manage_py) == list(configured) == list(tasks)
    if fresh:
        models = "django.core.exceptions.AppRegistryNotReady: Models aren't loaded yet."
        assert manage_py == {tasks[0]: reported, tasks[1]: models, tasks[2]: reported}
        no_settings = "django.core.exceptions.ImproperlyConfigured: Requested setting"
        assert configured[tasks[0]].startswith(no_settings)
        assert configured[tasks[2]].startswith(no_settings)
        assert configured[tasks[1]] == models
    else:
        assert set(manage_py.values()) == set(configured.values()) == {"ok"}
    for fixed in (
        "set up the manage.py way, and in an initializer:",
        "set up the settings.configure() way, and in an initializer:",
        "set up at import:",
    ):
        assert worker_got(fixed) == dict.fromkeys(tasks, "ok")
    assert outcome.reproduced == fresh
    assert outcome.reason is not None
