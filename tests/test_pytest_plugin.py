"""``pytest --mp-start-method``: a sample project run by pytester under each method."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

# Tests that pass under fork, Linux's default before Python 3.14, and fail
# under forkserver (3.14's default) and spawn (macOS, Windows).
FORK_ONLY_TESTS = """
import multiprocessing

SETTINGS = {"mode": "default"}


def read_mode(_):
    return SETTINGS["mode"]


def test_lambda_as_process_target():
    process = multiprocessing.Process(target=lambda: None)
    process.start()
    process.join()
    assert process.exitcode == 0


def test_module_global_set_at_run_time():
    SETTINGS["mode"] = "set at run time"
    with multiprocessing.Pool(1) as pool:
        assert pool.map(read_mode, [0]) == ["set at run time"]
"""

# Which start method each entry point uses when the code chooses none.
DEFAULTS_REPORT = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def process_class():
    return type(multiprocessing.current_process()).__name__


def test_report_defaults():
    print("\\nbefore any use:", multiprocessing.get_start_method(allow_none=True))
    with ProcessPoolExecutor(max_workers=1) as pool:
        worker = pool.submit(multiprocessing.get_start_method).result()
    print("ProcessPoolExecutor worker:", worker)
    with ProcessPoolExecutor(max_workers=1, max_tasks_per_child=1) as pool:
        recycled = pool.submit(process_class).result()
    print("ProcessPoolExecutor(max_tasks_per_child=1) worker:", recycled)
    with multiprocessing.Manager() as manager:
        print("Manager works:", manager.list([1])[:])
    print("default after use:", multiprocessing.get_start_method())
"""

# Code that chooses its own method, as on a platform whose default it is.
OWN_CHOICE = """
import multiprocessing


def test_own_choice_wins():
    multiprocessing.set_start_method("spawn")  # no force: nothing was set before
    assert multiprocessing.get_context().get_start_method() == "spawn"
    assert multiprocessing.get_context("fork").get_start_method() == "fork"
"""


def run_sample(pytester: pytest.Pytester, *options: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-s", "-p", "no:cacheprovider", *options, timeout=180
    )


def test_fork_only_tests_pass_under_fork(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=FORK_ONLY_TESTS)
    result = run_sample(pytester, "--mp-start-method=fork")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["multiprocessing default start method: fork*"])


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_fork_only_tests_fail_and_the_output_names_the_cause(
    pytester: pytest.Pytester, method: str
) -> None:
    pytester.makepyfile(test_sample=FORK_ONLY_TESTS)
    result = run_sample(pytester, f"--mp-start-method={method}")
    result.assert_outcomes(failed=2)
    lambda_failure = re.search(
        r"_ test_lambda_as_process_target _+\n(.*?)\n_+ test_", result.stdout.str(), re.S
    )
    assert lambda_failure, result.stdout.str()
    errors = [
        line for line in lambda_failure.group(1).splitlines() if line.startswith("E ")
    ]
    # The error names the lambda; the traceback, the pickling that failed (the
    # wording varies: "Can't pickle local object" up to 3.12, "Can't get" on 3.13).
    assert any("<lambda>" in line for line in errors), errors
    assert "pickle" in lambda_failure.group(1).lower()
    result.stdout.re_match_lines(
        [r".*" + re.escape("assert ['default'] == ['set at run time']")]
    )
    result.stdout.fnmatch_lines([f"multiprocessing default start method: {method}*"])


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_code_that_chooses_nothing_gets_the_option(
    pytester: pytest.Pytester, method: str
) -> None:
    pytester.makepyfile(test_defaults=DEFAULTS_REPORT)
    result = run_sample(pytester, f"--mp-start-method={method}")
    result.assert_outcomes(passed=1)
    expected = [
        "before any use: None",
        f"ProcessPoolExecutor worker: {method}",
        "ProcessPoolExecutor(max_tasks_per_child=1) worker: SpawnProcess",  # 3.11-3.13
        "Manager works: [1]",
        f"default after use: {method}",
    ]
    result.stdout.re_match_lines([f".*{re.escape(line)}$" for line in expected])


def test_the_codes_own_choice_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own_choice=OWN_CHOICE)
    run_sample(pytester, "--mp-start-method=forkserver").assert_outcomes(passed=1)


def test_without_the_option_the_plugin_does_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_defaults=DEFAULTS_REPORT)
    result = run_sample(pytester)
    result.assert_outcomes(passed=1)
    platform_default = "fork"  # Linux before 3.14, where these tests run
    result.stdout.fnmatch_lines([f"default after use: {platform_default}"])
    assert "multiprocessing default start method" not in result.stdout.str()


def test_an_unknown_method_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=FORK_ONLY_TESTS)
    result = run_sample(pytester, "--mp-start-method=threads")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mp-start-method: invalid choice: 'threads'*"])


def test_a_method_the_platform_lacks_is_a_usage_error(pytester: pytest.Pytester) -> None:
    # A plugin given with -p is imported before the option acts (before conftests).
    pytester.makepyfile(
        windows_like="""
        import multiprocessing
        multiprocessing.get_all_start_methods = lambda: ["spawn"]  # as on Windows
        """
    )
    pytester.makepyfile(test_sample=FORK_ONLY_TESTS)
    result = run_sample(pytester, "-p", "windows_like", "--mp-start-method=forkserver")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--mp-start-method: start method 'forkserver' is not available on this platform*"]
    )


def test_a_method_the_root_conftest_chooses_at_import_is_kept(
    pytester: pytest.Pytester,
) -> None:
    """As on a platform whose default is forkserver: the conftest's choice wins."""
    pytester.makeconftest(
        """
        import multiprocessing
        multiprocessing.set_start_method("fork", force=True)
        """
    )
    pytester.makepyfile(
        test_m="""
        import multiprocessing

        def test_m():
            assert multiprocessing.get_start_method() == "fork"
        """
    )
    run_sample(pytester, "--mp-start-method=forkserver").assert_outcomes(passed=1)


SUBPROCESSES = """
import multiprocessing, subprocess, sys

CODE = "import multiprocessing; print(multiprocessing.get_start_method())"


def start_method_of(*command):
    done = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_in_this_process():
    assert multiprocessing.get_start_method() == "forkserver"


def test_a_python_subprocess_has_the_platforms_default():
    assert start_method_of("-c", CODE) == "fork"  # Linux before 3.14


def test_a_python_subprocess_under_mpguide_run_has_the_method():
    run = ["-m", "mpguide", "run", "--start-method", "forkserver"]
    assert start_method_of(*run, "-c", CODE) == "forkserver"
"""


def test_xdist_workers_get_the_option_and_subprocesses_do_not(
    pytester: pytest.Pytester,
) -> None:
    """What the reference page says: pytest -n 2 workers are given the option; a
    Python subprocess a test starts is not, unless run under mpguide run."""
    pytester.makepyfile(test_subprocesses=SUBPROCESSES)
    result = run_sample(pytester, "-n", "2", "--mp-start-method=forkserver")
    result.assert_outcomes(passed=3)


def test_dash_p_mpguide_loads_the_plugin_where_autoloading_is_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_defaults=DEFAULTS_REPORT)
    result = run_sample(pytester, "--mp-start-method=spawn")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # the option is unknown
    result = run_sample(pytester, "-p", "mpguide.pytest_plugin", "--mp-start-method=spawn")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*default after use: spawn"])
