"""The hosted site is the tested site, and the build needs no network."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from conftest import ROOT


def test_read_the_docs_builds_as_nox_does() -> None:
    config = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())
    assert config["version"] == 2
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={config['build']['tools']['python']}"
    (install,) = config["python"]["install"]
    assert install == {"method": "pip", "path": ".", "extra_requirements": ["docs"]}
    assert 'session.install(".[docs]")' in (ROOT / "noxfile.py").read_text()
    sphinx = config["sphinx"]
    assert (ROOT / sphinx["configuration"]).is_file()
    assert sphinx["fail_on_warning"] is True and sphinx["builder"] == "html"
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    assert conf["nitpicky"] is True
    assert conf["mpguide_start_method"] == os.environ.get("MPGUIDE_START_METHOD", "spawn")


def test_python_links_resolve_with_no_network(tmp_path: Path) -> None:
    """The docs' own intersphinx setting, with every connection failing."""
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    (tmp_path / "conf.py").write_text(
        f"extensions = ['sphinx.ext.intersphinx']\n"
        f"intersphinx_mapping = {conf['intersphinx_mapping']!r}\n"
        "nitpicky = True\n"
    )
    (tmp_path / "index.rst").write_text(
        "Links\n=====\n\n"
        ":func:`multiprocessing.get_context`, :meth:`object.__hash__`, :mod:`pickle`,\n"
        ":func:`dataclasses.dataclass`, :exc:`multiprocessing.AuthenticationError`.\n"
    )
    unreachable = "http://127.0.0.1:9"
    env = {**os.environ, "http_proxy": unreachable, "https_proxy": unreachable}
    env.update(HTTP_PROXY=unreachable, HTTPS_PROXY=unreachable)
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-n", "-W", "-q", "-b", "html", ".", "_build"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "_build" / "index.html").read_text()
    for anchor in (
        "library/multiprocessing.html#multiprocessing.get_context",
        "reference/datamodel.html#object.__hash__",
        "library/pickle.html#module-pickle",
        "library/dataclasses.html#dataclasses.dataclass",
        "library/multiprocessing.html#multiprocessing.AuthenticationError",
    ):
        assert f'href="https://docs.python.org/3.11/{anchor}"' in html, anchor
