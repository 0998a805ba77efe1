"""The pools gallery's failure pages, run as scripts under every start method, do
what they say.

Timings the pages print are not asserted; what ended, what was left running,
which error arrived, and the outcome lines are.
"""

from __future__ import annotations

import ast
import re
import signal
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, line_after, run_example_ok
from problems_page import load as load_problems

from mpguide.sphinxext.start_method_matrix import Outcome

POOLS = ROOT / "examples" / "pools"
HELPERS = {
    "fork": "main program, 2 workers",
    "spawn": "main program, resource tracker, 2 workers",
    "forkserver": "forkserver, main program, resource tracker, 2 workers",
}


def value_of(label: str, output: str) -> str:
    """The rest of the (possibly indented) line that starts with ``label``."""
    match = re.search(rf"^\s*{re.escape(label)}\s*(.*)$", output, re.M)
    assert match, f"no line starting with {label!r} in:\n{output}"
    return match.group(1)


def run_page(name: str, start_method: str) -> tuple[str, Outcome]:
    output = run_example_ok(POOLS / name, start_method)
    return output, Outcome.parse(output, name)


def program_reports(output: str) -> dict[str, dict[str, str]]:
    """Each program's block of ``  label: value`` lines, by program name."""
    reports = {}
    for name, block in re.findall(r"^(\w+):\n((?:  .*\n?)+)", output, re.M):
        lines = [line.strip() for line in block.splitlines()]
        facts = dict(line.split(": ", 1) for line in lines if ": " in line)
        facts["end"] = next(
            line for line in lines if line.startswith(("exited", "still running"))
        )
        reports[name] = facts
    return reports


def test_ctrl_c_stops_a_pool_not_an_executor_and_the_fixes_stop_both(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_01_ctrl_c.py", start_method)
    reports = program_reports(output)
    assert set(reports) == {
        "pool_plain",
        "executor_plain",
        "executor_ignoring",
        "pool_blocking",
        "pool_fixed",
        "executor_fixed",
    }
    for facts in reports.values():
        assert facts["processes before Ctrl-C"] == HELPERS[start_method]
    running = "still running at the end of the wait"
    executor = reports["executor_plain"]
    assert executor["end"] == running
    assert executor["parent's traceback"] == "none yet"
    assert executor["worker tracebacks"] == "0"
    assert 1 <= int(executor["tasks started after Ctrl-C"]) <= 3
    assert executor["processes left then"] == HELPERS[start_method]
    ignoring = reports["executor_ignoring"]
    assert ignoring["end"] == running
    assert ignoring["tasks started after Ctrl-C"] == "0"
    blocking = reports["pool_blocking"]
    assert blocking["end"] == running and blocking["parent's traceback"] == "none yet"
    for name, waited_in in (
        ("pool_fixed", "result.wait(0.2)"),
        ("executor_fixed", "while wait(futures, timeout=0.2).not_done:"),
    ):
        fixed = reports[name]
        assert fixed["end"].startswith("exited"), fixed
        assert fixed["parent's traceback"] == f"KeyboardInterrupt in {waited_in}"
        assert fixed["worker tracebacks"] == "0"
        assert fixed["processes left then"] == "none"
    plain = reports["pool_plain"]  # usually ends; now and then Ctrl-C is missed
    if plain["end"].startswith("exited"):
        assert plain["processes left then"] == "none"
        assert plain["parent's traceback"] == (
            "KeyboardInterrupt in pool.map(slow_square, range(8), chunksize=1)"
        )
    else:
        assert plain["parent's traceback"] == "none yet"
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None
    assert line_after("Ctrl-C sent to", output) == "6 programs, each with 2 tasks running;"


def test_an_unpicklable_exception_kills_the_pool_and_breaks_the_executor(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_02_unpicklable_exception.py", start_method)
    missing = (
        "TypeError: QueryError.__init__() missing 1 required positional argument: 'code'"
    )
    assert line_after("pickle.loads(pickle.dumps(error)):", output) == missing
    assert line_after("pool threads before:", output) == (
        "_handle_workers, _handle_tasks, _handle_results"
    )
    assert line_after("map_async(...).get(timeout=1):", output) == "TimeoutError"
    assert line_after("pool threads after:", output) == "_handle_workers, _handle_tasks"
    assert line_after("abs(-1) submitted afterwards, ready after 0.5 s:", output) == "False"
    assert re.fullmatch(
        r"AssertionError: Cannot have cache with result_handl?er not alive",
        line_after("terminate():", output),
    )
    assert re.fullmatch(
        r"Exception in thread Thread-\d+ \(_handle_results\)",
        line_after("on stderr:", output),
    )
    assert value_of("ending:", output) == missing
    assert line_after("program exit status:", output) == "0"
    assert line_after("future.result(): BrokenProcessPool:", output).startswith(
        "A process in the process pool was terminated abruptly"
    )
    assert line_after("its __cause__ ends:", output) == missing
    assert line_after("submit() afterwards: BrokenProcessPool:", output).startswith(
        "A child process terminated abruptly"
    )
    assert line_after("processes left running:", output) == "0"
    arrived = re.findall(
        r"^(Pool|executor), (QueryErrorWith\w+): query 'SELECT 1' failed with code 42; "
        r"query='SELECT 1', code=42; __cause__: (_?RemoteTraceback)$",
        output,
        re.M,
    )
    assert sorted(arrived) == [
        ("Pool", "QueryErrorWithArgs", "RemoteTraceback"),
        ("Pool", "QueryErrorWithReduce", "RemoteTraceback"),
        ("executor", "QueryErrorWithArgs", "_RemoteTraceback"),
        ("executor", "QueryErrorWithReduce", "_RemoteTraceback"),
    ]
    assert outcome.reproduced and outcome.fixed
    assert outcome.fixed_detail.startswith("4 of 4")
    assert outcome.reason is None and outcome.version_reason is None


def test_lost_exceptions_are_found_by_the_fixes(start_method: str) -> None:
    output, outcome = run_page("plot_03_lost_exceptions.py", start_method)
    assert "Pool: apply_async without get(): the program went on" in output
    assert "executor: submit without result(): the program went on" in output
    assert line_after("stderr before the Process:", output) == "nothing"
    assert line_after("Process: the parent sees exitcode", output) == "1"
    header, last = ast.literal_eval(line_after("stderr from the Process:", output))
    assert re.fullmatch(r"Process \w+Process-\d+:", header) and last == (
        "LookupError: no user 3"
    )
    assert line_after("callback save: its result ready:", output) == (
        "False, the next task's: False"
    )
    assert line_after("callback add_to_total: its result ready:", output) == (
        "False, the next task's: True"
    )
    assert re.search(
        r"terminate\(\): AssertionError: Cannot have cache with result_handl?er", output
    )
    assert output.count("terminate(): returned") == 1
    assert re.fullmatch(
        r"\['Exception in thread Thread-\d+ \(_handle_results\):', "
        r"'RuntimeError: cannot save 9'\]",
        line_after("on stderr:", output),
    )
    assert (
        line_after("error_callback received:", output) == "[\"LookupError('no user 3')\"]"
    )
    assert line_after("gather:", output) == (
        "ExceptionGroup: 1 of 5 tasks failed: (LookupError('no user 3'),)"
    )
    assert value_of("note:", output) == "['raised by load_user(3)']"
    assert line_after("run_in_process(load_user, 3) raised:", output) == (
        "LookupError('no user 3')"
    )
    assert value_of("its note ends:", output) == "LookupError: no user 3"
    assert line_after("guarded callbacks: results", output) == (
        "[3, 4] and the next task's: 5"
    )
    assert value_of("kept:", output) == (
        "[\"KeyError('alice')\", \"RuntimeError('cannot save 3')\"]"
    )
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None


def test_a_with_block_terminates_the_pool_and_its_pending_results(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_06_with_pool_terminates.py", start_method)
    squares = "[1, 4, 9, 16]"
    assert line_after("get() after the with block:", output) == (
        "multiprocessing.context.TimeoutError"
    )
    assert line_after("the task was done:", output) == "False"
    assert line_after("the pool used again:", output) == "ValueError: Pool not running"
    assert line_after("an executor's results after its with block:", output) == squares
    assert line_after("a pool never closed:", output).startswith(
        f"{squares} and ['unclosed running multiprocessing pool <multiprocessing.pool.Pool "
        "state=RUN pool_size=1>']"
    )
    assert line_after("its workers left running:", output) == "0"
    assert line_after("get() inside the block:", output) == squares
    assert line_after("close() and join() before the block ends:", output) == squares
    assert outcome.reproduced and outcome.fixed


def pid_is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not ended, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_terminate_leaves_the_workers_children_and_both_fixes_stop_them(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_10_terminate_leaves_grandchildren.py", start_method)
    assert line_after("the worker's exit code after terminate():", output) == "-15"
    pids = line_after("the program and the helper, by pid:", output).split(", ")
    assert len(pids) == 2 and all(pid.isdigit() for pid in pids)
    assert line_after("still running 1 s later:", output).split(", ") == pids
    assert line_after("the worker's sentinel ready within 2 s:", output) == str(
        start_method != "fork"  # a forked helper holds the sentinel pipe open
    )
    assert line_after("still running after the clean-up:", output) == "none"
    assert not [pid for pid in pids if pid_is_running(int(pid))]
    assert line_after("stopped on SIGTERM:", output) == (
        "the worker's exit code 143, sentinel ready: True, children still running: none"
    )
    assert line_after("stopped as a group:", output) == (
        "the worker's exit code -15, sentinel ready: True, children still running: none"
    )
    assert outcome.reproduced and outcome.fixed and outcome.reason is None


def test_kept_pools_run_out_of_descriptors_closed_or_not_and_the_fixes_do_not(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_07_too_many_open_files.py", start_method)
    for workers in (1, 2, 4):
        held = 6 + 2 * workers
        assert line_after(f"a pool of {workers}:", output) == (
            f"{held} descriptors running, {held} after close() and join(), 0 once dropped"
        )
    too_many = "OSError: [Errno 24] Too many open files"
    kept = re.search(r"^pools kept, a limit of \d+ open files: (.*)$", output, re.M)
    assert kept and kept.group(1) == f"3 of 12 iterations, then {too_many}"
    assert line_after("closed and joined but kept:", output) == (
        f"3 of 12 iterations, then {too_many}"
    )
    for mode in ("with block, results kept:", "one pool reused:"):
        assert re.fullmatch(
            r"12 of 12 iterations, \d+ descriptors open at the end, error: none",
            line_after(mode, output),
        )
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None


def test_children_outlive_a_killed_parent_and_a_sentinel_watch_ends_them(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_08_orphan_workers.py", start_method)
    processes = "Process, daemonic Process"
    left = {
        "fork": f"Pool worker, Pool worker, {processes}",
        "spawn": f"{processes}, resource tracker",
        "forkserver": f"{processes}, forkserver, resource tracker",
    }[start_method]
    assert line_after("started:", output) == f"Pool worker, Pool worker, {processes}"
    assert line_after("running after the parent's SIGKILL:", output) == left
    assert line_after("a Pool alone, running after the parent's SIGKILL:", output) == "none"
    for fix in ("parent-death signal", "getppid() polled"):
        assert line_after(f"with {fix}, running after the SIGKILL:", output) == (
            left if start_method == "forkserver" else "none"
        )
    assert line_after("with parent sentinel, running after the SIGKILL:", output) == "none"
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None


def test_a_raising_initializer_restarts_pool_workers_and_breaks_the_executor(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_11_initializer_fails.py", start_method)
    workers = 2
    started = int(line_after("workers started:", output))
    assert started >= 4 * workers
    assert line_after("map finished:", output) == "False"
    tracebacks = re.fullmatch(
        r"(\d+) of workers ([\d, ]+)", line_after("tracebacks on stderr:", output)
    )
    assert tracebacks, output
    died = [int(number) for number in tracebacks[2].split(", ")]
    assert int(tracebacks[1]) == len(died) == len(set(died))
    # a replacement starts only once a worker has exited: never more than 2 alive
    assert len(died) >= started - workers
    refused = "ConnectionRefusedError: the database at db:5432 refused the connection"
    assert value_of("each ending:", output) == refused
    broken_pool = "concurrent.futures.process.BrokenProcessPool"
    assert line_after("result():", output) == (
        f"{broken_pool}: A process in the process pool was terminated abruptly "
        "while the future was running or pending."
    )
    assert line_after("submit():", output) == (
        f"{broken_pool}: A child process terminated abruptly, the process pool is "
        "not usable anymore"
    )
    logged = line_after("times 'Exception in initializer:' was logged on stderr:", output)
    assert 1 <= int(logged) <= workers
    assert line_after("map with the recording initializer raised:", output) == refused
    assert line_after("its workers alive after it:", output) == "2 of 2"
    assert line_after("checked before the pool:", output) == refused
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None


def test_an_executor_runs_every_task_at_its_end_and_a_stuck_one_hangs_it(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_13_executor_shutdown_waits.py", start_method)
    tasks, most_started = 10, 2 * 2 + 1  # two workers, a call queue of three
    assert re.fullmatch(
        r"\d+ of 10", line_after("tasks finished when the error was raised:", output)
    )
    assert line_after("after the error left the block:", output) == "10 ran, 0 cancelled"
    assert re.fullmatch(
        r"[\d.]+ task lengths", line_after("leaving the block took", output)
    )
    for ending in ("no shutdown():", "shutdown(wait=False):"):
        assert line_after(ending, output) == (
            f"{tasks} of {tasks} tasks ran before the program exited"
        )
    cancelled_end = re.fullmatch(
        r"(\d+) of 10 tasks ran before the program exited",
        line_after("shutdown(wait=False, cancel):", output),
    )
    assert cancelled_end and int(cancelled_end[1]) <= most_started
    stuck = dict(re.findall(r"^(a stuck task, .*):\n((?:  .*\n)+)", output, re.M))
    broken = (
        "  once its worker was terminated: the stuck task ended with: BrokenProcessPool"
    )
    for ending, main_ended in (
        ("with block", False),
        ("shutdown(wait=False, cancel)", True),
    ):
        assert stuck[f"a stuck task, {ending}"].splitlines() == [
            "  still running after 2.0 s: True",
            f"  its main program had ended: {main_ended}",
            broken,
        ]
    cancelling = re.fullmatch(
        r"(\d+) ran, (\d+) cancelled, leaving took [\d.]+ task lengths",
        line_after("cancelling on the error:", output),
    )
    assert cancelling, output
    ran, cancelled = int(cancelling[1]), int(cancelling[2])
    assert ran <= most_started and ran + cancelled == tasks
    assert re.fullmatch(
        r"the task timed out after 1\.0 s; the with block then took [\d.]+ s to end; "
        r"workers left: 0",
        line_after("Pool:", output),
    )
    assert line_after("own Process:", output) == (
        "still running after 1.0 s: True; exit code after terminate(): -15"
    )
    # A timeout and cancel() leave the task running: it ends after the caller
    # gave up (a positive delay, about the task's length minus the timeout).
    gave_up = re.fullmatch(
        r"raised TimeoutError; cancel\(\) returned False; the task ended ([\d.]+) s later",
        line_after("future.result(timeout=0.05)", output),
    )
    pool_gave_up = re.fullmatch(
        r"raised multiprocessing\.context\.TimeoutError; the task ended ([\d.]+) s later",
        line_after("Pool get(timeout=0.05)", output),
    )
    assert gave_up and pool_gave_up, output
    assert float(gave_up[1]) > 0 and float(pool_gave_up[1]) > 0
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None


FORKED_DURING_A_SIGTERM = """
import functools, importlib.util, os, signal, sys, time
spec = importlib.util.spec_from_file_location("page", sys.argv[1])
page = importlib.util.module_from_spec(spec)
spec.loader.exec_module(page)
if sys.argv[2] == "page's handler":
    handler = functools.partial(page.exit_on_sigterm, os.getpid())
else:
    handler = lambda signum, frame: sys.exit(128 + signum)
signal.signal(signal.SIGTERM, handler)
os.register_at_fork(after_in_child=lambda: time.sleep(30))  # a slow start
child = os.fork()
if child == 0:
    os._exit(7)  # the child ran on past its at-fork hooks
time.sleep(0.2)
os.kill(child, signal.SIGTERM)
print(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
"""


def test_the_sigterm_handler_ends_a_child_that_inherits_it_while_starting() -> None:
    """The page's claim about its handler: a child forked after it was set and
    signalled inside an at-fork hook ignores ``sys.exit()`` and runs on; with
    the page's handler it ends as ``SIGTERM``'s default ends it."""
    page = POOLS / "plot_10_terminate_leaves_grandchildren.py"

    def child_end(handler: str) -> tuple[str, str]:
        result = subprocess.run(
            [sys.executable, "-c", FORKED_DURING_A_SIGTERM, str(page), handler],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout.strip(), result.stderr

    exitcode, stderr = child_end("sys.exit()")
    assert exitcode == "7" and "SystemExit: 143" in stderr
    exitcode, stderr = child_end("page's handler")
    assert (exitcode, stderr) == (str(-signal.SIGTERM), "")


def test_a_killed_joblib_worker_loses_every_result_and_shared_arrays_use_less_memory(
    start_method: str,
) -> None:
    """The joblib page under every start method (loky ignores it): the message
    people report, with the signal that ended the worker; results lost; new
    workers next time; a segfault's exit code; and the memory the fix saves."""
    output, outcome = run_page("plot_12_joblib_worker_terminated.py", start_method)
    (reported,) = [
        p["message"] for p in load_problems() if p["id"] == "joblib-terminated-worker"
    ]
    assert reported in output.splitlines()
    assert "The exit codes of the workers are {SIGKILL(-9)}" in output.splitlines()
    assert line_after("tasks finished before the kill:", output) == "7 of 8"
    assert line_after("results Parallel returned:", output) == "none"
    assert line_after("the next Parallel call worked:", output) == "True"
    assert line_after("its workers are new:", output) == "True"
    assert line_after("joblib's workers are:", output) == "LokyProcess"
    assert "The exit codes of the workers are {SIGSEGV(-11)}" in output.splitlines()
    assert line_after("the worker's stderr began:", output) == (
        "Fatal Python error: Segmentation fault"
    )
    figures = {
        label: re.fullmatch(
            r"the task received (\w+); per worker peak (\d+) MB, private (\d+) MB, "
            r"shared (\d+) MB",
            line_after(label, output),
        )
        for label in ("(a) max_nbytes=None, copied:", "(b) default, memory-mapped:")
    }
    copied, mapped = figures.values()
    assert copied and mapped, output
    assert (copied[1], mapped[1]) == ("ndarray", "memmap")
    array_mb = 64
    assert int(copied[2]) > int(mapped[2])  # peak
    assert int(copied[3]) - int(mapped[3]) >= 0.9 * array_mb  # private: one copy more
    assert int(mapped[4]) - int(copied[4]) >= 0.9 * array_mb  # shared: the mapped array
    extra = line_after("private memory (a) minus (b):", output)
    assert float(extra.split(" x ")[0]) >= 0.9
    assert float(line_after("peak memory per worker, (a) / (b):", output)) > 1
    assert line_after("the two runs had separate workers:", output) == "True"
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None


def test_a_celery_worker_is_multiprocessing_s_daemonic_current_process(
    start_method: str,
) -> None:
    """What the Celery page says its run shows: in a worker of billiard's pool,
    multiprocessing's current process is billiard's daemonic process, so
    multiprocessing refuses to start a child there, under every start method
    of the child; billiard's Process starts and exits with code 0."""
    output = run_example_ok(POOLS / "plot_14_celery_prefork_worker.py", start_method)
    assert line_after("current process:", output).startswith("billiard.")
    assert line_after("its daemon flag:", output) == "True"
    assert line_after("multiprocessing.Process:", output) == (
        "AssertionError: daemonic processes are not allowed to have children"
    )
    assert line_after("billiard.Process exit code:", output) == "0"
