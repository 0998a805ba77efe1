"""A sphinx-gallery project that looks like a user's, built with the extension.

The project lives in a temporary directory with its own ``conf.py``; its
examples start processes with the default start method, as a user's would. It
is built once per start method, and every assertion about that build reads the
same output. Whatever sphinx-gallery is installed is what is tested, so a nox
session can install a given version and run this file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

EXTENSION = "mpguide.sphinxext.gallery_processes"

EXAMPLES = {
    "plot_01_executor.py": '''
"""
Squares in a process pool
=========================

A ``ProcessPoolExecutor`` runs a function that this example defines.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def square(n):
    return n * n


if __name__ == "__main__":
    print("start method:", multiprocessing.get_start_method())
    with ProcessPoolExecutor(max_workers=2) as executor:
        print("squares:", list(executor.map(square, range(5))))
''',
    "plot_02_pool.py": '''
"""
Points in a Pool
================

A ``multiprocessing.Pool`` maps a function over instances of a class defined
here, and sends new instances back.
"""

from multiprocessing import Pool


class Point:
    def __init__(self, x):
        self.x = x


def double(point):
    return Point(point.x * 2)


if __name__ == "__main__":
    with Pool(2) as pool:
        doubled = pool.map(double, [Point(1), Point(2)])
    print("pool doubled:", [point.x for point in doubled])
''',
    "plot_03_manager.py": '''
"""
A Manager and a Process
=======================

A child ``Process`` writes an instance of a class defined here into a
Manager's dict.
"""

import os
from multiprocessing import Manager, Process


class Point:
    def __init__(self, x):
        self.x = x


def record(shared, point):
    shared["point"] = point
    shared["child pid"] = os.getpid()


if __name__ == "__main__":
    with Manager() as manager:
        shared = manager.dict()
        child = Process(target=record, args=(shared, Point(3)))
        child.start()
        child.join()
        print("child exit code:", child.exitcode)
        print("manager holds:", type(shared["point"]).__name__, shared["point"].x)
        print("written by another process:", shared["child pid"] != os.getpid())
''',
    "plot_04_figure.py": '''
"""
A figure from worker results
============================

Workers compute the points; matplotlib draws them.
"""

from concurrent.futures import ProcessPoolExecutor

import matplotlib.pyplot as plt


def cube(n):
    return n**3


if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2) as executor:
        cubes = list(executor.map(cube, range(6)))
    fig, ax = plt.subplots()
    ax.plot(range(6), cubes)
    print("cubes:", cubes)
''',
    "plot_05_error.py": '''
"""
A lookup that fails
===================

A worker looks up a key that is missing; the ``KeyError`` reaches the page.
"""

from multiprocessing import Pool

PRICES = {"apple": 3}


def price(name):
    return PRICES[name]


if __name__ == "__main__":
    with Pool(2) as pool:
        print(pool.map(price, ["apple", "pear"]))
''',
    "plot_06_changes_settings.py": '''
"""
An example that changes the build process
=========================================

Like Dask's Nanny, it changes the environment, and more.
"""

import multiprocessing
import os
import signal
import sys

os.environ["PYTHONHASHSEED"] = "6640"
del os.environ["THROWAWAY_VARIABLE"]
os.chdir(os.path.dirname(os.getcwd()))
sys.path.insert(0, "added-by-an-example")
signal.signal(signal.SIGUSR1, lambda signum, frame: None)
other = next(m for m in ("fork", "spawn") if m != multiprocessing.get_start_method())
multiprocessing.set_start_method(other, force=True)
print("changed")
''',
    "plot_07_checks_settings.py": '''
"""
An example that checks the build process
========================================

It runs after the one that changed everything.
"""

import os
import signal
import sys

print("PYTHONHASHSEED:", os.environ.get("PYTHONHASHSEED", "unset"))
print("THROWAWAY_VARIABLE:", os.environ.get("THROWAWAY_VARIABLE", "unset"))
print("working directory:", os.path.basename(os.getcwd()))
print("sys.path changed:", "added-by-an-example" in sys.path)
print("SIGUSR1 handler is the default:", signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL)
''',
}

CONF = """
import json
import multiprocessing
import os
import signal
import sys

project = "throwaway"
extensions = {extensions!r}
exclude_patterns = ["_build"]
sphinx_gallery_conf = {{
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "within_subsection_order": "FileNameSortKey",
    "expected_failing_examples": [],
    **{gallery_options!r},
}}
mpguide_expected_errors = {{"../examples/plot_05_error.py": "KeyError"}}
mpguide_example_timeout = 120
{extra}

def settings():
    return {{
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED"),
        "THROWAWAY_VARIABLE": os.environ.get("THROWAWAY_VARIABLE"),
        "cwd": os.getcwd(),
        "sys.path changed": "added-by-an-example" in sys.path,
        "SIGUSR1": str(signal.getsignal(signal.SIGUSR1)),
        "start method": multiprocessing.get_start_method(allow_none=True),
    }}


BEFORE = settings()


def record_settings(app, exception):
    with open(os.path.join(app.outdir, "settings.json"), "w") as file:
        json.dump({{"before": BEFORE, "after": settings()}}, file)


def setup(app):
    app.connect("build-finished", record_settings)
"""


@dataclass
class Build:
    project: Path
    start_method: str
    result: subprocess.CompletedProcess[str]

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    def page(self, example: str) -> str:
        name = example.removesuffix(".py") + ".html"
        return (self.project / "docs" / "_build" / "auto_examples" / name).read_text()


def make_project(
    root: Path,
    *,
    extension: bool = True,
    gallery_options: dict[str, object] | None = None,
    extra: str = "",
) -> Path:
    """A project: ``docs/`` with ``conf.py`` and ``index.rst``, and ``examples/``."""
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "GALLERY_HEADER.rst").write_text("Examples\n========\n")
    for name, source in EXAMPLES.items():
        (root / "examples" / name).write_text(source.lstrip())
    (root / "docs").mkdir()
    (root / "docs" / "index.rst").write_text(
        "Throwaway\n=========\n\n.. toctree::\n\n   auto_examples/index\n"
    )
    extensions = ["sphinx_gallery.gen_gallery"] + ([EXTENSION] if extension else [])
    (root / "docs" / "conf.py").write_text(
        CONF.format(
            extensions=extensions, gallery_options=gallery_options or {}, extra=extra
        )
    )
    return root


def build(project: Path, start_method: str, *, timeout: float = 150) -> Build:
    """``sphinx-build -W`` in ``project/docs``; killed with its children on timeout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONHASHSEED", "MPLBACKEND"}
    }
    env |= {"MPGUIDE_START_METHOD": start_method, "THROWAWAY_VARIABLE": "kept"}
    docs = project / "docs"
    command = [sys.executable, "-m", "sphinx", "-W", "-b", "html", ".", "_build"]
    process = subprocess.Popen(
        command,
        cwd=docs,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the build under {start_method} did not end in {timeout:g} s")
    finally:  # also when pytest-timeout interrupts the wait
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return Build(project, start_method, result)


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Build:
    method: str = request.param
    project = make_project(tmp_path_factory.mktemp(f"project-{method}"))
    return build(project, method)


START_METHODS = ["fork", "spawn", "forkserver"]
every_method = pytest.mark.parametrize("built", START_METHODS, indirect=True)


@every_method
def test_the_build_passes_under_every_start_method(built: Build) -> None:
    assert built.result.returncode == 0, built.output


@every_method
def test_examples_run_under_the_chosen_start_method(built: Build) -> None:
    html = built.page("plot_01_executor.py")
    assert f"start method: {built.start_method}" in html
    assert "squares: [0, 1, 4, 9, 16]" in html


@every_method
def test_children_find_the_functions_and_classes_examples_define(built: Build) -> None:
    assert "pool doubled: [2, 4]" in built.page("plot_02_pool.py")
    manager = built.page("plot_03_manager.py")
    assert "child exit code: 0" in manager
    assert "manager holds: Point 3" in manager
    assert "written by another process: True" in manager


@every_method
def test_a_figure_is_scraped(built: Build) -> None:
    html = built.page("plot_04_figure.py")
    assert "cubes: [0, 1, 8, 27, 64, 125]" in html
    images = built.project / "docs" / "_build" / "_images"
    assert (images / "sphx_glr_plot_04_figure_001.png").stat().st_size > 0


@every_method
def test_the_expected_error_is_on_its_page(built: Build) -> None:
    html = built.page("plot_05_error.py")
    assert "KeyError" in html and "pear" in html
    # The traceback names the example by its path in the project, not the machine's.
    assert "examples/plot_05_error.py" in html
    assert str(built.project) not in html


@every_method
def test_the_extension_says_what_it_set(built: Build) -> None:
    assert "set sphinx_gallery_conf['reset_modules_order'] = 'both'" in built.output


@every_method
def test_each_example_gets_the_build_process_as_it_was(built: Build) -> None:
    html = built.page("plot_07_checks_settings.py")
    assert "PYTHONHASHSEED: unset" in html
    assert "THROWAWAY_VARIABLE: kept" in html
    assert "working directory: examples" in html
    assert "sys.path changed: False" in html
    assert "SIGUSR1 handler is the default: True" in html
    assert "plot_06_changes_settings.py changed" in built.output
    # and an example that changes nothing is not reported
    assert "plot_07_checks_settings.py changed" not in built.output


@every_method
def test_the_build_process_ends_as_it_started(built: Build) -> None:
    recorded = json.loads((built.project / "docs" / "_build" / "settings.json").read_text())
    assert recorded["after"] == recorded["before"]
    assert recorded["before"]["start method"] is None  # nobody set it: the platform's


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_without_the_extension_the_same_project_fails(
    tmp_path: Path, start_method: str
) -> None:
    """The control: what the extension fixes is real, so these tests can fail."""
    project = make_project(
        tmp_path,
        extension=False,
        gallery_options={"abort_on_example_error": True},
        extra=f"multiprocessing.set_start_method({start_method!r})",
    )
    result = build(project, start_method)
    assert result.result.returncode != 0
    assert "Can't get attribute 'square'" in result.output


@pytest.mark.parametrize(
    ("gallery_options", "message"),
    [
        (
            {"reset_modules_order": "before"},
            "sphinx_gallery_conf['reset_modules_order'] = 'both', but conf.py sets",
        ),
        ({"parallel": 2}, "cannot work with sphinx-gallery's parallel execution"),
    ],
)
def test_a_conflicting_gallery_option_is_refused_before_any_example_runs(
    tmp_path: Path, gallery_options: dict[str, object], message: str
) -> None:
    project = make_project(tmp_path, gallery_options=gallery_options)
    result = build(project, "spawn")
    assert result.result.returncode != 0
    assert message in result.output
    assert not (project / "docs" / "auto_examples" / "plot_01_executor.rst").exists()


def test_importing_the_extension_imports_nothing_it_does_not_use() -> None:
    heavy = ("matplotlib", "dask", "distributed", "numpy", "sphinx_gallery", "joblib")
    code = (
        f"import sys, {EXTENSION}; "
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
