"""The site's sources copied and built as ``nox -s docs`` builds them.

Used by the tests that build the site and by ``benchmarks/docs_build.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def copy_site(docs: Path, root: Path) -> Path:
    """Copy the site's sources (``docs`` and the sibling ``examples``) under ``root``.

    Generated files stay behind, so that building the copy is a cold build.
    Returns the copy's docs directory.
    """
    ignore = shutil.ignore_patterns("_build", "gallery", "_generated", "*.md5")
    shutil.copytree(docs, root / "docs", ignore=ignore)
    shutil.copytree(docs.parent / "examples", root / "examples")
    return root / "docs"


def build_site(
    docs: Path,
    start_method: str,
    *,
    env: dict[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Build the site in ``docs`` as ``nox -s docs`` does, into ``docs/_build/html``.

    ``settings`` override values of ``conf.py`` (Sphinx's ``-D name=value``).
    """
    overrides = [f"-D{name}={value}" for name, value in (settings or {}).items()]
    command = [
        sys.executable, "-m", "sphinx", "-q", "-n", "-W", "-b", "html", *overrides,
        str(docs), str(docs / "_build" / "html"),
    ]  # fmt: skip
    env = {**(os.environ if env is None else env), "MPGUIDE_START_METHOD": start_method}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)
