"""mpguide.sphinxext.start_method_matrix, on small throwaway Sphinx projects."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mpguide.sphinxext.start_method_matrix import MatrixError, Outcome

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


def make_project(root: Path, examples: dict[str, str], **conf: object) -> Path:
    (root / "pitfalls").mkdir(parents=True)
    for name, source in examples.items():
        (root / "pitfalls" / name).write_text(source)
    (root / "index.rst").write_text("Test\n====\n\n.. toctree::\n\n   matrix\n")
    (root / "matrix.md").write_text("# Matrix\n\n```{include} _generated/matrix.md\n```\n")
    settings = {
        "extensions": ["myst_parser", "mpguide.sphinxext.start_method_matrix"],
        "mpguide_matrix_examples": "pitfalls/plot_*.py",
        "mpguide_matrix_output": "_generated/matrix.md",
        "mpguide_matrix_gallery": "gallery/pitfalls",
        "exclude_patterns": ["_build", "_generated", "pitfalls"],
        "suppress_warnings": ["ref.doc"],  # no gallery pages in this project
        **conf,
    }
    (root / "conf.py").write_text(
        "".join(f"{name} = {value!r}\n" for name, value in settings.items())
    )
    return root


def build(project: Path, *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-b", "html", "-q", ".", "_build"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"},
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
    row_a = text.split("* - {doc}`Pitfall: fails without fork </gallery/pitfalls/plot_a>`")[
        1
    ]
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


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        (
            {"plot_a.py": DEPENDS.format(reason="")},
            "plot_a.py reproduces its failure under forkserver, spawn only, and does "
            "not print 'depends on the start method: <why>'",
        ),
        ({"plot_c.py": CRASH}, "plot_c.py under spawn failed with exit status 1"),
        ({"plot_s.py": SILENT}, "plot_s.py under fork printed no 'fix works:' line"),
    ],
    ids=["unexplained difference", "crash", "missing outcome"],
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
    assert (
        "plot_h.py under" in result.stderr and "did not finish within 3 s" in result.stderr
    )


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
