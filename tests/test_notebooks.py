"""Every gallery notebook runs top to bottom in a Jupyter kernel as its script does.

The notebooks come from the session's one build of a copy of the site with its
examples not executed (``site_without_examples``: executing them does not change
a notebook).
Each runs in a real IPython kernel of its own, with ``MPGUIDE_START_METHOD`` set
in the kernel's environment; it must print ``start method: <method>``, and a
pitfall must print the same verdicts as its script run under the same start
method on the same CPython (the start-method matrix's run of it, when a build
made one). The reproduce notebook ends in the report's ``KeyError``, as its page does.

On each CPython, each notebook runs under one method, in turn (notebook *i* under
method *i + minor version*, modulo 3), so that every notebook and every method run
on each CPython, and the three CPythons together run each notebook under every
method once. What a notebook adds to its script, the first cells that give new
processes a main file to import, rests on ``multiprocessing/spawn.py``, which is the
same file in CPython 3.11.7, 3.12.1 and 3.13.0 (``forkserver.py`` differs only in
running a forked child's ``atexit`` handlers, from 3.13); each version's own
behaviour under every method is what the tests of the scripts check.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest
from conftest import ROOT, START_METHODS, processes_in_group, run_example_ok
from nbclient import NotebookClient
from nbclient.util import run_sync

from mpguide.sphinxext.notebooks import (
    NotebookError,
    NotebookRewriter,
    check_notebooks,
    has_bootstrap,
    script_name,
)
from mpguide.sphinxext.start_method_matrix import Outcome

EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(
    path.relative_to(EXAMPLES).with_suffix(".ipynb").as_posix()
    for path in EXAMPLES.glob("*/plot_*.py")
)
ENDS_IN_ERROR = {"tutorial/plot_01_reproduce.ipynb": "KeyError"}
TRACKER_WAIT = 10.0  # seconds for a resource tracker to unlink what it holds and exit


def notebook_runs(version: tuple[int, int]) -> list[tuple[str, str]]:
    """(start method, notebook) pairs to run on CPython ``version``."""
    minor = version[1]
    return [
        (START_METHODS[(index + minor) % len(START_METHODS)], name)
        for index, name in enumerate(NOTEBOOKS)
    ]


NOTEBOOK_RUNS = notebook_runs(sys.version_info[:2])
CELL_TIMEOUT = 120
# A test that reads the notebooks may first wait for the session's site build,
# shared by every worker: on a cold cache it runs the start-method matrix and
# the error index on every interpreter, several minutes on 2 CPUs. Each cell
# keeps its own limit (CELL_TIMEOUT).
WAITS_FOR_THE_SITE = pytest.mark.timeout(1800)


@pytest.fixture(scope="session")
def gallery(site_without_examples: Path) -> Path:
    """The gallery directory of the session's build with examples not executed."""
    return site_without_examples / "gallery"


def explanation_title() -> str:
    text = (ROOT / "docs" / "explanation" / "main-module.md").read_text()
    return text.splitlines()[0].removeprefix("# ")


def written_script(notebook: dict[str, Any]) -> str:
    source = "".join(notebook["cells"][1]["source"])
    return source.split("\n", 1)[1]


@pytest.mark.parametrize("version", [(3, 11), (3, 12), (3, 13), (3, 14)])
def test_each_cpython_runs_every_notebook_and_every_start_method(
    version: tuple[int, int],
) -> None:
    runs = notebook_runs(version)
    assert Counter(name for _, name in runs) == dict.fromkeys(NOTEBOOKS, 1)
    assert {method for method, _ in runs} == set(START_METHODS)


def test_the_supported_cpythons_together_run_each_notebook_under_every_method() -> None:
    runs = Counter(run for minor in (11, 12, 13) for run in notebook_runs((3, minor)))
    assert runs == Counter(
        {(method, name) for method in START_METHODS for name in NOTEBOOKS}
    )


@WAITS_FOR_THE_SITE
def test_every_download_writes_its_example_script(gallery: Path) -> None:
    found = sorted(p.relative_to(gallery).as_posix() for p in gallery.rglob("*.ipynb"))
    assert found == NOTEBOOKS
    with zipfile.ZipFile(gallery / "gallery_jupyter.zip") as archive:
        assert sorted(archive.namelist()) == NOTEBOOKS
        for name in NOTEBOOKS:
            stem = Path(name).stem
            script = (gallery / name).with_suffix(".py").read_text()
            downloaded = json.loads((gallery / name).read_text())
            assert json.loads(archive.read(name)) == downloaded, name
            with zipfile.ZipFile((gallery / name).with_suffix(".zip")) as own:
                assert json.loads(own.read(f"{stem}.ipynb")) == downloaded, name
            assert has_bootstrap(downloaded, stem), name
            assert written_script(downloaded) == script, name
            assert script == (EXAMPLES / name).with_suffix(".py").read_text(), name
            main_cell = "".join(downloaded["cells"][2]["source"])
            assert f'Path("{script_name(stem)}")' in main_cell, name
            why = "".join(downloaded["cells"][0]["source"])
            assert explanation_title() in why, name


class Kernel:
    """One IPython kernel, with ``MPGUIDE_START_METHOD`` set, running in ``workdir``."""

    def __init__(
        self, start_method: str, workdir: Path, cell_timeout: float = CELL_TIMEOUT
    ) -> None:
        self.cell_timeout = cell_timeout
        self.used = False
        self.start_method = start_method
        self.workdir = workdir
        env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
        env.update(MPGUIDE_START_METHOD=start_method, MPLBACKEND="Agg")
        self.km = NotebookClient(nbformat.v4.new_notebook()).create_kernel_manager()
        run_sync(self.km.start_kernel)(env=env, cwd=str(workdir))
        self.connect()

    def connect(self) -> None:
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=60)

    def restart(self) -> None:
        """A new kernel process: nothing one notebook did reaches the next."""
        self.kc.stop_channels()
        self.end_processes()
        run_sync(self.km.restart_kernel)(now=True)
        self.connect()

    def end_processes(self) -> None:
        """SIGKILL the kernel and what it started, its resource trackers last.

        A restart ``now`` kills the kernel's process group at once, trackers
        included, and a tracker killed with the processes it serves leaves their
        semaphores in ``/dev/shm`` for good; once they have ended, it unlinks
        them and exits by itself.
        """
        group = self.km.provisioner.pgid  # the kernel leads a session of its own
        members = processes_in_group(group)
        trackers = {pid for pid, line in members.items() if "resource_tracker" in line}
        for pid in set(members) - trackers:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + TRACKER_WAIT
        while set(processes_in_group(group)) & trackers:
            assert time.monotonic() < deadline, (
                f"the kernel's resource tracker was still running {TRACKER_WAIT:.0f} s "
                "after the processes it serves had been killed"
            )
            time.sleep(0.02)

    def run(self, path: Path) -> tuple[str, list[tuple[int, str, str]]]:
        """Run the notebook at ``path`` from a fresh namespace.

        Returns what it printed and each error as (cell index, name, message).
        """
        notebook = nbformat.read(path, as_version=4)
        # Every notebook in a kernel of its own, as a reader opens it: a notebook
        # changes what %reset keeps (os.environ, which Dask's nanny changes, and
        # multiprocessing's start method, which a page on choosing one sets).
        if self.used:
            self.restart()
        self.used = True
        client = NotebookClient(
            notebook, km=self.km, timeout=self.cell_timeout, allow_errors=True
        )
        client.kc = self.kc
        client.execute()
        printed = []
        errors = []
        for index, cell in enumerate(notebook.cells):
            for output in cell.get("outputs", []):
                if output["output_type"] == "stream" and output["name"] == "stdout":
                    printed.append(output["text"])
                elif output["output_type"] == "error":
                    traceback = "\n".join(output["traceback"])
                    errors.append((index, output["ename"], traceback))
        return "".join(printed), errors

    def shutdown(self) -> None:
        self.kc.stop_channels()
        run_sync(self.km.shutdown_kernel)(now=False)


class KernelPerMethod(dict[str, Kernel]):
    """One kernel per start method, started when a test first asks for it."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.tmp_path_factory = tmp_path_factory

    def __missing__(self, method: str) -> Kernel:
        workdir = self.tmp_path_factory.mktemp(f"kernel-{method}")
        started = self[method] = Kernel(method, workdir)
        return started


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelPerMethod]:
    started = KernelPerMethod(tmp_path_factory)
    try:
        yield started
    finally:
        for kernel in started.values():
            kernel.shutdown()


# Semaphores that a spawn context does not unlink at once: a resource tracker
# holds them until the kernel that made them has ended.
SEMAPHORES_CELL = """
import multiprocessing
locks = [multiprocessing.get_context("spawn").Lock() for _ in range(16)]
print(*(lock._semlock.name for lock in locks))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="semaphores in /dev/shm")
def test_a_restart_between_notebooks_leaves_no_semaphore_behind(tmp_path: Path) -> None:
    path = tmp_path / "locks.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SEMAPHORES_CELL)])
    nbformat.write(notebook, path)
    kernel = Kernel("spawn", tmp_path)
    try:
        printed, errors = kernel.run(path)
        assert errors == [], errors
        files = [Path("/dev/shm") / f"sem.{name.lstrip('/')}" for name in printed.split()]
        assert len(files) == 16 and all(file.exists() for file in files), printed
        kernel.restart()
        assert [file.name for file in files if file.exists()] == []
    finally:
        kernel.shutdown()


@WAITS_FOR_THE_SITE
def test_without_its_first_cells_a_notebook_fails_under_spawn(
    gallery: Path, tmp_path: Path
) -> None:
    """What the first cells prevent: a spawned server cannot find the notebook's class."""
    notebook = nbformat.read(gallery / "tutorial/plot_02_why.ipynb", as_version=4)
    del notebook.cells[:3]
    path = tmp_path / "plot_02_why.ipynb"
    nbformat.write(notebook, path)
    kernel = Kernel("spawn", tmp_path, cell_timeout=60)
    try:
        printed, errors = kernel.run(path)
    finally:
        kernel.shutdown()
    assert "start method: spawn" in printed
    assert errors, printed
    # The Manager's server, a fresh interpreter, cannot unpickle __main__.User.
    (_, ename, traceback), *_ = errors
    assert ename == "RemoteError", traceback
    assert re.search(r"AttributeError: .*\bUser\b", ANSI.sub("", traceback)), traceback
    assert not (tmp_path / script_name("plot_02_why")).exists()


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def outcome_as_script(name: str, start_method: str) -> Outcome:
    """What the notebook's script reports under ``start_method`` on this interpreter:
    the start-method matrix's run saved by a build, or a run made now."""
    path = (EXAMPLES / name).with_suffix(".py")
    env = None
    if "PYTHONHASHSEED" in os.environ:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    return Outcome.parse(run_example_ok(path, start_method, env=env), name)


@WAITS_FOR_THE_SITE
@pytest.mark.parametrize(("method", "name"), NOTEBOOK_RUNS)
def test_notebook_runs_as_its_script(
    method: str, name: str, gallery: Path, kernels: KernelPerMethod
) -> None:
    kernel = kernels[method]
    path = kernel.workdir / Path(name).name
    path.write_bytes((gallery / name).read_bytes())
    printed, errors = kernel.run(path)
    cells = nbformat.read(gallery / name, as_version=4).cells
    last_code = max(i for i, cell in enumerate(cells) if cell.cell_type == "code")
    expected_error = ENDS_IN_ERROR.get(name)
    if expected_error is None:
        assert errors == [], ANSI.sub("", errors[0][2])
    else:
        assert [(i, ename) for i, ename, _ in errors] == [(last_code, expected_error)]
    assert f"start method: {kernel.start_method}\n" in printed, printed
    if name.startswith("pitfalls/"):
        notebook_outcome = Outcome.parse(printed, name)
        script_outcome = outcome_as_script(name, kernel.start_method)
        assert notebook_outcome.verdicts == script_outcome.verdicts
        assert notebook_outcome.reason == script_outcome.reason


def test_the_build_fails_when_sphinx_gallery_no_longer_saves_notebooks_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sphinx_gallery import gen_rst

    monkeypatch.delattr(gen_rst, "save_notebook")
    with pytest.raises(NotebookError, match=r"gen_rst\.save_notebook is missing"):
        NotebookRewriter().install()


def test_a_notebook_without_its_script_beside_it_fails_the_build(tmp_path: Path) -> None:
    rewriter = NotebookRewriter()
    notebook: dict[str, Any] = {"cells": []}
    with pytest.raises(NotebookError, match=r"without plot_x\.py next to it"):
        rewriter.rewrite(notebook, tmp_path / "plot_x.ipynb.new")
    (tmp_path / "plot_x.py").write_text("print('x')\n")
    rewriter.rewrite(notebook, tmp_path / "plot_x.ipynb.new")
    rewriter.rewrite(notebook, tmp_path / "plot_x.ipynb.new")  # once only
    assert has_bootstrap(notebook, "plot_x") and len(notebook["cells"]) == 3
    assert written_script(notebook) == "print('x')\n"


@pytest.mark.parametrize("gallery_dirs", [["gallery"], "gallery"], ids=["list", "str"])
def test_a_notebook_left_without_its_first_cells_fails_the_build(
    tmp_path: Path, gallery_dirs: list[str] | str
) -> None:
    """``gallery_dirs`` as a list or, as sphinx-gallery's default is, a string."""
    gallery = tmp_path / "gallery" / "topic"
    gallery.mkdir(parents=True)
    (gallery / "plot_old.ipynb").write_text(json.dumps({"cells": []}))
    config = SimpleNamespace(sphinx_gallery_conf={"gallery_dirs": gallery_dirs})
    app = SimpleNamespace(config=config, srcdir=str(tmp_path))
    with pytest.raises(NotebookError, match=r"gallery/topic/plot_old\.ipynb"):
        check_notebooks(app)  # type: ignore[arg-type]
