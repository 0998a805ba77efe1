"""What workers inherit: the pages, the logging recipe and the sqlite3 producer,
run as scripts under every start method, do what they say.

Counts that depend on timing (how many lines broke, whose answer a process
read) are checked for being there, not for their value; outcomes are read with
the parser the start-method matrix uses.
"""

from __future__ import annotations

import ast
import collections
import re
import sys

from conftest import ROOT, line_after, run_example_ok, run_script

from mpguide.sphinxext.start_method_matrix import Outcome

PAGES = ROOT / "examples" / "inherit"
RECIPE = ROOT / "docs" / "howto" / "recipes" / "logging_from_workers.py"
PRODUCER = ROOT / "docs" / "reference" / "errors" / "inherit_sqlite_connection.py"
FRESH_INTERPRETER = ("spawn", "forkserver")
WORKER_NAMES = {"fork": "ForkPoolWorker", "spawn": "SpawnPoolWorker"}


def run_page(name: str, start_method: str, reproduced: bool = True) -> tuple[str, Outcome]:
    """Run a page whose fix works; its failure is ``reproduced`` under this
    method, or it says why not."""
    output = run_example_ok(PAGES / name, start_method)
    outcome = Outcome.parse(output, name)
    assert outcome.reproduced == reproduced and outcome.fixed, outcome
    assert (outcome.reason is None) == reproduced, outcome
    assert outcome.version_reason is None, outcome
    return output, outcome


def test_workers_lose_or_break_records_and_a_queue_listener_fixes_both(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_01_logging.py", start_method)
    handlers = line_after("in a worker, logger 'app' has handlers", output)
    written = line_after("the parent's log file: 1 record from the parent,", output)
    if start_method in FRESH_INTERPRETER:
        assert handlers == "[], level WARNING"
        assert line_after("the worker's stderr got:", output) == r"'item 0: warning\n'"
        assert written == "0 of 4 from the workers"
    else:
        assert handlers == "['FileHandler'], level INFO"
        assert line_after("the worker's stderr got:", output) == "nothing"
        assert written == "4 of 4 from the workers"
    pipe = re.search(
        r"^stderr \(a pipe\): (\d+) of 30 records whole, (\d+) lines broken", output, re.M
    )
    assert pipe and int(pipe.group(2)) > 0 and int(pipe.group(1)) < 30
    assert "app.log: 30 of 30 records whole, 0 lines broken" in output
    assert "records of 1000 characters on stderr: 30 of 30 whole, 0 broken" in output
    for sink in ("stderr", "app.log"):
        assert (
            f"QueueHandler, {sink}: 30 of 30 records whole, 0 broken, each once: True, "
            "in order in each task: True" in output
        )
    copies = line_after("QueueHandler added, not replacing the handlers:", output)
    assert copies == (
        "copies of a record [2]" if start_method == "fork" else "copies of a record [1]"
    )
    assert "long records broken on a shared pipe" in outcome.reproduced_detail


def test_one_connection_crosses_replies_and_a_connection_per_process_does_not(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_02_connection_across_fork.py", start_method)
    shared = re.search(
        r"^shared connection: 3 processes, connections seen: 1; (\d+) questions: "
        r"(\d+) right, (\d+) someone else's, (\d+) no reply$",
        output,
        re.M,
    )
    assert shared, output
    right, others, gave_up = (int(shared.group(i)) for i in (2, 3, 4))
    assert others + gave_up > 0 and right + others + gave_up == int(shared.group(1))
    sqlite_outcome = line_after("a sqlite3 connection passed to a child:", output)
    if start_method == "fork":
        assert sqlite_outcome == "the child counted 2 rows through it"
    else:
        assert sqlite_outcome == "TypeError: cannot pickle 'sqlite3.Connection' object"
    assert re.search(
        r"^a connection per worker: (\d) processes, connections seen: \1; 16 questions: "
        r"16 right, 0 someone else's, 0 no reply$",
        output,
        re.M,
    )
    assert (
        "fork-safe client: 3 processes, connections seen: 3; 12 questions: 12 right, "
        "0 someone else's, 0 no reply" in output
    )
    label = "the parent, after its children exited, on its first connection:"
    assert line_after(label, output) == "True"
    assert line_after("and its answers:", output) == "right right right right"
    assert outcome.reproduced_detail.startswith("one connection for 3 processes:")


def test_join_waits_for_the_feeder_until_the_parent_reads(start_method: str) -> None:
    output, outcome = run_page("plot_03_join_before_drain.py", start_method)
    assert line_after("the child's function returned:", output) == "True"
    assert line_after("after join(timeout=1.5), the child is alive:", output) == "True"
    assert line_after("after the parent took 200 items, exit code:", output) == "0"
    capacity = int(line_after("a pipe holds", output).split()[0])
    fit = re.search(r"^and (\d+) messages of (\d+) bytes", output, re.M)
    assert fit and int(fit.group(1)) * int(fit.group(2)) <= capacity
    assert line_after("10 items: joined first, exit code", output) == "0; then received 10"
    assert "received 200 items (in order: True), then join: exit code 0" in output
    cancelled = re.search(
        r"^cancel_join_thread\(\): exit code 0, received (\d+) of 200, lost (\d+)$",
        output,
        re.M,
    )
    assert cancelled, output
    kept, lost = int(cancelled.group(1)), int(cancelled.group(2))
    assert kept <= int(fit.group(1)) and kept + lost == 200
    assert outcome.fixed_detail == "200 of 200 received, then join returned"


def test_fork_workers_repeat_inherited_generators_and_per_task_seeds_differ(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_04_same_random_numbers.py", start_method)
    inherited = 1 if start_method == "fork" else 3
    assert line_after("random.random():", output) == "3 different numbers in 3 workers"
    for name in ("np.random.rand():", "RNG made at import:"):
        assert line_after(name, output) == f"{inherited} different numbers in 3 workers"
    assert line_after("Generator passed by the parent:", output) == (
        "1 different numbers in 3 workers"
    )
    first, second = ast.literal_eval(
        line_after("seeded from SEED = 20250601, two runs:", output)
    )
    assert first == second and len(set(first)) == 3
    reseeded = ast.literal_eval(
        line_after("np.random.seed() in the initializer, two runs:", output)
    )
    assert reseeded[0] != reseeded[1] and all(len(set(run)) == 3 for run in reseeded)
    assert outcome.reproduced_detail.endswith("Generator passed by the parent")


def test_the_logging_recipe_writes_every_record_once_from_the_workers(
    start_method: str,
) -> None:
    result = run_script(RECIPE, start_method)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["query_times: 20"]
    worker = WORKER_NAMES.get(start_method, "ForkServerPoolWorker")
    records = re.findall(
        rf"^{worker}-\d+ queries: query for (\w+)$", result.stderr, re.MULTILINE
    )
    assert collections.Counter(records) == {"alice": 10, "bob": 10}, result.stderr
    assert len(result.stderr.splitlines()) == 20, result.stderr


def test_a_sqlite3_connection_cannot_be_sent_to_a_new_interpreter(
    start_method: str,
) -> None:
    result = run_script(PRODUCER, start_method)
    assert result.returncode == 0, result.stderr
    if start_method == "fork":
        assert line_after("not produced:", result.stdout).startswith("a forked child")
    else:
        message = line_after("message:", result.stdout)
        assert message == "\"TypeError: cannot pickle 'sqlite3.Connection' object\""


def test_buffers_copied_by_fork_write_lines_again_and_a_flush_first_does_not(
    start_method: str,
) -> None:
    output, _ = run_page("plot_05_buffered_output_twice.py", start_method)
    once_per_worker = "3 times"  # the parent's copy and one per worker (2)
    assert line_after("Process:", output) == "'before the workers' written once"
    own_file = once_per_worker if start_method == "fork" else "once"
    assert line_after("own file:", output) == f"'run started' written {own_file}"
    assert line_after("os.fork:", output) == "'before the fork' written twice"
    preload = line_after("preload:", output).removeprefix("'settings loaded' written ")
    if sys.version_info < (3, 13, 1):  # no flush in the forkserver (checked to 3.13.0)
        assert preload == once_per_worker
    else:  # later releases may flush after preloading
        assert preload in ("once", once_per_worker)
    fixed = re.findall(r"^([\w. ]+): +'[^']+' written (.+)$", output, re.M)
    fixed = [(case, how) for case, how in fixed if "flushed first" in how]
    expected_cases = ["own file"] if start_method == "fork" else []
    expected_cases += ["os.fork"] + (["preload"] if preload != "once" else [])
    assert [case for case, _ in fixed] == expected_cases, output
    for case, how in fixed:
        unbuffered = own_file if case == "own file" else "once"
        assert how == f"once flushed first, {unbuffered} with PYTHONUNBUFFERED=1"


def test_a_pool_made_before_the_server_forks_gives_its_worker_nothing(
    start_method: str,
) -> None:
    output, outcome = run_page("plot_06_pool_before_server_fork.py", start_method)
    squares = str([n * n for n in range(4)])
    requests = re.findall(r"^(?:executor at import, )?request: (.*)$", output, re.M)
    assert requests == [
        "multiprocessing.context.TimeoutError after 2 s",
        "builtins.TimeoutError after 2 s",
        squares,
    ], output
    threads = re.findall(
        r"^threads: (\d+) in the master, (\d+) in the server worker$", output, re.M
    )
    (preloaded_master, preloaded_worker), (lazy_master, lazy_worker) = threads
    assert int(preloaded_master) > 1 and preloaded_worker == "1"
    assert lazy_master == "1" and int(lazy_worker) > 1
    counted = re.findall(
        r"^the master's children, counted as the server worker's: (\w+)$", output, re.M
    )
    assert counted == ["True", "False"]
    warnings = re.findall(r"^warning at the fork: (.*)$", output, re.M)
    forked_with_threads = (
        "This process (pid=<pid>) is multi-threaded, use of fork() may lead to deadlocks "
        "in the child."
    )
    expected = forked_with_threads if sys.version_info >= (3, 12) else "none"
    assert warnings == [expected, "none"]
    assert line_after("the master's pool after:", output) == squares
    assert line_after("the master's executor after:", output) == "9"
    assert "ProcessPoolExecutor" in outcome.reproduced_detail


def test_tqdm_bars_from_workers_share_a_row_and_positions_with_a_shared_lock_do_not(
    start_method: str,
) -> None:
    output, _ = run_page("plot_07_progress_bars.py", start_method)
    bars = 3
    took = line_after("as is: workers that took the lock the main process held:", output)
    # tqdm's lock, made by the main process before the workers start, is a
    # fork child's too; a fresh interpreter makes its own
    fresh = start_method in FRESH_INTERPRETER
    assert took == (f"{bars} of {bars}" if fresh else f"0 of {bars}")
    took = line_after("position: workers that took the lock the main process held:", output)
    assert took == f"0 of {bars}"
    rows = {
        (way, task): row
        for way, task, row in re.findall(
            r"^(as is|position): task (\d) drawn on rows \[([\d, ]+)\] while it ran$",
            output,
            re.M,
        )
    }
    assert len(rows) == 2 * bars, output
    assert all("0" in rows["as is", str(task)].split(", ") for task in range(bars))
    assert [rows["position", str(task)] for task in range(bars)] == ["0", "1", "2"]
    overdrawn = {
        way: int(count)
        for way, count in re.findall(
            r"^(as is|position|one bar): a running bar drawn over another task's bar: "
            r"(\d+) times$",
            output,
            re.M,
        )
    }
    assert overdrawn["as is"] > 0 and overdrawn["position"] == overdrawn["one bar"] == 0
    assert line_after("one bar: all tasks drawn on rows", output) == "[0] while it ran"
    steps = 12
    # one carriage return per update: the first draw, each step, and the
    # final draw of a bar left on the screen
    assert line_after("as is: bar updates written:", output) == str(bars * (steps + 2))


def test_a_fork_worker_runs_the_parent_s_sigterm_handler_and_an_owner_check_stops_it(
    start_method: str,
) -> None:
    forked = start_method == "fork"
    output, _ = run_page("plot_08_signal_handler_in_workers.py", start_method, forked)
    ran = line_after("the parent's shutdown code ran in the worker:", output)
    assert ran == str(forked)
    exitcode = line_after("the worker's exit code after terminate():", output)
    assert exitcode == ("0" if forked else "-15")
    assert (
        line_after("with the fix, the shutdown code ran in the worker:", output) == "False"
    )
    assert line_after("with the fix, the worker's exit code:", output) == "-15"


def test_a_parent_that_ignores_sigchld_loses_exit_codes_and_stalls_a_pool_but_forkserver(
    start_method: str,
) -> None:
    lost = start_method != "forkserver"
    output, _ = run_page("plot_09_sigchld_ignored.py", start_method, lost)
    ignored, default = output.split("with SIGCHLD ignored:\n")[1].split(
        "with SIGCHLD at its default:\n"
    )
    assert line_after("  exitcode:", ignored) == ("None" if lost else "0")
    assert line_after("  is_alive():", ignored) == str(lost)
    assert line_after("  pool results:", ignored) == (
        "none in 2 s" if lost else "[6, 5, 4, 3, 2, 1]"
    )
    assert line_after("  left in active_children():", ignored) == ("3" if lost else "0")
    assert line_after("  exitcode:", default) == "0"
    assert line_after("  pool results:", default) == "[6, 5, 4, 3, 2, 1]"
    zombies = "0" if start_method == "forkserver" else "3"
    assert line_after("zombies once the three had ended:", output) == zombies
    assert line_after("zombies after active_children():", output) == "0"


def test_an_asyncio_services_sigterm_handler_makes_fork_workers_ignore_terminate(
    start_method: str,
) -> None:
    """Under fork the worker ignores terminate() and a pool's terminate()
    waits past its tasks' end; up to 3.11 the three signals also ran the
    service's shutdown. The reset in the worker fixes all three."""
    forked = start_method == "fork"
    output, _ = run_page("plot_10_asyncio_signal_handlers.py", start_method, forked)
    workers = re.findall(r"^Process\.terminate\(\): (.*)$", output, re.M)
    pools = re.findall(r"^Pool\.terminate\(\): (.*)$", output, re.M)
    shutdowns = re.findall(
        r"^the service's own SIGTERM handler ran: (\d+) times$", output, re.M
    )
    killed = "the worker ended, exit code -15"
    if forked:
        assert workers == ["the worker still runs 1.0 s later", killed]
        assert pools == ["still waits 3.0 s later, its tasks took 1.0 s", "returned"]
        assert shutdowns == ["3" if sys.version_info < (3, 12) else "0", "0"]
    else:
        assert workers == [killed, killed]
        assert pools == ["returned", "returned"]
        assert shutdowns == ["0", "0"]
