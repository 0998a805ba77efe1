"""The recipes are the files the docs include; each runs under every start method
with the standard library alone, in a virtual environment with nothing installed."""

from __future__ import annotations

import multiprocessing
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_script

RECIPES = ROOT / "docs" / "howto" / "recipes"
RECIPE_PAGE = ROOT / "docs" / "howto" / "recipes.md"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh virtual environment with nothing installed."""
    venv = tmp_path_factory.mktemp("bare-venv")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import mpguide"],
        capture_output=True,
        text=True,
        cwd=venv,
        env=bare_environment(),
        timeout=60,
        check=False,
    )
    assert "No module named 'mpguide'" in probe.stderr, "the bare venv sees mpguide"
    return python


def bare_environment() -> dict[str, str]:
    """This environment without the variables that would let a venv see packages."""
    hidden = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in hidden}


@pytest.mark.parametrize("name", sorted(p.name for p in RECIPES.glob("*.py")))
def test_recipe_runs_with_the_standard_library_alone(
    name: str, start_method: str, bare_python: Path
) -> None:
    result = run_script(
        RECIPES / name, start_method, env=bare_environment(), python=str(bare_python)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["query_times: 20"]


def test_no_recipe_imports_anything_beyond_the_standard_library() -> None:
    for path in RECIPES.glob("*.py"):
        imported = re.findall(r"^(?:from|import) (\w+)", path.read_text(), re.M)
        assert set(imported) <= sys.stdlib_module_names, (path.name, imported)


def test_the_page_includes_every_recipe_file_whole() -> None:
    included = re.findall(
        r"```\{literalinclude\} recipes/(\S+)\n(.*?)```", RECIPE_PAGE.read_text(), re.S
    )
    assert sorted(name for name, _ in included) == sorted(
        p.name for p in RECIPES.glob("*.py")
    )
    for name, options in included:
        # No :lines:, :start-after: or similar: the reader copies the whole tested file.
        assert options.strip() == ":language: python", (name, options)


def test_the_lock_stripe_gives_equal_keys_one_lock_and_refuses_other_keys() -> None:
    namespace = runpy.run_path(str(RECIPES / "per_key_locks.py"), run_name="recipe")
    locks = namespace["KeyedLocks"](count=64, context=multiprocessing.get_context("spawn"))
    for equal in ((1, 1.0, True), ((1, "a"), (1.0, "a"), (True, "a")), (0, -0.0, False)):
        assert len({locks.index_for(key) for key in equal}) == 1, equal
    assert len({locks.index_for(key) for key in range(64)}) > 1
    for other in (frozenset({1}), None, ["a"], type("Name", (str,), {})("a")):
        with pytest.raises(TypeError, match="use an int, str, bytes, float or a tuple"):
            locks.index_for(other)
