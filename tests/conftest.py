"""Shared fixtures: every start method, and running files as scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START_METHODS = ("fork", "spawn", "forkserver")


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
) -> subprocess.CompletedProcess[str]:
    """Run ``python path`` as a reader would, with ``MPGUIDE_START_METHOD`` set."""
    base = os.environ if env is None else env
    env = {**base, "MPGUIDE_START_METHOD": start_method, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd or path.parent,
        check=False,
    )
