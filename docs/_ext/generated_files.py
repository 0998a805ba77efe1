"""The site's generated files, written before Sphinx reads the pages that include them.

``generated_command_help`` maps a file (relative to the source directory) to the
arguments of ``python -m mpguide`` whose output it holds (the reference pages
include the command's ``--help`` texts). ``generated_diffs`` maps a file to the
two programs it compares (the recipes show the lines each fix changes). A file
is rewritten only when its text changes, so that rebuilds stay incremental. A
command that fails fails the build, with its output.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

#: Width of the help texts, whatever the terminal of the build.
COLUMNS = "80"


def write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def command_output(arguments: list[str]) -> str:
    """What ``python -m mpguide ARGUMENTS`` prints; raises if it fails."""
    command = [sys.executable, "-m", "mpguide", *arguments]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": COLUMNS},
        check=False,
    )
    if result.returncode != 0:
        raise ExtensionError(
            f"generated_files: {' '.join(command)} failed with exit status "
            f"{result.returncode}:\n{result.stderr}"
        )
    return result.stdout


def diff(source: Path, before: str, after: str) -> str:
    """A unified diff of two programs, each named relative to ``after``'s folder."""
    old, new = source / before, source / after
    return "".join(
        difflib.unified_diff(
            old.read_text().splitlines(keepends=True),
            new.read_text().splitlines(keepends=True),
            fromfile=os.path.relpath(old, new.parent),
            tofile=new.name,
            n=1,
        )
    )


def write_generated_files(app: Sphinx) -> None:
    source = Path(app.srcdir)
    for name, arguments in app.config.generated_command_help.items():
        write_if_changed(source / name, command_output(list(arguments)))
    for name, (before, after) in app.config.generated_diffs.items():
        write_if_changed(source / name, diff(source, before, after))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("generated_command_help", {}, "env", dict)
    app.add_config_value("generated_diffs", {}, "env", dict)
    app.connect("builder-inited", write_generated_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
