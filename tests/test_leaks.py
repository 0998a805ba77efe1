"""No process outlives the docs build, nothing leaks, and the checks can fail."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import (
    ROOT,
    assert_no_leaks,
    processes_with_marker,
    run_script,
    settled_environ,
)
from docs_site import build_site, copy_site
from test_gallery_cards import check_cards

from mpguide.sphinxext.error_index import CACHE_NAME as ERROR_INDEX_CACHE
from mpguide.sphinxext.runs import CACHE_VARIABLE

pytest_plugins = ["pytester"]

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="finds processes through /proc (Linux)"
)


def wait_for_none(marker: str, seconds: float = 10) -> dict[int, str]:
    deadline = time.monotonic() + seconds
    while (left := processes_with_marker(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


# Pitfalls 3 and 4: the two whose failure a hash salt shared by all runs hides.
SALTED_PITFALLS = "../examples/pitfalls/plot_0[34]_*.py"


def private_cache(env: Mapping[str, str], folder: Path) -> str:
    """A cache of the build's own, empty but for the error index's shared results.

    The matrix in it runs afresh; the error index, which the hermetic build
    does not test, reuses what another build ran.
    """
    folder.mkdir()
    shared = Path(env.get(CACHE_VARIABLE) or folder) / ERROR_INDEX_CACHE
    if shared.is_file():
        shutil.copyfile(shared, folder / ERROR_INDEX_CACHE)
    return str(folder)


# Each build starts first on a worker of its own. The fork and forkserver builds
# read the matrix's and the error index's runs from the shared cache, which the
# session's build without examples has filled (conftest.site_without_examples),
# so they no longer take turns at filling it; the spawn build's matrix is its own.
@needs_proc
@pytest.mark.parametrize(
    "start_method",
    [
        pytest.param(method, marks=pytest.mark.longest(f"full-site build, {method}"))
        for method in ("fork", "forkserver", "spawn")
    ],
)
@pytest.mark.timeout(1800)
def test_a_full_docs_build_leaves_no_process_and_leaks_nothing(
    tmp_path: Path, start_method: str, site_without_examples: Path
) -> None:
    docs = copy_site(ROOT / "docs", tmp_path)
    token = uuid.uuid4().hex
    env = {**os.environ, "MPGUIDE_BUILD_MARKER": token}
    settings = {}
    if start_method == "spawn":
        # The matrix runs afresh, after the Dask example ran in the build process
        # (on this interpreter alone, and only the two pitfalls that a shared
        # hash salt would hide, to keep it short).
        env[CACHE_VARIABLE] = private_cache(env, tmp_path / "cache")
        env.pop("CI", None)
        env["MPGUIDE_PYTHONS"] = sys.executable
        settings["mpguide_matrix_examples"] = SALTED_PITFALLS
    result = build_site(docs, start_method, env=env, settings=settings)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_leaks(result.stderr, "the docs build")
    assert wait_for_none(f"MPGUIDE_BUILD_MARKER={token}") == {}
    assert (docs / "_build" / "html" / "explanation" / "start-method-matrix.html").exists()
    check_cards(docs, tmp_path / "cards")
    matrix = (docs / "explanation" / "_generated" / "start-method-matrix.md").read_text()
    for pitfall in ("plot_03_salted_hash", "plot_04_cached_hash"):
        fork, spawn, forkserver = matrix_row(matrix, pitfall)
        assert "No failure" in fork and "Fails" not in fork, fork
        for cell in (spawn, forkserver):
            assert "Fails" in cell and "No failure" not in cell, cell


def matrix_row(matrix: str, stem: str) -> list[str]:
    """The fork, spawn and forkserver cells of one pitfall's row."""
    block = matrix.split(f"_{stem}.py>`\n", 1)[1].split("\n* - ", 1)[0].split("\n:::")[0]
    cells = re.split(r"^  - ", block, flags=re.MULTILINE)[1:]  # a cell may hold a list
    assert len(cells) == 3, block
    return cells


@needs_proc
def test_the_process_check_finds_a_process_left_running() -> None:
    token = uuid.uuid4().hex
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "MPGUIDE_PROBE": token},
    )
    try:
        assert list(processes_with_marker(f"MPGUIDE_PROBE={token}")) == [sleeper.pid]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert wait_for_none(f"MPGUIDE_PROBE={token}") == {}


@needs_proc
def test_the_process_check_waits_for_an_exec_under_way() -> None:
    """A session that ends right after its last test started a process must
    still see it, on a busy machine too, where a process that ``Popen`` has
    just returned shows an empty environment for a while: read at once, 20
    such processes all show theirs."""
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(2 * (os.cpu_count() or 1))
    ]
    environments = []
    try:
        for _ in range(20):
            sleeper = subprocess.Popen(["sleep", "30"], env={"PROBE": "1"})
            try:
                environments.append(settled_environ(Path("/proc") / str(sleeper.pid)))
            finally:
                sleeper.kill()
                sleeper.wait()
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert environments == [b"PROBE=1\0"] * 20


LEAVES_A_PROCESS = """
import subprocess
from pathlib import Path

SLEEPERS = []


def test_leaves_a_process_running():
    SLEEPERS.append(subprocess.Popen(["sleep", "25"]))
    Path({pid_file!r}).write_text(str(SLEEPERS[0].pid))
"""
LEAVES_NOTHING = """
import subprocess


def test_waits_for_its_process():
    subprocess.run(["sleep", "0.1"], check=True)
"""


def kill_sleeper(pid_file: Path) -> int:
    """Kill the ``sleep 25`` whose pid the inner session wrote, and only it."""
    pid = int(pid_file.read_text())
    try:
        if (Path("/proc") / str(pid) / "cmdline").read_bytes() == b"sleep\x0025\x00":
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass  # already gone
    return pid


@needs_proc
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_process_left_running_fails_the_session(
    pytester: pytest.Pytester, workers: str
) -> None:
    """With pytest-xdist's workers (``-n 2``) as without (``-n 0``)."""
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pid_file = pytester.path / "sleeper.pid"
    pytester.makepyfile(test_leaves=LEAVES_A_PROCESS.format(pid_file=str(pid_file)))
    try:
        result = pytester.runpytest_subprocess("-n", workers, timeout=120)
    finally:
        pid = kill_sleeper(pid_file) if pid_file.exists() else None
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stderr.fnmatch_lines(
        ["processes left running by the test session:", f"  {pid}: sleep 25"]
    )


@needs_proc
def test_a_session_under_xdist_that_leaves_nothing_passes(
    pytester: pytest.Pytester,
) -> None:
    """The check, run by the controller, takes neither its workers nor their
    helpers for processes left running."""
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_clean=LEAVES_NOTHING)
    result = pytester.runpytest_subprocess("-n", "2", timeout=120)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()


def test_the_leak_check_catches_a_leaked_semaphore(tmp_path: Path) -> None:
    script = tmp_path / "leaks.py"
    script.write_text(  # os._exit skips the lock's cleanup: the tracker sees a leak
        "import multiprocessing, os\n"
        "lock = multiprocessing.get_context('spawn').Lock()\n"
        "os._exit(0)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    with pytest.raises(AssertionError, match="leaked"):
        assert_no_leaks(result.stderr, "leaks.py")


def test_the_leak_check_catches_an_unclosed_file(tmp_path: Path) -> None:
    script = tmp_path / "unclosed.py"
    script.write_text(f"open({str(script)!r})\n")
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    with pytest.raises(AssertionError, match="ResourceWarning"):
        assert_no_leaks(result.stderr, "unclosed.py")


HANGING_EXAMPLE = """
import multiprocessing, os, time
from concurrent.futures import ProcessPoolExecutor

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(time.sleep, 3600).result()
"""


@needs_proc
def test_a_hanging_example_fails_its_test_fast_naming_it_and_leaves_nothing(
    tmp_path: Path, start_method: str
) -> None:
    script = tmp_path / "plot_hangs.py"
    script.write_text(HANGING_EXAMPLE)
    token = uuid.uuid4().hex
    env = {**os.environ, "MPGUIDE_PROBE": token}
    started = time.monotonic()
    with pytest.raises(
        pytest.fail.Exception, match=rf"plot_hangs.py under {start_method} "
    ):
        run_script(script, start_method, timeout=5, env=env)
    assert time.monotonic() - started < 30
    assert wait_for_none(f"MPGUIDE_PROBE={token}") == {}
