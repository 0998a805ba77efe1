"""The pages on a pool's limits, run as scripts under every start method, do as they say.

Timings the pages print are not asserted; counts, messages and outcomes are.
The outcome lines are read with the parser the start-method matrix uses.
"""

from __future__ import annotations

import re
import sys

from conftest import ROOT, line_after, run_example_ok

from mpguide.sphinxext.start_method_matrix import Outcome

POOLS = ROOT / "examples" / "pools"
MEMORY = ROOT / "examples" / "memory"
DAEMONIC = "AssertionError: daemonic processes are not allowed to have children"


def run_page(path, start_method: str) -> tuple[str, Outcome]:
    output = run_example_ok(path, start_method)
    outcome = Outcome.parse(output, path.name)
    # The same verdicts under every start method and Python: no reason lines.
    assert outcome.reason is None and outcome.version_reason is None
    return output, outcome


def test_a_pool_in_a_pool_fails_and_an_executor_in_an_executor_works(
    start_method: str,
) -> None:
    output, outcome = run_page(POOLS / "plot_04_nested_pools.py", start_method)
    assert outcome.reproduced and outcome.reproduced_detail == DAEMONIC
    assert line_after("a Pool task starting a Pool:", output) == DAEMONIC
    assert line_after("a Pool task starting a Process:", output) == DAEMONIC
    assert line_after("a Pool worker is daemonic:", output) == "True"
    squares = str([x * x for x in range(8)])
    assert line_after("one flat pool of 2 processes, 8 results:", output) == squares
    assert outcome.fixed and outcome.fixed_detail == "one flat pool: 8 results"
    # An executor's workers are not daemonic: a nested executor works, and a
    # killed outer worker leaves its own process running.
    outer = re.findall(
        r"^outer task (\d+): daemonic worker: (\w+), "
        r"its own processes: (\d+), squares: (.*)$",
        output,
        re.M,
    )
    assert outer == [
        ("0", "False", "2", "[0, 1, 4, 9]"),
        ("4", "False", "2", "[16, 25, 36, 49]"),
    ]
    assert re.search(
        r"^processes: 2 outer workers \+ 4 inner = 6 for \d+ CPUs$", output, re.M
    )
    noticed = line_after("the executor noticed its dead worker:", output)
    if start_method == "fork":  # the grandchild holds the dead worker's sentinel open
        assert noticed == "no, not within 1 s"
    else:
        assert noticed == "yes, BrokenProcessPool"
    assert line_after("the dead worker's own process still running:", output) == "True"
    assert line_after("once that process is ended too, the future raises:", output) == (
        "BrokenProcessPool"
    )
    assert line_after("processes left running:", output) == "0"


def test_workers_grow_without_a_limit_and_are_replaced_with_one(start_method: str) -> None:
    """Also: under fork the replacements warn (3.12+), the executor refuses fork,
    and it stops replacing workers when tasks wait (gh-115634) unless paced."""
    output, outcome = run_page(POOLS / "plot_05_workers_that_grow.py", start_method)
    workers = re.findall(
        r"^worker \d+: (\d+) tasks, (\d+) MB -> (\d+) MB, ([\d.]+) MB kept per task$",
        output,
        re.M,
    )
    assert 1 <= len(workers) <= 2 and sum(int(tasks) for tasks, *_ in workers) == 16
    for tasks, first, last, kept in workers:
        if int(tasks) > 1:
            assert 2 <= float(kept) <= 8 and int(last) > int(first)
    busiest = line_after("busiest worker, MB after each task:", output)
    sizes = [int(size) for size in re.findall(r"\d+", busiest)]
    assert len(sizes) >= 8 and sizes == sorted(sizes)
    limited = re.search(
        r"^maxtasksperchild=4: (\d+) workers ran 16 tasks, at most (\d+) each", output, re.M
    )
    assert limited and int(limited.group(1)) >= 4 and int(limited.group(2)) <= 4
    assert outcome.reproduced and outcome.reproduced_detail == (
        "without a limit a pool of 2 ran 16 tasks, keeping 4 MB per task"
    )
    assert outcome.fixed and outcome.fixed_detail == (
        "maxtasksperchild=4: no worker ran more than 4 tasks"
    )
    python = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    fork_pool = f"{python}, fork pool with maxtasksperchild: "
    assert int(line_after(fork_pool + "forks by the main thread:", output)) == 2
    from_thread = int(line_after(fork_pool + "forks by a pool thread:", output))
    warned = int(line_after(fork_pool + "DeprecationWarnings:", output))
    assert from_thread >= 2
    assert warned == (from_thread if sys.version_info >= (3, 12) else 0)
    assert line_after("max_tasks_per_child with a fork context:", output).startswith(
        "ValueError: max_tasks_per_child is incompatible with the 'fork' "
        "multiprocessing start method"
    )
    assert line_after("max_tasks_per_child without mp_context uses:", output) == "spawn"
    stuck = line_after(f"{python}, all submitted at once: finished", output)
    if sys.version_info < (3, 13, 1):  # gh-115634: measured on 3.11, 3.12, 3.13.0
        assert stuck == "4 of 12 by 1 worker(s)"
    else:
        assert re.fullmatch(r"\d+ of 12 by \d+ worker\(s\)", stuck)
    paced = re.search(
        r"^executor, one task per idle worker: "
        r"12 tasks by (\d+) workers, at most (\d+) each$",
        output,
        re.M,
    )
    assert paced and int(paced.group(1)) >= 3 and int(paced.group(2)) <= 4


def test_chunksize_sets_the_number_of_messages(start_method: str) -> None:
    output, outcome = run_page(MEMORY / "plot_03_chunksize.py", start_method)
    table = dict(
        (way.strip(), (int(counted), int(expected)))
        for way, counted, expected in re.findall(
            r"^((?:Pool|ProcessPoolExecutor)\.\S+.*?)\s+(\d+)\s+(\d+)\s+[\d.]+x$",
            output,
            re.M,
        )
    )
    assert table == {
        "Pool.map, chunksize=1": (1000, 1000),
        "Pool.map, default chunksize": (8, 8),
        "Pool.map, chunksize=500": (2, 2),
        "Pool.imap (default: 1)": (1000, 1000),
        "Pool.imap_unordered (default: 1)": (1000, 1000),
        "Pool.imap_unordered, chunksize=125": (8, 8),
        "ProcessPoolExecutor.map (default: 1)": (1000, 1000),
        "ProcessPoolExecutor.map, chunksize=125": (8, 8),
    }
    assert "map_async had read 1000 of 1000 items when it returned" in output
    assert outcome.reproduced and outcome.reproduced_detail == (
        "Pool.map, chunksize=1: 1000 messages for 1000 items, slower than the loop"
    )
    assert outcome.fixed and outcome.fixed_detail == (
        "the default chunksize: 8 messages, faster than chunksize=1"
    )


def test_executor_map_reads_every_item_first_and_a_bounded_loop_reads_ahead_a_few(
    start_method: str,
) -> None:
    output, outcome = run_page(POOLS / "plot_09_executor_map_eager.py", start_method)
    items = 10_000
    assert line_after("Executor.map:", output) == (
        f"{items} items taken when map() returned, {items} when the first result (0) came"
    )
    assert line_after("Executor.map, chunksize=100:", output) == (
        f"{items} items taken by map()"
    )
    read_ahead = re.fullmatch(
        r"(\d+) items taken when the first result came", line_after("Pool.imap:", output)
    )
    assert read_ahead and 2 < int(read_ahead.group(1)) < items  # bounded by the pipe
    assert line_after("bounded_map, 4 in flight:", output) == (
        "4 items taken when the first result (0) came, 7 after 3 more"
    )
    assert line_after("bounded_map over 1000000000000 items:", output) == (
        "[0, 1, 4, 9, 16, 25], 9 items taken"
    )
    assert outcome.reproduced and outcome.fixed
