"""The performance section's NumPy page, run as a script under every start method,
counts what it says. Its times are printed as ratios and never asserted."""

from __future__ import annotations

import os
import re

from conftest import ROOT, line_after, run_example_ok

from mpguide.sphinxext.start_method_matrix import Outcome

PERFORMANCE = ROOT / "examples" / "performance"


def test_blas_threads_in_each_worker_are_limited_only_before_numpy_is_imported(
    start_method: str,
) -> None:
    name = "plot_02_blas_threads.py"
    output = run_example_ok(PERFORMANCE / name, start_method)
    cpus = int(line_after("CPUs this program may use:", output))
    assert cpus == len(os.sched_getaffinity(0)) > 1
    assert line_after("NumPy's BLAS:", output).startswith("scipy-openblas")
    for setting, threads in (
        ("no limit:", cpus),
        ("limit in initializer:", cpus),  # set after NumPy was loaded: no effect
        ("limit before import:", 1),
    ):
        counted = re.fullmatch(
            r"threads in the parent (\d+), in each worker (\d+); "
            r"pool time / loop time \d+\.\d\d",
            line_after(setting, output),
        )
        assert counted, output
        assert int(counted[1]) == int(counted[2]) == threads, setting
    outcome = Outcome.parse(output, name)
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None
