"""Every built page loads without an error and passes axe-core's WCAG 2 A and AA
rules in Chromium (one visit to each page checks both).

axe-core comes from the npm registry: it is installed once with ``npm`` into a
cache outside the repository (``MPGUIDE_AXE_CACHE``, default
``~/.cache/mpguide``), and read from there on every later run, offline.
``MPGUIDE_AXE`` names an ``axe.min.js`` to use instead. The test workers take
turns at the install (a file lock beside the cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from filelock import FileLock
from playwright.sync_api import Page
from test_site import PAGES, watch

AXE_VERSION = "4.11.0"
WCAG_TAGS = ["wcag2a", "wcag2aa"]


@pytest.fixture(scope="session")
def axe_script() -> Path:
    named = os.environ.get("MPGUIDE_AXE")
    if named:
        return Path(named)
    cache = (
        Path(os.environ.get("MPGUIDE_AXE_CACHE") or Path.home() / ".cache" / "mpguide")
        / f"axe-core-{AXE_VERSION}"
    )
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{cache}.lock"):
        if not script.exists():
            install_axe(cache)
        if not script.exists():
            raise pytest.UsageError(f"npm installed axe-core, but not {script}")
    return script


def install_axe(cache: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise pytest.UsageError(
            f"axe-core {AXE_VERSION} is not in {cache} and npm is not installed: "
            "install npm, or set MPGUIDE_AXE to an axe.min.js"
        )
    done = subprocess.run(
        [npm, "install", "--prefix", str(cache), "--no-save", "--no-audit",
         "--no-fund", f"axe-core@{AXE_VERSION}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise pytest.UsageError(f"npm could not install axe-core:\n{done.stderr}")


def violations(page: Page, axe_script: Path) -> list[str]:
    """axe-core's WCAG 2 A/AA violations on the loaded page, one line per element."""
    page.add_script_tag(path=str(axe_script))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [
        f"{rule['id']} ({rule['impact']}): {json.dumps(node['target'])} "
        f"{node.get('failureSummary', '').splitlines()[-1:]}"
        for rule in result["violations"]
        for node in rule["nodes"]
    ]


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly_and_has_no_wcag2_violation(
    page: Page, site_url: str, axe_script: Path, path: str
) -> None:
    problems = watch(page, site_url)
    page.goto(f"/{path}", wait_until="load")
    assert page.title(), path
    assert not problems, problems
    found = violations(page, axe_script)
    assert not found, "\n".join(found)


def test_the_audit_finds_a_violation(page: Page, axe_script: Path) -> None:
    """The audit itself works: a link with no name is reported."""
    page.goto("/index.html", wait_until="load")
    page.evaluate(
        "document.body.append(Object.assign(document.createElement('a'), {href: '/'}))"
    )
    assert any(line.startswith("link-name") for line in violations(page, axe_script))
