"""Every public name is documented: a docstring, and an entry on the API page."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest
from conftest import ROOT

import mpguide

API_PAGE = (ROOT / "docs" / "reference" / "api.md").read_text()


@pytest.mark.parametrize("name", mpguide.__all__)
def test_public_name_has_a_docstring_and_a_reference_entry(name: str) -> None:
    obj = getattr(mpguide, name)
    assert inspect.getdoc(obj), f"mpguide.{name} has no docstring"
    assert f"mpguide.{name}\n" in API_PAGE, f"mpguide.{name} is not on the API page"


@pytest.mark.parametrize(
    "cls",
    [obj for obj in map(mpguide.__dict__.get, mpguide.__all__) if inspect.isclass(obj)],
)
def test_public_methods_have_docstrings(cls: type) -> None:
    for name, member in vars(cls).items():
        if name.startswith("_") or (
            not callable(member) and not isinstance(member, property)
        ):
            continue
        assert inspect.getdoc(member), f"{cls.__name__}.{name} has no docstring"


# Each entry the API page writes as ``.. autoX:: mpguide.name`` (one dot) is, as the
# page says, importable from ``mpguide``; a module entry names a module that exists.
TOP_LEVEL_ENTRIES = re.findall(
    r"^\.\. auto(?:function|class|exception|data):: mpguide\.(\w+)$", API_PAGE, re.M
)
MODULE_ENTRIES = re.findall(r"^\.\. automodule:: (mpguide\.[\w.]+)$", API_PAGE, re.M)


def test_the_page_lists_top_level_names_and_modules() -> None:
    assert len(TOP_LEVEL_ENTRIES) >= 5 and len(MODULE_ENTRIES) >= 3


@pytest.mark.parametrize("name", TOP_LEVEL_ENTRIES)
def test_a_name_the_page_writes_as_top_level_imports_from_mpguide(name: str) -> None:
    assert name in mpguide.__all__, f"the API page documents mpguide.{name}"


@pytest.mark.parametrize("module", MODULE_ENTRIES)
def test_a_module_the_page_lists_exists(module: str) -> None:
    importlib.import_module(module)
