"""The 404 page loads its styles from where the site is served: "/" or /en/latest/."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

HOSTED = "https://mpguide.readthedocs.io/en/latest/"


def docs_config(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> dict[str, object]:
    for name in ("READTHEDOCS", "READTHEDOCS_CANONICAL_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "docs" / "conf.py"))


def build_404(root: Path, conf: dict[str, object], environ: dict[str, str]) -> str:
    """The site's 404 page, built with the docs' theme and 404 settings; its HTML."""
    settings = {
        name: conf[name]
        for name in ("html_theme", "notfound_urls_prefix", "myst_enable_extensions")
        if name in conf
    }
    (root / "conf.py").write_text(
        "extensions = ['myst_parser', 'notfound.extension']\n"
        + "".join(f"{name} = {value!r}\n" for name, value in settings.items())
    )
    (root / "404.md").write_text((ROOT / "docs" / "404.md").read_text())
    (root / "index.md").write_text("# Home\n")
    # Stand-ins for the pages 404.md links to, with the labels sphinx-gallery gives them.
    for page, label in (
        ("gallery/tutorial/index", "(sphx_glr_gallery_tutorial)=\n"),
        ("gallery/pitfalls/index", "(sphx_glr_gallery_pitfalls)=\n"),
        ("howto/recipes", ""),
    ):
        stand_in = (root / page).with_suffix(".md")
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text(f"---\norphan: true\n---\n{label}# {page}\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("READTHEDOCS", "READTHEDOCS_CANONICAL_URL")
    }
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", ".", "_build"],
        cwd=root,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return (root / "_build" / "404.html").read_text()


def resource_links(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"#]*_static/[^"]*)"', html)


def test_local_builds_serve_the_404_page_from_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = docs_config(monkeypatch, {})
    assert conf["notfound_urls_prefix"] == "/"
    links = resource_links(build_404(tmp_path, conf, {}))
    assert links and all(link.startswith("/_static/") for link in links), links


def test_read_the_docs_builds_take_the_prefix_from_the_canonical_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"READTHEDOCS": "True", "READTHEDOCS_CANONICAL_URL": HOSTED}
    conf = docs_config(monkeypatch, environ)
    assert "notfound_urls_prefix" not in conf
    html = build_404(tmp_path, conf, environ)
    links = resource_links(html)
    assert links and all(link.startswith("/en/latest/_static/") for link in links), links
