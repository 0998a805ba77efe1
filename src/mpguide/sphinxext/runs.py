"""What the build's script-running extensions share: a controlled environment,
a time limit that takes every process a script started with it, and a cache of
results that several builds can share.

The start-method matrix and the error index both run scripts as a reader would,
on every interpreter and under every start method, and keep what each run
printed so that an unchanged rebuild runs nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

CACHE_VARIABLE = "MPGUIDE_CACHE_DIR"
KEPT_MPGUIDE_VARIABLES = ("MPGUIDE_START_METHOD",)


def controlled_environment(base: Mapping[str, str], method: str) -> dict[str, str]:
    """``base`` without what would change a run: ``PYTHON*``, other mpguide settings.

    A ``PYTHONHASHSEED`` left in the build's environment by an earlier step
    (Dask's worker nanny sets one in its own process) would give every run one
    hash salt and hide the failures that need two.
    """
    env = {
        name: value
        for name, value in base.items()
        if not name.startswith("PYTHON")
        and (not name.startswith("MPGUIDE_") or name in KEPT_MPGUIDE_VARIABLES)
    }
    env["MPGUIDE_START_METHOD"] = method
    env["MPLBACKEND"] = "Agg"
    return env


def run_bounded(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; past ``timeout`` kill it with every process it started.

    :raises subprocess.TimeoutExpired: after the kill.
    """
    own_group = os.name == "posix"
    with subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_group,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            if own_group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.communicate()
            raise
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def cache_path(app: Sphinx, name: str) -> Path:
    """``name`` in ``MPGUIDE_CACHE_DIR`` if set (shared by builds), else in the doctrees."""
    return Path(os.environ.get(CACHE_VARIABLE) or app.doctreedir) / name


def load_cache(path: Path) -> dict[str, Any]:
    """The cached results, or none when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_cache(path: Path, cache: Mapping[str, Any], current: Iterable[str]) -> None:
    """Write the cache: all of it when shared, else only the ``current`` keys.

    A shared cache may be written by several builds at once (the test suite
    builds the site in parallel): entries another build saved meanwhile are
    kept, and the file is replaced in one step, so no reader sees half of it.
    """
    shared = bool(os.environ.get(CACHE_VARIABLE))
    kept = {**load_cache(path), **cache} if shared else dict(cache)
    if not shared:
        wanted = set(current)
        kept = {key: value for key, value in kept.items() if key in wanted}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as temporary:
        temporary.write(json.dumps(kept, indent=1, sort_keys=True))
    os.replace(temporary.name, path)
