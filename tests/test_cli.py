"""``python -m mpguide check``, run as a new user would: in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def mpguide(
    *args: str, cwd: Path = TESTS, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "mpguide", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_help_documents_the_command_and_exit_statuses() -> None:
    result = mpguide("--help")
    assert result.returncode == 0
    assert "check" in result.stdout
    result = mpguide("check", "--help")
    assert result.returncode == 0
    for text in ("module:name", "--json", "--strict", "exit status: 0", "1", "2"):
        assert text in result.stdout


def test_the_reports_user_fails_with_status_1() -> None:
    result = mpguide("check", "sample_keys:make_user")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("<sample_keys.User object at 0x")
    assert "error [identity-equality]" in result.stdout
    assert "Does not work as a key of a Manager dict." in result.stdout


def test_an_object_is_checked_as_is() -> None:
    result = mpguide("check", "sample_keys:sam")
    assert result.returncode == 1
    assert "identity-equality" in result.stdout


def test_a_good_key_passes_with_status_0() -> None:
    result = mpguide("check", "sample_keys:make_frozen_id")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings, 0 notes. Works as a key" in result.stdout


def test_json_output_is_the_report() -> None:
    result = mpguide("check", "--json", "sample_keys:make_frozen_user")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["type"] == "sample_keys.FrozenUser"
    assert [f["problem"] for f in report["findings"]] == ["hash-varies-between-processes"]
    assert report["checks"][-1] == "new process"


def test_strict_fails_on_warnings_and_not_on_notes() -> None:
    assert mpguide("check", "sample_keys:make_unsafe_hash_user").returncode == 0
    assert mpguide("check", "--strict", "sample_keys:make_unsafe_hash_user").returncode == 1
    assert mpguide("check", "--strict", "sample_keys:make_frozen_user").returncode == 0


def test_no_call_checks_the_callable_itself() -> None:
    result = mpguide("check", "--no-call", "--json", "sample_keys:make_user")
    assert result.returncode == 0
    assert json.loads(result.stdout)["type"] == "builtins.function"


def test_dotted_names_reach_attributes() -> None:
    result = mpguide("check", "--json", "sample_keys:sam.name")
    assert json.loads(result.stdout)["key"] == "'sam'"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("sample_keys", "TARGET must look like package.module:name"),
        (":make_user", "TARGET must look like package.module:name"),
        ("sample_keys:", "TARGET must look like package.module:name"),
        ("no_such_module_here:thing", "cannot import 'no_such_module_here'"),
        ("sample_keys:missing", "'sample_keys' has no attribute 'missing'"),
        ("sample_keys:sam.missing", "has no attribute 'sam.missing' (missing 'missing')"),
        ("sample_keys:needs_an_argument", "calling sample_keys:needs_an_argument() raised"),
    ],
)
def test_usage_and_import_errors_exit_2_with_a_clear_message(
    target: str, message: str
) -> None:
    result = mpguide("check", target)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args", [[], ["check"], ["check", "--timeout", "0", "x:y"], ["frob"]]
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    result = mpguide(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_a_hostile_key_gives_a_report_not_a_crash() -> None:
    result = mpguide("check", "sample_keys:make_nested_tuple")
    assert result.returncode == 1
    assert "error [not-picklable]" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_key_that_never_returns_ends_within_the_timeout() -> None:
    started = time.monotonic()
    result = mpguide("check", "--timeout", "1", "sample_keys:make_looping_hash", timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert "check-timed-out" in result.stdout


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("mpguide")
    result = subprocess.run(
        [str(script), "check", "sample_keys:make_frozen_id"],
        capture_output=True,
        text=True,
        cwd=TESTS,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_nox_runs_the_cli_from_the_installed_package() -> None:
    """``nox -s tests`` installs mpguide into its venv, as a user's pip would."""
    if not os.environ.get("MPGUIDE_TESTING_INSTALLED_PACKAGE"):
        pytest.skip("only under nox -s tests, which installs the package (not editable)")
    result = subprocess.run(
        [sys.executable, "-c", "import mpguide; print(mpguide.__file__)"],
        capture_output=True,
        text=True,
        cwd=TESTS,
        check=True,
    )
    location = Path(result.stdout.strip()).resolve()
    assert "site-packages" in location.parts
    assert TESTS.parent / "src" not in location.parents
