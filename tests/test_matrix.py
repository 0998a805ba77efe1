"""mpguide.sphinxext.start_method_matrix, on small throwaway Sphinx projects."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import other_interpreters

from mpguide.sphinxext.interpreters import by_version, find_interpreters
from mpguide.sphinxext.start_method_matrix import MatrixError, Outcome

RUNNING = f"on Python {platform.python_version()}"

# Fails only where a fresh interpreter starts: the shape of a real method-dependent pitfall.
DEPENDS = '''"""
Pitfall: fails without fork
===========================
"""
import multiprocessing, os
method = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"]).get_start_method()
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.log"), "a") as log:
    log.write(method + "\\n")
verdict = "no" if method == "fork" else "yes"
print("failure reproduced:", verdict, "(detail for " + method + ")")
print("fix works: yes (__main__ stays literal)")
{reason}
'''
REASON = 'print("depends on the start method: fork shares memory")'
ALWAYS = '''"""
Pitfall: always fails
=====================
"""
print("failure reproduced: yes (every time)")
print("fix works: yes")
'''
CRASH = '''"""
Pitfall: crashes
================
"""
import os
if os.environ["MPGUIDE_START_METHOD"] == "spawn":
    raise RuntimeError("broken under spawn")
print("failure reproduced: yes")
print("fix works: yes")
'''
SILENT = '''"""
Pitfall: says nothing
=====================
"""
print("failure reproduced: yes")
'''
HANG = '''"""
Pitfall: hangs
==============
"""
import time
time.sleep(3600)
'''


def make_project(
    root: Path, examples: dict[str, str], preamble: str = "", **conf: object
) -> Path:
    (root / "pitfalls").mkdir(parents=True)
    for name, source in examples.items():
        (root / "pitfalls" / name).write_text(source)
    (root / "index.rst").write_text("Test\n====\n\n.. toctree::\n\n   matrix\n")
    (root / "matrix.md").write_text("# Matrix\n\n```{include} _generated/matrix.md\n```\n")
    settings = {
        "extensions": ["myst_parser", "mpguide.sphinxext.start_method_matrix"],
        "mpguide_matrix_examples": "pitfalls/plot_*.py",
        "mpguide_matrix_output": "_generated/matrix.md",
        "mpguide_matrix_gallery": "gallery",
        "exclude_patterns": ["_build", "_generated", "pitfalls"],
        "suppress_warnings": ["ref.ref"],  # no gallery pages in this project
        "mpguide_pythons": (),
        **conf,
    }
    (root / "conf.py").write_text(
        preamble + "".join(f"{name} = {value!r}\n" for name, value in settings.items())
    )
    return root


def build(
    project: Path, *, timeout: float = 180, pythons: str = sys.executable, **env: str
) -> subprocess.CompletedProcess[str]:
    """Build with only the interpreters in ``pythons``, and a cache of the project's own."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONHASHSEED", "MPGUIDE_CACHE_DIR", "CI")
    }
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-b", "html", "-q", ".", "_build"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, "MPGUIDE_PYTHONS": pythons, **env},
        cwd=project,
        check=False,
    )


def table(project: Path) -> str:
    return (project / "_generated" / "matrix.md").read_text()


def test_the_table_shows_each_method_and_why_outcomes_differ(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {"plot_a.py": DEPENDS.format(reason=REASON), "plot_b.py": ALWAYS},
    )
    result = build(project)
    assert result.returncode == 0, result.stderr
    text = table(project)
    row_a = text.split(
        "* - {ref}`Pitfall: fails without fork <sphx_glr_gallery_pitfalls_plot_a.py>`"
    )[1]
    fork, spawn, forkserver = row_a.splitlines()[1:4]
    escaped = "\\_\\_main\\_\\_"
    assert (
        fork
        == f"  - **No failure** (detail for fork). Fix works ({escaped} stays literal)."
    )
    assert spawn.startswith("  - **Fails** (detail for spawn)")
    assert forkserver.startswith("  - **Fails** (detail for forkserver)")
    assert "fails under `spawn`, `forkserver` only. Why: fork shares memory." in text
    assert "Pitfall: always fails" in text and "**Fails** (every time). Fix works." in text
    html = (project / "_build" / "matrix.html").read_text()
    assert "__main__ stays literal" in html


def test_an_unchanged_rebuild_runs_nothing_and_a_change_reruns(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"plot_a.py": DEPENDS.format(reason=REASON)})
    runs = project / "pitfalls" / "runs.log"
    assert build(project).returncode == 0
    assert sorted(runs.read_text().split()) == ["fork", "forkserver", "spawn"]
    assert build(project).returncode == 0
    assert len(runs.read_text().split()) == 3, "the rebuild ran the example again"
    example = project / "pitfalls" / "plot_a.py"
    example.write_text(example.read_text() + "\n# changed\n")
    assert build(project).returncode == 0
    assert len(runs.read_text().split()) == 6


def test_another_interpreter_does_not_reuse_the_running_ones_results(
    tmp_path: Path,
) -> None:
    other = other_interpreters()[0].executable
    project = make_project(tmp_path, {"plot_a.py": DEPENDS.format(reason=REASON)})
    runs = project / "pitfalls" / "runs.log"
    assert build(project).returncode == 0
    assert len(runs.read_text().split()) == 3
    result = build(project, pythons=os.pathsep.join([sys.executable, other]))
    assert result.returncode == 0, result.stderr
    assert len(runs.read_text().split()) == 6, "the other interpreter's runs were skipped"


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        (
            {"plot_a.py": DEPENDS.format(reason="")},
            f"plot_a.py {RUNNING} reproduces its failure under forkserver, spawn only, "
            "and does not print 'depends on the start method: <why>'",
        ),
        (
            {"plot_b.py": ALWAYS + REASON + "\n"},
            f"plot_b.py {RUNNING} says its outcome depends on the start method, but it "
            "reproduced its failure under every start method",
        ),
        (
            {"plot_c.py": CRASH},
            f"plot_c.py {RUNNING} under spawn failed with exit status 1",
        ),
        (
            {"plot_s.py": SILENT},
            f"plot_s.py {RUNNING} under fork printed no 'fix works:' line",
        ),
    ],
    ids=[
        "unexplained difference",
        "difference claimed, none seen",
        "crash",
        "missing outcome",
    ],
)
def test_the_build_fails_loudly(
    tmp_path: Path, examples: dict[str, str], message: str
) -> None:
    result = build(make_project(tmp_path, examples))
    assert result.returncode != 0
    assert message in result.stderr
    if "crash" in message:
        assert "RuntimeError: broken under spawn" in result.stderr


def test_a_hanging_example_fails_fast_naming_itself(tmp_path: Path) -> None:
    started = time.monotonic()
    result = build(make_project(tmp_path, {"plot_h.py": HANG}, mpguide_matrix_timeout=3))
    assert time.monotonic() - started < 60
    assert result.returncode != 0
    assert f"plot_h.py {RUNNING} under" in result.stderr
    assert "did not finish within 3 s" in result.stderr


def test_a_pattern_matching_nothing_is_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path, {}, mpguide_matrix_examples="nothing/plot_*.py")
    result = build(project)
    assert result.returncode != 0
    assert "matches no file" in result.stderr


def test_outcome_lines_are_parsed_strictly() -> None:
    outcome = Outcome.parse(
        "noise\nfailure reproduced: no (a (nested) detail)\nfix works: yes\n", "x"
    )
    assert outcome == Outcome(False, "a (nested) detail", True, "", None)
    with pytest.raises(MatrixError, match="printed no 'failure reproduced:'"):
        Outcome.parse("failure reproduced: maybe\nfix works: yes\n", "x")


HIDDEN_BY_A_FIXED_SALT = '''"""
Pitfall: needs a salt of its own
================================
"""
import os
seed = os.environ.get("PYTHONHASHSEED")
print("failure reproduced:", "no (PYTHONHASHSEED=" + seed + ")" if seed else "yes")
print("fix works: yes")
'''


def test_the_runs_do_not_inherit_what_the_build_set_in_its_environment(
    tmp_path: Path,
) -> None:
    # What distributed's Nanny does in the build process: a fixed salt for every child.
    project = make_project(
        tmp_path,
        {"plot_salt.py": HIDDEN_BY_A_FIXED_SALT},
        preamble="import os\nos.environ['PYTHONHASHSEED'] = '6640'\n",
    )
    result = build(project, PYTHONHASHSEED="1")
    assert result.returncode == 0, result.stderr
    text = table(project)
    assert "PYTHONHASHSEED" not in text
    assert text.count("**Fails**. Fix works.") == 3


def test_a_missing_version_is_named_on_the_page_and_fails_ci(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"plot_b.py": ALWAYS}, mpguide_pythons=("3.99",))
    assert build(project).returncode == 0
    assert "Not run: Python 3.99" in table(project)
    failed = build(project, CI="true")
    assert failed.returncode != 0
    assert "no Python 3.99 found on this machine, and CI is set" in failed.stderr


BY_VERSION = '''"""
Pitfall: differs by version
===========================
"""
import sys
old = sys.version_info < ({major}, {minor})
print("failure reproduced:", "yes" if old else "no")
print("fix works: yes")
{reason}
'''


def test_every_interpreter_runs_and_a_version_difference_must_say_why(
    tmp_path: Path,
) -> None:
    others = [i.executable for i in other_interpreters()]
    pythons = os.pathsep.join([sys.executable, *others])
    interpreters = by_version(find_interpreters())
    newest = interpreters[-1].version.split(".")
    fields = {"major": newest[0], "minor": newest[1]}
    unexplained = make_project(
        tmp_path / "a", {"plot_v.py": BY_VERSION.format(reason="", **fields)}
    )
    result = build(unexplained, pythons=pythons)
    assert result.returncode != 0
    assert "plot_v.py under fork has different outcomes on Python" in result.stderr
    reason = 'print("depends on the Python version: changed in the newest")'
    explained = make_project(
        tmp_path / "b", {"plot_v.py": BY_VERSION.format(reason=reason, **fields)}
    )
    result = build(explained, pythons=pythons)
    assert result.returncode == 0, result.stderr
    text = table(explained)
    assert "Where the Python version matters:" in text
    assert "changed in the newest" in text
    older = ", ".join(i.minor for i in interpreters[:-1])
    # Each version's outcome on a line of its own, in a list inside the cell.
    assert f"  - - {older}: **Fails**. Fix works.\n" in text
    assert f"    - {interpreters[-1].minor}: **No failure**. Fix works.\n" in text
    for interpreter in interpreters:
        assert interpreter.version in text.rsplit("Runs: CPython", 1)[1]


def test_several_globs_give_a_table_per_section_under_its_link(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {"plot_b.py": ALWAYS},
        mpguide_matrix_examples=["pitfalls/plot_*.py", "pools/plot_*.py"],
        exclude_patterns=["_build", "_generated", "pitfalls", "pools"],
    )
    (project / "pools").mkdir()
    (project / "pools" / "plot_p.py").write_text(DEPENDS.format(reason=REASON))
    result = build(project)
    assert result.returncode == 0, result.stderr
    text = table(project)
    pitfalls, pools = text.split("{ref}`sphx_glr_gallery_pools`")
    assert "{ref}`sphx_glr_gallery_pitfalls`" in pitfalls
    assert "<sphx_glr_gallery_pitfalls_plot_b.py>" in pitfalls
    assert "<sphx_glr_gallery_pools_plot_p.py>" in pools
    assert pitfalls.count(":::{list-table}") == pools.count(":::{list-table}") == 1
    assert "fails under `spawn`, `forkserver` only. Why: fork shares memory." in pools
    (project / "pools" / "plot_p.py").unlink()
    failed = build(project)
    assert failed.returncode != 0
    assert "'pools/plot_*.py' matches no file" in failed.stderr


VERSION_CLAIMED = ALWAYS + 'print("depends on the Python version: the page says so")\n'


@pytest.mark.parametrize(
    "claim",
    ["difference without the line", "the line without a difference"],
)
def test_a_version_line_and_a_version_difference_go_together(
    tmp_path: Path, claim: str
) -> None:
    others = [i.executable for i in other_interpreters()]
    pythons = os.pathsep.join([sys.executable, *others])
    if claim == "difference without the line":
        major, minor = by_version(find_interpreters())[-1].version.split(".")[:2]
        source = BY_VERSION.format(reason="", major=major, minor=minor)
        message = "plot_v.py under fork has different outcomes on Python"
    else:
        source = VERSION_CLAIMED
        message = (
            "plot_v.py says its outcome depends on the Python version, but its "
            "verdicts were the same on Python"
        )
    result = build(make_project(tmp_path / "all", {"plot_v.py": source}), pythons=pythons)
    assert result.returncode != 0
    assert message in result.stderr
    if claim == "the line without a difference":
        # Nothing to compare with one interpreter, nor when an expected version
        # is missing (the difference may lie there): the line is allowed.
        alone = make_project(tmp_path / "alone", {"plot_v.py": source})
        assert build(alone).returncode == 0
        partial = make_project(
            tmp_path / "partial", {"plot_v.py": source}, mpguide_pythons=("3.99",)
        )
        result = build(partial, pythons=pythons)
        assert result.returncode == 0, result.stderr
