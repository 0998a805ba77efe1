"""The recipes are the files the docs include; each runs under every start method."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, run_script

RECIPES = ROOT / "docs" / "howto" / "recipes"
RECIPE_PAGE = ROOT / "docs" / "howto" / "recipes.md"


@pytest.mark.parametrize("name", sorted(p.name for p in RECIPES.glob("*.py")))
def test_recipe_runs_its_workload(name: str, start_method: str) -> None:
    result = run_script(RECIPES / name, start_method)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["query_times: 20"]


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
