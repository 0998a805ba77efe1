"""Fixes shown as changed lines: the report's program, and the diffs against it.

The recipe page and the tutorial's fix pages show each fix as a diff that the
build computes between the report's program and the recipe
(docs/_ext/generated_files.py), so the lines shown cannot drift from the code.
What a test can still get wrong is the premise: the report's program must fail
as the report did, and each recipe must be that program with a few lines
changed, not a rewrite.
"""

from __future__ import annotations

import difflib

import pytest
from conftest import ROOT, run_script

RECIPES = ROOT / "docs" / "howto" / "recipes"
REPORT_PROGRAM = RECIPES / "report" / "keyed_by_user.py"
FIXES = {
    "key_by_id": "plot_03_fix_id_keys",
    "key_by_value": "plot_04_fix_eq_hash",
    "key_by_token": "plot_05_fix_key_registry",
}


def test_the_report_program_fails_with_the_reports_key_error(start_method: str) -> None:
    result = run_script(REPORT_PROGRAM, start_method)
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("KeyError: <__main__.User object at 0x"), result.stderr


@pytest.mark.parametrize("recipe", FIXES)
def test_each_fix_keeps_most_of_the_report_program(recipe: str) -> None:
    report = REPORT_PROGRAM.read_text().splitlines()
    fixed = (RECIPES / f"{recipe}.py").read_text().splitlines()
    matcher = difflib.SequenceMatcher(a=report, b=fixed, autojunk=False)
    kept = sum(block.size for block in matcher.get_matching_blocks())
    assert kept >= 2 * len(report) / 3, f"{recipe} keeps {kept} of {len(report)} lines"


@pytest.mark.parametrize(("recipe", "tutorial"), FIXES.items())
def test_the_recipe_and_the_tutorial_show_the_diff(recipe: str, tutorial: str) -> None:
    recipe_page = (ROOT / "docs" / "howto" / "recipes.md").read_text()
    tutorial_page = (ROOT / "examples" / "tutorial" / f"{tutorial}.py").read_text()
    assert f"```{{literalinclude}} _generated/{recipe}.diff\n" in recipe_page
    assert f"# .. literalinclude:: /howto/_generated/{recipe}.diff\n" in tutorial_page
