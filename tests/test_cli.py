"""``python -m mpguide check``, run as a new user would: in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def mpguide(
    *args: str,
    cwd: Path = TESTS,
    timeout: float = 120,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(env_extra or {})
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
    for text in ("module:name", "--json", "--strict", "--timeout covers everything"):
        assert text in result.stdout
    for status in range(6):
        assert re.search(rf"^  {status}  \S", result.stdout, re.M), status


def test_the_reports_user_fails_with_status_1() -> None:
    result = mpguide("check", "sample_keys:make_user")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(
        "sample_keys:make_user(): <sample_keys.User object at 0x"
    )
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


@pytest.mark.parametrize("target", ["sample_keys", ":make_user", "sample_keys:"])
def test_a_malformed_target_is_a_bad_argument(target: str) -> None:
    result = mpguide("check", target)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "TARGET must look like package.module:name" in result.stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_here:thing", "cannot import 'no_such_module_here'"),
        ("sample_keys:missing", "'sample_keys' has no attribute 'missing'"),
        ("sample_keys:sam.missing", "has no attribute 'sam.missing' (missing 'missing')"),
        ("sample_keys:needs_an_argument", "calling sample_keys:needs_an_argument() raised"),
    ],
)
def test_targets_that_cannot_be_loaded_exit_3_with_a_clear_message(
    target: str, message: str
) -> None:
    result = mpguide("check", target)
    assert result.returncode == 3
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["check"],
        ["check", "--timeout", "0", "x:y"],
        ["check", "--timeout", "inf", "x:y"],
        ["check", "--timeout", "nan", "x:y"],
        ["frob"],
    ],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    result = mpguide(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_hostile_key_gives_a_report_not_a_crash() -> None:
    result = mpguide("check", "sample_keys:make_nested_tuple")
    assert result.returncode == 1
    assert "error [not-picklable]" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_key_that_never_returns_ends_within_the_timeout() -> None:
    # Long enough to reach the key's hash on a busy machine (2 s once ended
    # still starting the check, under a parallel test run on 2 CPUs).
    started = time.monotonic()
    result = mpguide("check", "--timeout", "5", "sample_keys:make_looping_hash", timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 4
    assert "check-timed-out" in result.stdout
    assert "calling hash()" in result.stdout


def write_module(directory: Path, name: str, code: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(code))


@pytest.mark.parametrize(
    ("exit_call", "message"),
    [
        ("sys.exit(0)", "cannot import 'exits': SystemExit: 0"),
        ("os._exit(0)", "importing and calling exits:key ended the process"),
    ],
)
def test_a_module_that_exits_on_import_is_not_a_working_key(
    tmp_path: Path, exit_call: str, message: str
) -> None:
    write_module(tmp_path, "exits", f"import os, sys\n{exit_call}\nkey = 1\n")
    result = mpguide("check", "exits:key", cwd=tmp_path)
    assert result.returncode == 3
    assert message in result.stderr
    assert result.stdout == ""


def test_json_output_is_alone_on_stdout(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "noisy",
        """
        print("the module prints while imported")

        class Key:
            def __eq__(self, other):
                return isinstance(other, Key)

            def __hash__(self):
                print("__hash__ prints too")
                return 1

            def __reduce__(self):
                print("so does __reduce__")
                return (Key, ())

        key = Key()
        """,
    )
    result = mpguide("check", "--json", "--no-call", "noisy:key", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
    assert "the module prints while imported" in result.stderr
    assert "__hash__ prints too" in result.stderr


def test_a_non_ascii_key_prints_under_the_c_locale(tmp_path: Path) -> None:
    write_module(tmp_path, "accents", "key = 'Zoë ☃'\n")
    env = {"LC_ALL": "C", "PYTHONIOENCODING": "ascii"}
    result = mpguide("check", "accents:key", cwd=tmp_path, env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Zo\\xeb \\u2603" in result.stdout


@pytest.mark.parametrize(
    ("stuck_in", "code"),
    [
        ("importing", "import time\ntime.sleep(600)\nkey = 1\n"),
        (
            "calling repr()",
            """
            class SlowRepr:
                def __repr__(self):
                    while True:
                        pass

            key = SlowRepr()
            """,
        ),
        (
            "calling hash()",  # the fresh interpreter stuck in C code is killed
            """
            import re

            class RegexHash:
                def __eq__(self, other):
                    return isinstance(other, RegexHash)

                def __hash__(self):
                    # catastrophic backtracking: one C call that holds the GIL
                    return hash(bool(re.match(r"(a+)+$", "a" * 64 + "b")))

            key = RegexHash()
            """,
        ),
    ],
    ids=["import", "repr", "regex-in-hash"],
)
def test_the_timeout_covers_the_whole_check(
    tmp_path: Path, stuck_in: str, code: str
) -> None:
    write_module(tmp_path, "stuck", code)
    started = time.monotonic()
    result = mpguide("check", "--timeout", "3", "--no-call", "stuck:key", cwd=tmp_path)
    assert time.monotonic() - started < 30
    assert result.returncode == 4, result.stdout + result.stderr
    assert "check-timed-out" in result.stdout
    assert stuck_in in result.stdout


def test_several_targets_get_one_report_each_and_the_worst_status() -> None:
    targets = ["sample_keys:make_frozen_id", "sample_keys:make_user", "no_such:thing"]
    result = mpguide("check", "--json", *targets)
    assert result.returncode == 3
    entries = json.loads(result.stdout)
    assert [entry["target"] for entry in entries] == targets
    assert [entry["ok"] for entry in entries] == [True, False, False]
    assert entries[1]["findings"][0]["problem"] == "identity-equality"
    assert "cannot import 'no_such'" in entries[2]["error"]
    text = mpguide("check", *targets[:2])
    assert text.returncode == 1
    assert text.stdout.count("Works as a key") == 1
    assert text.stdout.count("Does not work as a key") == 1


def test_a_key_that_ends_the_process_examining_it_is_the_keys_fault(
    tmp_path: Path,
) -> None:
    write_module(
        tmp_path,
        "dies",
        """
        import os

        class Fatal:
            def __eq__(self, other):
                return isinstance(other, Fatal)

            def __hash__(self):
                os._exit(7)

        key = Fatal()
        """,
    )
    result = mpguide("check", "--json", "--no-call", "dies:key", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["problem"] == "ends-process"
    assert "ended while calling hash() (exit status 7)" in finding["summary"]


def test_a_property_that_raises_is_a_target_that_cannot_be_loaded(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "props",
        """
        class Holder:
            @property
            def key(self):
                raise ValueError("not configured")

        holder = Holder()
        """,
    )
    result = mpguide("check", "props:holder.key", cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "reading 'key' raised ValueError: not configured" in result.stderr


def test_the_report_says_which_object_was_checked() -> None:
    called = json.loads(mpguide("check", "--json", "sample_keys:make_frozen_id").stdout)
    assert called["checked"] == "sample_keys:make_frozen_id()"
    named = mpguide("check", "--json", "--no-call", "sample_keys:make_frozen_id").stdout
    assert json.loads(named)["checked"] == "sample_keys:make_frozen_id"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[1].startswith("Z"))


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_manager_started_at_import_neither_hangs_nor_outlives_the_command(
    tmp_path: Path,
) -> None:
    write_module(
        tmp_path,
        "mgrmod",
        """
        import multiprocessing, os

        manager = multiprocessing.Manager()
        with open("server.pid", "w") as file:
            file.write(str(manager._process.pid))
        KEY = ("a", 1)
        """,
    )
    try:
        result = mpguide(
            "check", "--json", "--timeout", "60", "mgrmod:KEY", cwd=tmp_path, timeout=50
        )
        server = int((tmp_path / "server.pid").read_text())
        deadline = time.monotonic() + 10
        while alive(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(server)
    finally:  # a failing check must not leave the server running either
        if (tmp_path / "server.pid").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int((tmp_path / "server.pid").read_text()), signal.SIGKILL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_a_non_daemon_thread_started_at_import_does_not_hold_the_check(
    tmp_path: Path,
) -> None:
    write_module(
        tmp_path,
        "threaded",
        """
        import threading, time

        threading.Thread(target=time.sleep, args=(600,)).start()
        KEY = ("a", 1)
        """,
    )
    result = mpguide("check", "--timeout", "60", "threaded:KEY", cwd=tmp_path, timeout=50)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not hasattr(os, "setsid"), reason="POSIX sessions")
def test_the_timeout_holds_when_the_target_forks_a_new_session(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "escapes",
        """
        import os, time

        if os.fork() == 0:
            os.setsid()
            with open("escaped.pid", "w") as file:
                file.write(str(os.getpid()))
            time.sleep(120)
            os._exit(0)
        KEY = ("a", 1)
        """,
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    with (tmp_path / "out").open("w") as out, (tmp_path / "err").open("w") as err:
        command = [
            sys.executable,
            "-m",
            "mpguide",
            "check",
            "--timeout",
            "20",
            "escapes:KEY",
        ]
        child = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=err, env=env)
        try:
            assert child.wait(timeout=40) == 0, (tmp_path / "err").read_text()
        finally:
            child.kill()
            child.wait()
            deadline = time.monotonic() + 10
            while not (tmp_path / "escaped.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            os.kill(int((tmp_path / "escaped.pid").read_text()), 9)
    assert "Works as a key" in (tmp_path / "out").read_text()


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


def test_a_key_that_ends_the_process_pickling_it_is_the_keys_fault(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "exits_pickled",
        """
        import os

        class Key:
            def __reduce__(self):
                os._exit(3)

        key = Key()
        """,
    )
    result = mpguide("check", "--json", "--no-call", "exits_pickled:key", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["problem"] == "ends-process"
    assert "The process pickling it ended (exit status 3)" in finding["summary"]


def processes_with(marker: str) -> list[int]:
    """The pids of this user's processes whose environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_no_fresh_interpreter_outlives_a_timed_out_check(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "spins",
        """
        class Spins:
            def __eq__(self, other):
                return isinstance(other, Spins)

            def __hash__(self):
                while True:
                    pass

        class Spins2(Spins):
            pass
        """,
    )
    marker = f"MPGUIDE_TEST_RUN={os.getpid()}-{time.time_ns()}"
    name, _, value = marker.partition("=")
    try:
        result = mpguide(
            "check",
            "--timeout",
            "5",
            "spins:Spins",
            "spins:Spins2",
            cwd=tmp_path,
            timeout=60,
            env_extra={name: value},
        )
        assert result.returncode == 4, result.stdout + result.stderr
        deadline = time.monotonic() + 5
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(marker) == []
    finally:  # only the processes this test started carry the marker
        for pid in processes_with(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_key_that_ends_the_check_fails_alone(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "enders",
        """
        import os

        class ExitsPickled:
            def __reduce__(self):
                os._exit(9)

        def exits_pickled():
            return ExitsPickled()
        """,
    )
    write_module(tmp_path, "exits_imported", "import os\nos._exit(0)\n")
    targets = [
        "sample_keys:make_frozen_id",
        "enders:exits_pickled",
        "exits_imported:key",
        "sample_keys:make_user",
    ]
    env = {"PYTHONPATH": str(TESTS)}
    result = mpguide("check", "--json", *targets, cwd=tmp_path, env_extra=env)
    assert result.returncode == 3, result.stdout + result.stderr
    good, pickled, imported, user = json.loads(result.stdout)
    assert good["ok"] is True
    assert good["checked"] == "sample_keys:make_frozen_id()"
    assert pickled["checked"] == "enders:exits_pickled()"
    (finding,) = pickled["findings"]
    assert "The process pickling it ended (exit status 9)" in finding["summary"]
    assert "importing and calling exits_imported:key ended" in imported["error"]
    assert user["findings"][0]["problem"] == "identity-equality"
