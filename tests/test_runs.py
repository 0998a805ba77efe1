"""The matrix's and the error index's shared cache (mpguide.sphinxext.runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mpguide.sphinxext.runs import CACHE_VARIABLE, load_cache, save_cache


def test_a_shared_cache_keeps_what_another_build_saved_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    path = tmp_path / "cache.json"
    first_build = load_cache(path)  # both builds start from an empty cache
    second_build = load_cache(path)
    save_cache(path, {**first_build, "a": 1}, current=["a"])
    save_cache(path, {**second_build, "b": 2}, current=["b"])
    assert load_cache(path) == {"a": 1, "b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]  # no temporary left


def test_a_private_cache_keeps_only_the_current_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    path = tmp_path / "cache.json"
    save_cache(path, {"old": 1, "new": 2}, current=["new"])
    assert json.loads(path.read_text()) == {"new": 2}


def test_an_unreadable_cache_is_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    path.write_text('{"a": 1')  # cut short
    assert load_cache(path) == {}
    path.write_text("[1, 2]")
    assert load_cache(path) == {}
