"""docs/_ext/generated_files.py: the files the pages include, and a loud failure."""

from __future__ import annotations

import importlib.util
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

from conftest import ROOT

DOCS = ROOT / "docs"
EXTENSIONS = DOCS / "_ext"
#: ``{include} PATH``, ``{literalinclude} PATH`` (Markdown, relative to the
#: page) and ``.. literalinclude:: /PATH`` (an example, relative to the source).
INCLUDE = re.compile(r"(?:\{(?:literal)?include\}|literalinclude::)\s+(\S*_generated/\S+)")


def load_extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generated_files", EXTENSIONS / "generated_files.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def included_generated_files() -> set[str]:
    """Every generated file a page or an example includes, relative to docs/."""
    found = set()
    for page in DOCS.rglob("*.md"):
        if "_build" in page.parts:
            continue
        for path in INCLUDE.findall(page.read_text()):
            found.add((page.parent / path).relative_to(DOCS).as_posix())
    for example in (ROOT / "examples").rglob("*.py"):
        for path in INCLUDE.findall(example.read_text()):
            found.add(path.lstrip("/"))
    return found


def test_it_writes_every_generated_file_the_pages_include(tmp_path: Path) -> None:
    conf = runpy.run_path(str(DOCS / "conf.py"))
    written_by_others = {conf["mpguide_matrix_output"]}
    shutil.copytree(DOCS / "howto" / "recipes", tmp_path / "howto" / "recipes")
    app = SimpleNamespace(
        srcdir=tmp_path,
        config=SimpleNamespace(
            generated_command_help=conf["generated_command_help"],
            generated_diffs=conf["generated_diffs"],
        ),
    )
    load_extension().write_generated_files(app)
    included = included_generated_files() - written_by_others
    assert included >= {
        "reference/_generated/cli-help.txt",
        "howto/_generated/key_by_id.diff",
    }
    for name in included:
        text = (tmp_path / name).read_text()
        if name.endswith(".txt"):
            assert text.startswith("usage: python -m mpguide"), name
        else:
            assert text.startswith("--- report/keyed_by_user.py\n+++ "), name


def test_a_command_that_fails_fails_the_build_with_its_output(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "index.rst").write_text("Title\n=====\n")
    (source / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(EXTENSIONS)!r})\n"
        "extensions = ['generated_files']\n"
        "generated_command_help = {'help.txt': ['no-such-command']}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(source),
         str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "-m mpguide no-such-command failed with exit status 2" in result.stderr
    assert "invalid choice: 'no-such-command'" in result.stderr
    assert not (source / "help.txt").exists()
