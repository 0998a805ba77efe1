"""The matrix's and the error index's run engine and cache (mpguide.sphinxext.runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import START_METHODS, other_interpreters
from sphinx.errors import ExtensionError

from mpguide.sphinxext.interpreters import VARIABLE, Interpreter, running
from mpguide.sphinxext.runs import (
    CACHE_VARIABLE,
    Job,
    Runner,
    interpreters_for,
    load_cache,
    package_digest,
    run_jobs,
    save_cache,
)


def test_a_shared_cache_keeps_what_another_build_saved_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    path = tmp_path / "cache.json"
    first_build = load_cache(path)  # both builds start from an empty cache
    second_build = load_cache(path)
    save_cache(path, {**first_build, "a": 1}, current=["a"])
    save_cache(path, {**second_build, "b": 2}, current=["b"])
    assert load_cache(path) == {"a": 1, "b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]  # no temporary left


def test_a_private_cache_keeps_only_the_current_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    path = tmp_path / "cache.json"
    save_cache(path, {"old": 1, "new": 2}, current=["new"])
    assert json.loads(path.read_text()) == {"new": 2}


def test_an_unreadable_cache_is_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    path.write_text('{"a": 1')  # cut short
    assert load_cache(path) == {}
    path.write_text("[1, 2]")
    assert load_cache(path) == {}


REPORTS = """\
import os, platform, sys
from pathlib import Path
from _helper import WORD
with open(Path(__file__).with_name("runs.log"), "a") as log:
    log.write(f"{Path(__file__).name} {platform.python_version()}\\n")
{body}
print(WORD, platform.python_version(), os.environ["MPGUIDE_START_METHOD"], sys.argv[0])
"""


def test_the_engine_runs_every_job_reports_every_failure_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On two interpreters: a script that fails on one of them fails three jobs."""
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    interpreters = [running(), other_interpreters()[-1]]
    (tmp_path / "_helper.py").write_text('WORD = "ran"\n')
    ok, broken = tmp_path / "ok.py", tmp_path / "broken.py"
    ok.write_text(REPORTS.replace("{body}", ""))
    fails_on_other = (
        f"if sys.version_info[:2] != {sys.version_info[:2]} "
        'and Path(__file__).with_name("fail").exists(): sys.exit(3)'
    )
    (tmp_path / "fail").touch()
    broken.write_text(REPORTS.replace("{body}", fails_on_other))
    runner = Runner("test: %d runs", ExtensionError, "runs.json", helpers="_*.py")
    jobs = [Job(s, i, m) for s in (ok, broken) for i in interpreters for m in START_METHODS]
    cache_file = tmp_path / "cache" / "runs.json"

    def run() -> dict[Job, str]:
        return run_jobs(
            runner, jobs, lambda output, job: output, timeout=60, cache_file=cache_file
        )

    with pytest.raises(ExtensionError) as failed:
        run()
    message = str(failed.value)
    assert message.count("failed with exit status 3") == 3
    for method in START_METHODS:
        version = interpreters[1].version
        assert f"broken.py on Python {version} under {method} failed" in message
    log = tmp_path / "runs.log"
    assert len(log.read_text().splitlines()) == 12
    cached = load_cache(cache_file)
    assert len(cached) == 9  # every run that ended well, kept
    for job in jobs:
        if job.script == ok:
            key = runner.key(job, package_digest())
            assert cached[key].split() == [
                "ran",
                job.interpreter.version,
                job.method,
                str(job.script),
            ]

    (tmp_path / "fail").unlink()
    outputs = run()  # only the three that failed run again
    assert len(log.read_text().splitlines()) == 15
    assert {job: output.split()[1:3] for job, output in outputs.items()} == {
        job: [job.interpreter.version, job.method] for job in jobs
    }
    (tmp_path / "_helper.py").write_text('WORD = "again"\n')
    assert all(output.startswith("again ") for output in run().values())
    assert len(log.read_text().splitlines()) == 27


def test_the_cache_key_holds_script_helpers_package_version_method_flags_and_signs(
    tmp_path: Path,
) -> None:
    script, helper = tmp_path / "a.py", tmp_path / "_h.py"
    script.write_text("print(1)\n")
    helper.write_text("X = 1\n")
    old, new = Interpreter("3.11.7", "a"), Interpreter("3.13.0", "a")
    runner = Runner("%d", ExtensionError, "runs.json", helpers="_*.py")
    keys = {
        runner.key(Job(script, old, "fork"), "package"),
        runner.key(Job(script, new, "fork"), "package"),
        runner.key(Job(script, old, "spawn"), "package"),
        runner.key(Job(script, old, "fork"), "changed package"),
        Runner("%d", ExtensionError, "runs.json", ("-W", "error"), helpers="_*.py").key(
            Job(script, old, "fork"), "package"
        ),
        Runner("%d", ExtensionError, "runs.json", leak_signs=(), helpers="_*.py").key(
            Job(script, old, "fork"), "package"
        ),
    }
    assert len(keys) == 6
    helper.write_text("X = 2\n")
    keys.add(runner.key(Job(script, old, "fork"), "package"))
    script.write_text("print(2)\n")
    keys.add(runner.key(Job(script, old, "fork"), "package"))
    assert len(keys) == 8


def test_a_saved_output_is_found_only_for_the_same_run_in_the_shared_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "a.py"
    script.write_text("print('start method: fork')\n")
    runner = Runner("test: %d runs", ExtensionError, "runs.json")
    job = Job(script, running(), "fork")
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    assert runner.saved_output(job, package_digest()) is None
    run_jobs(
        runner,
        [job],
        lambda output, job: output,
        timeout=60,
        cache_file=tmp_path / "cache" / "runs.json",
    )
    assert runner.saved_output(job, package_digest()) == "start method: fork\n"
    assert runner.saved_output(Job(script, running(), "spawn"), package_digest()) is None
    assert runner.saved_output(job, "another package") is None
    monkeypatch.delenv(CACHE_VARIABLE)
    assert runner.saved_output(job, package_digest()) is None


def test_a_version_not_found_is_named_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(VARIABLE, sys.executable)
    monkeypatch.delenv("CI", raising=False)
    app = SimpleNamespace(config=SimpleNamespace(mpguide_pythons=("3.99", running().minor)))
    interpreters, missing = interpreters_for(app, "label", ExtensionError)  # type: ignore[arg-type]
    assert interpreters == [running()] and missing == ["3.99"]
    monkeypatch.setenv("CI", "true")
    with pytest.raises(ExtensionError, match=r"label: no Python 3\.99 found .* CI is set"):
        interpreters_for(app, "label", ExtensionError)  # type: ignore[arg-type]
