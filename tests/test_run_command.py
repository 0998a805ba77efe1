"""``python -m mpguide run``: real programs, run as subprocesses, per start method."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import assert_no_leaks

from mpguide import bench, run
from mpguide.sphinxext.gallery_processes import validate_start_method

# A program that reports what its default start method is and what it does.
REPORTER = """
import multiprocessing, sys

def square(n):
    return n * n

if __name__ == "__main__":
    print("before anything:", multiprocessing.get_start_method(allow_none=True))
    with multiprocessing.Pool(1) as pool:
        print("pool squares:", pool.map(square, [2, 3]))
    print("default now:", multiprocessing.get_start_method())
    process = multiprocessing.Process(target=lambda: None)
    try:
        process.start()
        process.join()
        print("lambda target: ran, exit code", process.exitcode)
    except Exception as error:
        print("lambda target:", type(error).__name__, error)
    print("argv:", sys.argv)
    sys.exit(int(sys.argv[-1]))
"""

# The program chooses for itself: set_start_method without force, and get_context.
CHOOSER = """
import multiprocessing

if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
    print("set_start_method('spawn'):", multiprocessing.get_start_method())
    print("get_context('fork'):", multiprocessing.get_context("fork").get_start_method())
    with multiprocessing.Manager() as manager:
        print("manager works:", manager.list([1]) [:])
"""


def mpguide_run(
    *arguments: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -X dev -m mpguide run ARGUMENTS`` in ``cwd``, killed after ``timeout``."""
    command = [sys.executable, "-X", "dev", "-W", "error::ResourceWarning"]
    command += ["-m", "mpguide", "run", *arguments]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pytest.fail(f"mpguide run {' '.join(arguments)} did not finish in {timeout} s")
    assert_no_leaks(stderr, f"mpguide run {' '.join(arguments)}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_the_method_becomes_the_default_and_argv_and_status_pass_through(
    tmp_path: Path, start_method: str
) -> None:
    write(tmp_path / "reporter.py", REPORTER)
    done = mpguide_run(
        "--start-method",
        start_method,
        "reporter.py",
        "--start-method",
        "-m",
        "7",
        cwd=tmp_path,
    )
    assert done.returncode == 7, done.stderr
    lines = done.stdout.splitlines()
    assert "before anything: None" in lines
    assert "pool squares: [4, 9]" in lines
    assert f"default now: {start_method}" in lines
    assert "argv: ['reporter.py', '--start-method', '-m', '7']" in lines
    if start_method == "fork":
        assert "lambda target: ran, exit code 0" in lines
    else:  # spawn and forkserver must pickle the target: a lambda cannot be
        lambda_line = next(line for line in lines if line.startswith("lambda target:"))
        assert "pickle" in lambda_line and "lambda" in lambda_line


def test_the_programs_own_choice_wins(tmp_path: Path, start_method: str) -> None:
    write(tmp_path / "chooser.py", CHOOSER)
    done = mpguide_run("--start-method", start_method, "chooser.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "set_start_method('spawn'): spawn" in done.stdout
    assert "get_context('fork'): fork" in done.stdout
    assert "manager works: [1]" in done.stdout
    assert "context has already been set" not in done.stderr


def test_a_package_runs_with_dash_m_under_forkserver(tmp_path: Path) -> None:
    write(tmp_path / "app" / "__init__.py", "")
    write(
        tmp_path / "app" / "work.py",
        """
        def double(n):
            return 2 * n
        """,
    )
    write(
        tmp_path / "app" / "__main__.py",
        """
        import multiprocessing, sys
        from concurrent.futures import ProcessPoolExecutor
        from app.work import double

        if __name__ == "__main__":
            with ProcessPoolExecutor(max_workers=1) as pool:
                print("doubled:", list(pool.map(double, [1, 2])))
            print("method:", multiprocessing.get_start_method(), "argv:", sys.argv[1:])
        """,
    )
    done = mpguide_run("--start-method", "forkserver", "-m", "app", "x", "-y", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "doubled: [2, 4]" in done.stdout
    assert "method: forkserver argv: ['x', '-y']" in done.stdout


def test_the_programs_own_error_is_its_own(tmp_path: Path) -> None:
    write(tmp_path / "broken.py", "raise LookupError('from the program')\n")
    done = mpguide_run("--start-method", "spawn", "broken.py", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "LookupError: from the program"
    assert "mpguide run: error" not in done.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--start-method", "fork-exec", "x.py"], "unknown start method 'fork-exec'"),
        (["--start-method", "spawn", "missing.py"], "can't open file 'missing.py'"),
        (["--start-method", "spawn", "-m", "no_such_module"], "no module named"),
    ],
)
def test_bad_input_gets_one_line_and_status_2(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    write(tmp_path / "x.py", "print('must not run')\n")
    done = mpguide_run(*arguments, cwd=tmp_path)
    assert done.returncode == run.EXIT_USAGE
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("python -m mpguide run: error: ") and message in line


def test_a_method_the_platform_lacks_is_refused_before_the_program_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path / "x.py", "raise SystemExit('must not run')\n")
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    before = multiprocessing.get_start_method(allow_none=True)
    status = run.main(["--start-method", "fork", str(script)])
    assert status == run.EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert "start method 'fork' is not available on this platform" in line
    assert multiprocessing.get_start_method(allow_none=True) == before  # left as it was


@pytest.mark.parametrize("method", ["fork-exec", "fork"])
def test_the_gallery_refuses_a_start_method_as_the_command_does(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """One check: unknown ('fork-exec') and missing here ('fork') alike."""
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with pytest.raises(run.StartMethodError) as command:
        run.check_start_method(method)
    with pytest.raises(run.StartMethodError) as gallery:
        validate_start_method(method)
    assert str(gallery.value) == (
        f"{command.value} (from mpguide_start_method or MPGUIDE_START_METHOD)"
    )
    assert validate_start_method(None) == "spawn"


def test_the_benchmark_refuses_a_start_method_the_platform_lacks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(bench, "run", lambda *args, **kwargs: pytest.fail("it ran"))
    with pytest.raises(SystemExit) as exited:
        bench.main(["--start-method", "fork"])
    assert exited.value.code == 2
    assert "start method 'fork' is not available on this platform" in (
        capsys.readouterr().err
    )


def test_the_program_starts_after_our_options_only() -> None:
    own, program = run.split_arguments(
        ["--start-method=spawn", "tool.py", "--start-method", "fork", "-m", "x"]
    )
    assert own == ["--start-method=spawn"]
    assert program == ["tool.py", "--start-method", "fork", "-m", "x"]
    own, program = run.split_arguments(["--start-method", "spawn", "-mpkg.tool", "-h"])
    assert (own, program) == (["--start-method", "spawn", "-m", "pkg.tool"], ["-h"])


# Each frame is the program's: a traceback through two functions of its own.
FAILING = """
import multiprocessing

def inner():
    raise {error}

def outer():
    inner()

if __name__ == "__main__":
    multiprocessing.get_start_method()
    outer()
"""


@pytest.mark.parametrize(
    ("error", "status"),
    [("LookupError('from the program')", 1), ("KeyboardInterrupt", -signal.SIGINT)],
)
def test_a_programs_traceback_is_the_one_python_shows(
    tmp_path: Path, error: str, status: int
) -> None:
    write(tmp_path / "failing.py", FAILING.format(error=error))
    done = mpguide_run("--start-method", "spawn", "failing.py", cwd=tmp_path)
    as_script = subprocess.run(
        [sys.executable, "-X", "dev", "failing.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert as_script.returncode == status  # the reference: python itself
    assert (done.returncode, done.stderr) == (status, as_script.stderr)


def test_a_modules_traceback_has_no_frame_of_the_command(tmp_path: Path) -> None:
    write(tmp_path / "failing.py", FAILING.format(error="KeyboardInterrupt"))
    done = mpguide_run("--start-method", "forkserver", "-m", "failing", cwd=tmp_path)
    assert done.returncode == -signal.SIGINT
    files = [line for line in done.stderr.splitlines() if line.startswith("  File ")]
    assert len(files) == 3 and all("failing.py" in line for line in files), done.stderr


def test_a_package_without_main_is_one_line_as_python_says(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "__init__.py", "print('imported')\n")
    done = mpguide_run("--start-method", "spawn", "-m", "pkg", cwd=tmp_path)
    assert done.returncode == run.EXIT_USAGE
    assert done.stderr.splitlines() == [
        "python -m mpguide run: error: No module named pkg.__main__; 'pkg' is a "
        "package and cannot be directly executed"
    ]
    assert done.stdout == ""  # found without importing the package


def test_dash_c_runs_code_as_python_dash_c_does(tmp_path: Path) -> None:
    code = "import multiprocessing as mp, sys; print(mp.get_start_method(), sys.argv)"
    done = mpguide_run("--start-method", "forkserver", "-c", code, "a", "-m", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "forkserver ['-c', 'a', '-m']\n"


def test_pytest_runs_under_run_with_warnings_as_errors(tmp_path: Path) -> None:
    """pytest marks mpguide's package for assertion rewriting (it has a pytest11
    entry point) and warns that it was imported already: an error here."""
    settings = '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'
    write(tmp_path / "pyproject.toml", settings)
    write(
        tmp_path / "test_method.py",
        """
        import multiprocessing

        def test_method():
            assert multiprocessing.get_start_method() == "forkserver"
        """,
    )
    pytest_command = ["-m", "pytest", "-p", "no:cacheprovider"]
    done = mpguide_run("--start-method", "forkserver", *pytest_command, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
