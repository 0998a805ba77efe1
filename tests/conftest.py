"""Shared fixtures: every start method, running files as scripts, leak checks.

Every script runs under ``python -X dev -W error::ResourceWarning`` (or, for a
script whose test asks, the warning and fault checks of that mode without
asyncio's debug mode), and fails its test if it reports an unclosed resource or
a leaked semaphore. The mode's debug allocator is left out: it checks how C
code uses memory, which no example has, and adds 15-20 % to a run's CPU time.
A docs build runs the start-method matrix's examples and the error index's
producers the same way; a run it saved is read, not made again
(:func:`run_example_ok`). Every process started during the session carries a
marker in its environment; when the session ends, any such process still
running fails the session.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from mpguide.run import START_METHODS
from mpguide.sphinxext import error_index, start_method_matrix
from mpguide.sphinxext.interpreters import Interpreter, find_interpreters, running
from mpguide.sphinxext.runs import (
    LEAK_SIGNS,
    SCRIPT_FLAGS,
    Job,
    package_digest,
    run_bounded,
)

ROOT = Path(__file__).resolve().parent.parent


def page_source(target: str) -> Path:
    """The source file of a ``{doc}`` target, or of a ``{ref}`` to a gallery page."""
    if gallery := re.fullmatch(
        r"sphx_glr_gallery_([a-z]+(?:_[a-z]+)*?)_(plot_\w+)\.py", target
    ):
        return ROOT / "examples" / gallery[1] / f"{gallery[2]}.py"
    return ROOT / "docs" / f"{target.lstrip('/')}.md"


# Every process the session starts inherits this marker. Under pytest-xdist the
# controller makes it and hands it to its workers (pytest_configure_node), so
# that the controller, which outlives them, finds what any worker left running.
SESSION_VARIABLE = "MPGUIDE_TEST_SESSION"
SESSION_MARKER = f"{SESSION_VARIABLE}={uuid.uuid4().hex}"
# Development mode's warning filter and fault handler, without its asyncio debug
# mode (which only -X dev or PYTHONASYNCIODEBUG turn on, in
# asyncio.coroutines._is_debug_mode, 3.11 to 3.13): for an event loop that
# debug mode slows down (Dask's, on CPython 3.13, about five times).
DEV_MODE_WITHOUT_ASYNCIO_DEBUG = (
    "-W", "default", "-W", "error::ResourceWarning", "-X", "faulthandler",
)  # fmt: skip


@pytest.fixture(params=START_METHODS)
def start_method(request: pytest.FixtureRequest) -> str:
    return request.param


def run_script(
    path: Path,
    start_method: str,
    *,
    timeout: float = 120,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    tolerated: re.Pattern[str] | None = None,
    asyncio_debug: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``python path`` as a reader would, with ``MPGUIDE_START_METHOD`` set.

    A script still running after ``timeout`` seconds is killed with every
    process it started, and the test fails naming it.
    """
    base = os.environ if env is None else env
    env = {**base, "MPGUIDE_START_METHOD": start_method, "MPLBACKEND": "Agg"}
    env.setdefault("PYTHONMALLOC", "pymalloc")  # not -X dev's debug allocator
    if asyncio_debug:
        command = [python, *SCRIPT_FLAGS, str(path)]
    else:
        command = [python, *DEV_MODE_WITHOUT_ASYNCIO_DEBUG, str(path)]
    try:
        result = run_bounded(command, cwd=cwd or path.parent, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"{path.name} under {start_method} did not finish within {timeout:g} s; "
            "it was killed with the processes it started"
        )
    assert_no_leaks(result.stderr, path.name, tolerated)
    return result


def run_example_ok(
    path: Path,
    start_method: str,
    *,
    env: dict[str, str] | None = None,
    tolerated: re.Pattern[str] | None = None,
    asyncio_debug: bool = True,
) -> str:
    """Run an example that must succeed and say which start method it used.

    With no settings of its own, a run that a docs build saved on this CPython
    version (the start-method matrix's, the error index's) is read instead of
    made again: the build ran the same file and package under the same flags,
    and failed on a non-zero exit or a leak, as this function does.
    """
    if env is None and tolerated is None and asyncio_debug:
        saved = saved_build_output(path, start_method)
        if saved is not None:
            assert f"start method: {start_method}" in saved, saved
            return saved
    result = run_script(
        path, start_method, env=env, tolerated=tolerated, asyncio_debug=asyncio_debug
    )
    assert result.returncode == 0, result.stderr
    assert f"start method: {start_method}" in result.stdout
    return result.stdout


@functools.cache
def this_package() -> str:
    return package_digest()


def saved_build_output(path: Path, start_method: str) -> str | None:
    """What a docs build's run of ``path`` under ``start_method`` on this CPython
    version printed, if the shared cache holds one."""
    job = Job(path, running(), start_method)
    for runner in (start_method_matrix.RUNNER, error_index.RUNNER):
        if (saved := runner.saved_output(job, this_package())) is not None:
            return saved
    return None


def line_after(label: str, output: str) -> str:
    """The rest of the line that starts with ``label``."""
    match = re.search(rf"^{re.escape(label)}\s*(.*)$", output, re.MULTILINE)
    assert match, f"no line starting with {label!r} in:\n{output}"
    return match.group(1)


def assert_no_leaks(
    stderr: str, what: str, tolerated: re.Pattern[str] | None = None
) -> None:
    """Fail if a run reported an unclosed resource or a leaked semaphore, other
    than a line that ``tolerated`` matches (for a library's own, named leak)."""
    signs = [
        line
        for line in stderr.splitlines()
        if any(s in line for s in LEAK_SIGNS) and not (tolerated and tolerated.search(line))
    ]
    assert not signs, f"{what} leaked: {signs}"


PF_KTHREAD = 0x00200000  # a kernel thread, in the flags of /proc/PID/stat


def stat_fields(entry: Path) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command's name, from the
    state (``fields[0]``), the parent (1) and the process group (2) on; the
    name, in parentheses, may itself hold spaces and parentheses."""
    return (entry / "stat").read_text().rsplit(") ", 1)[1].split()


def settled_environ(entry: Path, seconds: float = 2) -> bytes:
    """The environment of process ``entry``, waiting out an ``exec`` under way.

    ``Popen`` returns once ``exec`` has closed its pipe, before the kernel has
    set up the new environment: until then the process (neither a zombie nor a
    kernel thread, whose environment is empty for good) shows an empty one. On
    a loaded machine that lasts long enough for a check to miss a process just
    started (measured here: 426 reads right after ``Popen`` of 500 empty, with
    four busy loops on two CPUs).
    """
    deadline = time.monotonic() + seconds
    while not (environ := (entry / "environ").read_bytes()):
        fields = stat_fields(entry)
        gone_for_good = fields[0] in "ZX" or int(fields[6]) & PF_KTHREAD
        if gone_for_good or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return environ


def processes_with_marker(marker: str) -> dict[int, str]:
    """Other processes whose environment holds ``marker``, as pid -> command line."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in settled_environ(entry).split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(entry.name)] = command.decode(errors="replace").strip()
        except OSError:  # gone, or not ours to read
            continue
    found.pop(os.getpid(), None)
    return found


def processes_in_group(group: int) -> dict[int, str]:
    """The live processes of process group ``group``, as pid -> command line."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            state, _, pgrp = stat_fields(entry)[:3]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # gone meanwhile
            continue
        if int(pgrp) == group and state != "Z":
            found[int(entry.name)] = command.decode(errors="replace").strip()
    return found


def own_helpers(processes: dict[int, str]) -> set[int]:
    """This process's forkserver and resource tracker: they end when it does."""
    helpers = set()
    for pid, command in processes.items():
        try:
            parent = int(stat_fields(Path("/proc") / str(pid))[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and (
            "forkserver" in command or "resource_tracker" in command
        ):
            helpers.add(pid)
    return helpers


def pytest_configure(config: pytest.Config) -> None:
    global SESSION_MARKER
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        SESSION_MARKER = workerinput[SESSION_VARIABLE]
    os.environ[SESSION_VARIABLE] = SESSION_MARKER.split("=", 1)[1]
    config.addinivalue_line(
        "markers",
        "longest(batch): one of the longest tests; under pytest-xdist, tests with "
        "the same batch start one after another on one worker, other batches on others",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the longest tests first, one batch per worker.

    pytest-xdist's ``load`` scheduling gives each worker at first a run of
    consecutive tests, a quarter of its share: the batches go to the start of
    those runs. A long test that started last would leave the other workers
    idle until it ends; two in one run would wait on each other.
    """
    workers = getattr(config, "workerinput", {}).get("workercount")
    if not workers:
        return
    batches: dict[str, list[pytest.Item]] = {}
    rest = []
    for item in items:
        marker = item.get_closest_marker("longest")
        if marker:
            batches.setdefault(marker.args[0], []).append(item)
        else:
            rest.append(item)
    run = max(len(items) // workers // 4, 2)
    for worker, batch in enumerate(batches.values()):
        rest[(worker % workers) * run : (worker % workers) * run] = batch
    items[:] = rest


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """An xdist worker's processes carry the controller's marker."""
    node.workerinput[SESSION_VARIABLE] = SESSION_MARKER


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None]:
    """Fail the session if any process it started is still running.

    The check runs after every other ``pytest_sessionfinish``: pytest-xdist's
    controller stops its workers in its own, and a worker's exit status never
    reaches the controller, so a worker leaves the check to the controller.
    """
    yield
    if hasattr(session.config, "workerinput"):
        return
    if not Path("/proc/self/environ").exists():
        return  # no /proc to look in (macOS, Windows): nothing to check here
    deadline = time.monotonic() + 10
    while True:
        left = processes_with_marker(SESSION_MARKER)
        for pid in own_helpers(left):
            left.pop(pid)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if left:
        lines = "\n".join(f"  {pid}: {command}" for pid, command in sorted(left.items()))
        sys.stderr.write(f"\nprocesses left running by the test session:\n{lines}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def site_without_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs directory of one build of a copy of the site, examples not run.

    Built once per test session (pytest-xdist's workers share it). Its gallery
    holds the notebooks; and, since the start-method matrix and the error index
    run before any page is read, it fills their shared cache (every script on
    every interpreter; nothing to run when a docs build filled it already), so
    that the full-site builds that need those runs can go side by side.
    """
    # Imported here: test_leaks runs this file as the conftest of sessions of its
    # own, where the tests folder is not importable, and the gallery extension's
    # session runs tests with this conftest but without the site's dependencies.
    from docs_site import copy_site
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's directory, above each worker's own
    site = base / "site-without-examples"
    with FileLock(f"{site}.lock"):
        if not (site / "built").exists():
            shutil.rmtree(site, ignore_errors=True)
            docs = copy_site(ROOT / "docs", site)
            command = [
                sys.executable, "-m", "sphinx", "-q", "-b", "dummy", "-D", "plot_gallery=0",
                str(docs), str(docs / "_build" / "dummy"),
            ]  # fmt: skip
            env = {**os.environ, "MPGUIDE_START_METHOD": "spawn", "MPLBACKEND": "Agg"}
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, done.stderr[-3000:]
            (site / "built").touch()
    return site / "docs"


def none_moves_between_runs() -> bool:
    """Whether ``None`` sits at another address in each new interpreter.

    It does where the interpreter is loaded at a random address (a
    position-independent build, as pyenv's); Debian's non-PIE ``python3.11``
    keeps it in place. Up to 3.11 ``hash(None)`` comes from that address.
    """
    addresses = {
        subprocess.run(
            [sys.executable, "-c", "print(id(None))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for _ in range(3)
    }
    return len(addresses) > 1


def other_interpreters() -> list[Interpreter]:
    """The CPythons other than the running one; a test that needs one is skipped
    without, and fails under CI."""
    found = find_interpreters()[1:]
    if not found and os.environ.get("CI"):
        pytest.fail("CI must run with more than one CPython (see .ci/run)")
    if not found:
        pytest.skip("needs a second CPython on PATH (python3.N)")
    return found
