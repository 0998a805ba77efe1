"""mpguide.bench: what it measures and how it reports (never how fast anything is)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

from mpguide import bench


class WorkersFailBeforeTheOwnerHearsFromThem(bench.QueueOwner):
    """Its workers end before they tell the owner they are done."""

    @staticmethod
    def count(shared: object, users: list[int]) -> None:
        raise SystemExit(3)


@pytest.fixture(scope="module")
def report() -> bench.Report:
    return bench.run("spawn", quick=True)


def test_every_figure_is_a_ratio_to_a_baseline_from_the_same_run(
    report: bench.Report,
) -> None:
    names = [m.name for m in report.measurements]
    assert len(names) == len(set(names))
    for measurement in report.measurements:
        assert measurement.seconds > 0
        baseline = report.get(measurement.baseline)
        assert measurement.ratio == pytest.approx(measurement.seconds / baseline.seconds)
    groups = {m.group for m in report.measurements}
    assert groups == {
        "floors",
        "Manager dict lookup",
        "one locked access",
        "contention, 1 worker",
        "contention, 2 workers",
        "contention, 4 workers",
        "alternatives, 1 worker",
        "alternatives, 2 workers",
        "alternatives, 4 workers",
        "shared table read",
        "per-key locking",
    }
    for workers in bench.WORKER_COUNTS:
        for approach in (
            bench.KEYED,
            bench.GLOBAL,
            bench.FETCH_ONCE,
            bench.FETCH_EVERY_USE,
        ):
            assert report.get(f"{approach} x{workers}").unit == "s/update"


def test_the_alternatives_are_measured_against_the_reports_pattern(
    report: bench.Report,
) -> None:
    for workers in bench.WORKER_COUNTS:
        baseline = f"{bench.MANAGER_LOCKS} x{workers}"
        for approach in bench.ALTERNATIVES:
            measurement = report.get(f"{approach} x{workers}")
            assert measurement.unit == "s/update"
            assert measurement.baseline == baseline
            assert measurement.ratio > 0
    for name in bench.TABLE_READS:
        assert report.get(name).baseline == bench.LOCAL_COPY
    # The tests extra installs the bench extra: filelock is measured, not skipped.
    assert report.get(bench.FILELOCK).baseline == bench.LOCK
    assert report.machine["skipped"] == []


def test_without_filelock_the_run_says_what_it_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "filelock", None)  # import fails
    fake = bench.Bench(bench.multiprocessing.get_context("spawn"), quick=True)
    fake.per_key_locking()
    assert fake.measurements == []
    assert fake.skipped == [f"{bench.FILELOCK}: install mpguide[bench] to measure it"]


def test_the_report_says_where_it_ran_and_checks_three_targets(
    report: bench.Report,
) -> None:
    assert report.machine["start_method"] == "spawn"
    assert report.machine["quick"] is True
    assert [t.name for t in report.targets] == [
        "KeyedLocks vs a bare lock",
        "KeyedLocks vs the report's pattern",
        "registry token lookup",
    ]
    table = report.table()
    assert "start method spawn (quick run)" in table
    for target in report.targets:
        assert f"[{'met' if target.met else 'MISSED'}] {target.name}" in table


def test_targets_are_judged_by_their_ratios() -> None:
    measurements = [
        bench.Measurement("floors", bench.LOCK, 100e-9, bench.LOCK, 1.0),
        bench.Measurement("m", "int key", 20e-6, "int key", 1.0),
        bench.Measurement("m", "KeyRegistry token", 25e-6, "int key", 1.25),
        bench.Measurement("l", bench.FETCH_EVERY_USE, 150e-6, bench.LOCK, 1500.0),
        bench.Measurement("l", "KeyedLocks.hold", 190e-9, bench.LOCK, 1.9),
        bench.Measurement("d", "cold build", 100.0, "cold build", 1.0),
        bench.Measurement("d", "rebuild, nothing changed", 12.0, "cold build", 0.12),
    ]
    fake = bench.Bench.__new__(bench.Bench)
    fake.measurements = measurements
    verdicts = {t.name: (t.met, t.measured) for t in bench.targets(fake)}
    assert verdicts == {
        "KeyedLocks vs a bare lock": (True, "1.90x"),
        "KeyedLocks vs the report's pattern": (False, "789x faster"),
        "registry token lookup": (False, "1.25x"),
        "docs rebuild": (False, "12.0%"),
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(2.5, "2.5 s"), (0.0123, "12.3 ms"), (35.9e-6, "35.9 us"), (249e-9, "249 ns")],
)
def test_times_read_naturally(seconds: float, text: str) -> None:
    assert bench.format_seconds(seconds) == text


def test_the_command_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "mpguide.bench", "--quick", "--start-method", "forkserver",
         "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "start method forkserver (quick run)" in result.stdout
    data = json.loads(output.read_text())
    assert data["machine"]["start_method"] == "forkserver"
    assert {m["name"] for m in data["measurements"]} >= {"KeyedLocks.hold", "int key"}
    assert len(data["targets"]) == 3
    assert {"python", "implementation", "system", "cpus"} <= set(data["machine"])
    assert {f"{a} x4" for a in bench.ALTERNATIVES} <= {
        m["name"] for m in data["measurements"]
    }


def test_filelock_is_a_bench_dependency_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert not any(d.startswith("filelock") for d in project["dependencies"])
    assert [d for d in extras["bench"] if d.startswith("filelock")]
    assert "mpguide[bench]" in extras["docs"]


def test_a_failed_alternative_leaves_no_process_behind() -> None:
    """The owner process waits for every worker: when they fail, the run ends it."""
    context = bench.multiprocessing.get_context("spawn")
    runner = bench.Bench(context, quick=True)
    kind = WorkersFailBeforeTheOwnerHearsFromThem
    with pytest.raises(RuntimeError, match=r"a process failed \(exit code 3\)"):
        runner.run_alternative(kind, manager=None, workers=2, updates=5)
    assert bench.multiprocessing.active_children() == []


def test_each_alternative_is_one_class_with_a_name_of_its_own() -> None:
    for kind in bench.ALTERNATIVE_KINDS:
        assert "name" in vars(kind), f"{kind.__name__} takes its parent's name"
    assert len(set(bench.ALTERNATIVES)) == len(bench.ALTERNATIVE_KINDS)


def test_a_docs_build_is_timed_cold_then_again() -> None:
    builds: list[str] = []
    fake = bench.Bench(bench.multiprocessing.get_context("spawn"), quick=True)
    fake.docs_build(lambda: builds.append("build"))
    assert builds == ["build", "build"]
    assert [(m.name, m.baseline, m.unit) for m in fake.measurements] == [
        ("cold build", "cold build", "s/build"),
        ("rebuild, nothing changed", "cold build", "s/build"),
    ]


@pytest.mark.parametrize(
    ("argv", "called"),
    [
        (["check-keys"], ("print_batch_check_ratio",)),
        (["lint-speed", "flake8-python"], ("print_lint_speed", "flake8-python")),
    ],
)
def test_the_commands_print_what_they_time(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], called: tuple[str, ...]
) -> None:
    calls: list[tuple[str, ...]] = []
    for name in ("print_batch_check_ratio", "print_lint_speed"):
        monkeypatch.setattr(
            bench, name, lambda *args, name=name: calls.append((name, *args))
        )
    monkeypatch.setattr(bench, "run", lambda *args, **kwargs: pytest.fail("ran the table"))
    assert bench.main(argv) == 0
    assert calls == [called]
