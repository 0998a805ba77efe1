"""mpguide.sphinxext.gallery_processes, tested on one-example throwaway projects.

A project that looks like a user's is in test_sphinxext_project.py.
"""

from __future__ import annotations

import html
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mpguide.sphinxext.gallery_processes import BUILD_STAMP, build_stamp, has_main_guard

EXAMPLE_HEADER = '"""\nExample\n=======\n\nAn example.\n"""\n'

POINTS = """
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


class Point:
    def __init__(self, x):
        self.x = x


def double(point):
    return Point(point.x * 2)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    print("method:", context.get_start_method())
    with context.Manager() as manager:
        shared = manager.list([Point(1)])
        print("manager sent back:", type(shared[0]).__name__, shared[0].x)
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        print("pool doubled:", [p.x for p in pool.map(double, [Point(1), Point(2)])])
"""

HANG = """
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(time.sleep, 3600).result()
"""

RAISE_KEYERROR = """
if __name__ == "__main__":
    {}["missing"]
"""

LEAK = """
import multiprocessing
import os
import time

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    context.Process(target=time.sleep, args=(3600,), name="sleeper").start()
"""


def make_project(
    root: Path, example: str, *, more: tuple[str, ...] = (), **conf: object
) -> Path:
    """A Sphinx project with one gallery example, ``plot_example.py``, and with
    ``more`` examples after it (``plot_example_1.py`` ...), run in that order."""
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "GALLERY_HEADER.rst").write_text("Gallery\n=======\n")
    (root / "examples" / "plot_example.py").write_text(EXAMPLE_HEADER + example)
    for number, text in enumerate(more, start=1):
        (root / "examples" / f"plot_example_{number}.py").write_text(EXAMPLE_HEADER + text)
    (root / "index.rst").write_text("Test\n====\n\n.. toctree::\n\n   gallery/index\n")
    settings = {
        "extensions": ["sphinx_gallery.gen_gallery", "mpguide.sphinxext.gallery_processes"],
        "sphinx_gallery_conf": {
            "examples_dirs": ["examples"],
            "gallery_dirs": ["gallery"],
            "filename_pattern": "/plot_",
            "reset_modules": (),
        },
        "exclude_patterns": ["_build", "examples"],
        **conf,
    }
    (root / "conf.py").write_text(
        "".join(f"{name} = {value!r}\n" for name, value in settings.items())
    )
    return root


def build(
    project: Path, start_method: str, *, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPGUIDE_START_METHOD": start_method}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "-b",
            "html",
            "-q",
            str(project),
            str(project / "_build"),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=project,
        check=False,
    )


def page(project: Path) -> str:
    return (project / "_build" / "gallery" / "plot_example.html").read_text()


def test_a_hung_example_fails_the_build_in_bounded_time_naming_it(tmp_path: Path) -> None:
    project = make_project(tmp_path, HANG, mpguide_example_timeout=3)
    started = time.monotonic()
    result = build(project, "spawn", timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "plot_example.py did not finish within 3 seconds" in output
    assert "raise mpguide_example_timeout" in output  # the fix, when it is only slow
    assert "ExampleTimeoutError" in output
    assert elapsed < 60, f"the build took {elapsed:.0f} s to give up"


def test_an_expected_error_must_be_the_declared_exception(tmp_path: Path) -> None:
    wrong = {"examples/plot_example.py": "ValueError"}
    result = build(
        make_project(tmp_path, RAISE_KEYERROR, mpguide_expected_errors=wrong), "spawn"
    )
    assert result.returncode != 0
    assert "examples/plot_example.py should fail with ValueError" in result.stderr


def test_paths_stay_absolute_when_shortening_is_off(tmp_path: Path) -> None:
    expected = {"examples/plot_example.py": "KeyError"}
    project = make_project(
        tmp_path,
        RAISE_KEYERROR,
        mpguide_expected_errors=expected,
        mpguide_shorten_paths=False,
    )
    result = build(project, "spawn")
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path.resolve()}/examples/plot_example.py" in page(project)


def test_an_expected_error_that_does_not_happen_fails_the_build(tmp_path: Path) -> None:
    expected = {"examples/plot_example.py": "KeyError"}
    project = make_project(tmp_path, "print('fine')\n", mpguide_expected_errors=expected)
    result = build(project, "spawn")
    assert result.returncode != 0
    assert "Examples expected to fail, but not failing (1)" in result.stderr


def test_a_leftover_child_is_terminated_and_fails_the_build(
    tmp_path: Path, start_method: str
) -> None:
    result = build(make_project(tmp_path, LEAK), start_method)
    assert result.returncode != 0
    assert "plot_example.py left 1 child process(es) running (sleeper)" in result.stderr
    assert "join every Process" in result.stderr  # the fix


def test_changing_the_start_method_reruns_the_examples(tmp_path: Path) -> None:
    project = make_project(tmp_path, POINTS)
    for method in ("fork", "spawn", "fork"):
        result = build(project, method)
        assert result.returncode == 0, result.stderr
        assert f"method: {method}" in page(project)


def test_a_build_by_another_python_reruns_the_examples_and_a_rebuild_does_not(
    tmp_path: Path,
) -> None:
    """sphinx-gallery re-runs an example only when its source changes; the
    extension also re-runs every example when the start method or the Python
    version differs from the build that made the cached outputs."""
    project = make_project(tmp_path, "import uuid\nprint('run', uuid.uuid4().hex)\n")

    def run_token() -> str:
        match = re.search(r"run ([0-9a-f]{32})", page(project))
        assert match, page(project)
        return match.group(1)

    assert build(project, "spawn").returncode == 0
    first = run_token()
    stamp = project / "gallery" / BUILD_STAMP
    assert stamp.read_text() == build_stamp("spawn")
    assert platform.python_version() in stamp.read_text()
    assert build(project, "spawn").returncode == 0
    assert run_token() == first  # nothing changed: the cached output stands
    stamp.write_text(build_stamp("spawn").replace(platform.python_version(), "3.10.0"))
    result = build(project, "spawn")
    assert result.returncode == 0, result.stderr
    assert run_token() != first
    assert stamp.read_text() == build_stamp("spawn")


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"mpguide_start_method": "threads"}, "start method 'threads'"),
        ({"mpguide_example_timeout": -1}, "mpguide_example_timeout must be"),
        ({"mpguide_expected_errors": {"x.py": ""}}, "mpguide_expected_errors must map"),
        ({"mpguide_shorten_paths": "yes"}, "mpguide_shorten_paths must be True"),
    ],
)
def test_bad_configuration_is_a_clear_error(
    tmp_path: Path, conf: dict[str, object], message: str
) -> None:
    result = build(make_project(tmp_path, "print(1)\n", **conf), "spawn")
    assert result.returncode != 0
    assert message in result.stderr


# CPython's "Contexts and start methods" example, verbatim: it chooses its own
# method with the first set_start_method(), without force=True.
OWN_START_METHOD = """
import multiprocessing as mp

def foo(q):
    q.put('hello')

if __name__ == '__main__':
    mp.set_start_method('spawn')
    q = mp.Queue()
    p = mp.Process(target=foo, args=(q,))
    p.start()
    print(q.get())
    p.join()
"""


def test_an_examples_own_first_set_start_method_works(tmp_path: Path) -> None:
    result = build(make_project(tmp_path, OWN_START_METHOD), "forkserver")
    assert result.returncode == 0, result.stderr
    assert "hello" in page(tmp_path)


OUTCOME_CARD = """
from mpguide.figures import Observation, draw_outcome

if __name__ == "__main__":
    draw_outcome("Outcome", [Observation("fix", "works", True)])
"""


def test_an_outcome_figure_is_drawn_in_the_build(tmp_path: Path) -> None:
    result = build(make_project(tmp_path, OUTCOME_CARD), "spawn")
    assert result.returncode == 0, result.stderr
    images = tmp_path / "_build" / "_images"
    assert (images / "sphx_glr_plot_example_001.png").is_file(), sorted(images.iterdir())


# Starts processes at the top level, as joblib's galleries do with joblib, but
# with multiprocessing: under spawn and forkserver each worker re-imports it.
UNGUARDED = """
import multiprocessing

def square(n):
    return n * n

with multiprocessing.Pool(2) as pool:
    print("squares:", pool.map(square, range(3)))
"""


@pytest.mark.parametrize("start_method", ["spawn", "forkserver", "fork"])
def test_an_example_without_a_main_guard_fails_with_an_error_naming_it(
    tmp_path: Path, start_method: str
) -> None:
    if start_method == "fork":  # children re-import nothing: the example works
        result = build(make_project(tmp_path, UNGUARDED), start_method)
        assert result.returncode == 0, result.stderr
        assert "squares: [0, 1, 4]" in page(tmp_path)
        return
    expected = {"examples/plot_example.py": "MissingMainGuardError"}
    project = make_project(
        tmp_path, UNGUARDED, mpguide_expected_errors=expected, mpguide_example_timeout=10
    )
    result = build(project, start_method)
    assert result.returncode == 0, result.stderr
    text = html.unescape(page(tmp_path))
    assert "plot_example.py has no 'if __name__ == \"__main__\":' block" in text


@pytest.mark.parametrize(
    ("source", "guarded"),
    [
        ('if __name__ == "__main__":\n    pass\n', True),
        ("if '__main__' == __name__:\n    pass\n", True),
        ('if __name__ == "__main__" and ready:\n    pass\n', True),
        ('if __name__ == "example":\n    pass\n', False),
        ('def main():\n    if __name__ == "__main__":\n        pass\n', False),
        ("print(__name__)\n", False),
    ],
)
def test_what_counts_as_a_main_guard(source: str, guarded: bool) -> None:
    assert has_main_guard(source) is guarded
