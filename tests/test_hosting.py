"""The hosted site is the tested site, and the build needs no network."""

from __future__ import annotations

import ast
import os
import runpy
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from conftest import ROOT, other_interpreters

from mpguide.sphinxext.interpreters import find_interpreters


def nox_constant(name: str) -> object:
    """A constant of noxfile.py, read without importing nox."""
    for node in ast.parse((ROOT / "noxfile.py").read_text()).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == name:
            return ast.literal_eval(node.value)
    raise LookupError(name)


def test_read_the_docs_builds_as_nox_does() -> None:
    config = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())
    assert config["version"] == 2
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={config['build']['tools']['python']}"
    (install,) = config["python"]["install"]
    assert install == {"method": "pip", "path": ".", "extra_requirements": ["docs"]}
    assert config["build"]["tools"]["python"] in nox_constant("PYTHONS")
    sphinx = config["sphinx"]
    assert (ROOT / sphinx["configuration"]).is_file()
    assert sphinx["fail_on_warning"] is True and sphinx["builder"] == "html"
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    assert conf["nitpicky"] is True
    assert conf["mpguide_start_method"] == os.environ.get("MPGUIDE_START_METHOD", "spawn")


def test_the_build_finds_a_python_placed_next_to_its_own(tmp_path: Path) -> None:
    """What the hosted build does: another CPython linked into the build's venv."""
    others = other_interpreters()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    other = others[-1]
    (venv / "bin" / f"python{other.minor}").symlink_to(other.executable)
    source = Path(find_interpreters.__code__.co_filename).parent.parent.parent
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from mpguide.sphinxext.interpreters import find_interpreters;"
        "print([i.version for i in find_interpreters()])"
    )
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, str(source)],
        env={"PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert other.version in found


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
