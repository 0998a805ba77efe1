"""mpguide.sphinxext.gallery_processes with joblib, as galleries built on joblib or
loky (scikit-learn's, nilearn's, MNE's, joblib's own) use it.

joblib runs ``Parallel`` on loky's *reusable* executor: its worker processes
outlive each call on purpose, so that the next call, in the next example, starts
no new process. The extension must leave them running between examples, without
a warning, and shut them down at the end of the build through loky's own API.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_sphinxext import build, make_project

# Verbatim from the issue: what joblib's galleries do, without a main guard.
PARALLEL = """
from math import sqrt

from joblib import Parallel, delayed

print(Parallel(n_jobs=2)(delayed(sqrt)(i ** 2) for i in range(10)))
"""

# Appended to conf.py: after the extension's own build-finished handler, record
# the child processes still running in the build process.
RECORD_CHILDREN = """
import json
import multiprocessing


def record_children(app, exception):
    with open("children.json", "w") as file:
        json.dump([child.name for child in multiprocessing.active_children()], file)


def setup(app):
    app.connect("build-finished", record_children, priority=900)
"""


def test_a_joblib_gallery_builds_under_w_and_its_workers_end_with_the_build(
    tmp_path: Path, start_method: str
) -> None:
    project = make_project(tmp_path, PARALLEL, more=(PARALLEL, PARALLEL))
    with (project / "conf.py").open("a") as conf:
        conf.write(RECORD_CHILDREN)
    result = build(project, start_method)
    assert result.returncode == 0, result.stderr
    assert "left" not in result.stderr and "TerminatedWorkerError" not in result.stderr
    squares = str([float(i) for i in range(10)])
    for name in ("plot_example", "plot_example_1", "plot_example_2"):
        page = (project / "_build" / "gallery" / f"{name}.html").read_text()
        assert squares in page, name
    assert json.loads((project / "children.json").read_text()) == []
