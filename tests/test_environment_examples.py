"""Where the program runs: each page, run as a script under every start method,
shows what it says, and its producers give the error index's messages."""

from __future__ import annotations

import ast
import re
import sys

from conftest import ROOT, line_after, run_example_ok

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
