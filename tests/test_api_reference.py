"""Every public name is documented: a docstring, and an entry on the API page."""

from __future__ import annotations

import inspect

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
