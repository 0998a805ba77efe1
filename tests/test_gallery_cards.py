"""Every gallery card shows its own page's figure, under a title without raw markup.

``check_cards`` inspects a built site; the full docs build in test_leaks.py calls it,
so this file adds no build of its own. The tests here prove that it can fail, and
check every example's card title as sphinx-gallery extracts it.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image
from sphinx_gallery import glr_path_static
from sphinx_gallery.gen_rst import extract_intro_and_title
from sphinx_gallery.utils import scale_image

EXAMPLES = sorted((ROOT / "examples").glob("*/plot_*.py"))
# sphinx-gallery's default thumbnail_size (docs/conf.py keeps it).
THUMBNAIL_SIZE = (400, 280)
PLACEHOLDERS = ("no_image.png", "broken_example.png")
# Inline reST that a card title must not show: ``literal``, `interpreted`,
# *emphasis*, **strong**, :role:, |substitution|.
RAW_MARKUP = re.compile(r"`|\*\S|\S\*|(^|\s):[\w:-]+:|\|\w[^|]*\|")


def pixels(image: Path) -> bytes:
    with Image.open(image) as opened:
        return opened.convert("RGBA").tobytes()


def scaled(image: Path, directory: Path) -> bytes:
    """``image`` as sphinx-gallery scales it into a card."""
    target = directory / f"scaled-{image.name}"
    scale_image(str(image), str(target), *THUMBNAIL_SIZE)
    return pixels(target)


def check_cards(docs: Path, scratch: Path, examples: list[Path] = EXAMPLES) -> None:
    """Fail unless, in the site built from ``docs``, every example's card is one of
    its own page's figures, and every card title on the gallery's index page is
    free of raw reST markup."""
    scratch.mkdir(parents=True, exist_ok=True)
    placeholders = {
        name: scaled(Path(glr_path_static()) / name, scratch) for name in PLACEHOLDERS
    }
    for example in examples:
        images = docs / "gallery" / example.parent.name / "images"
        card = images / "thumb" / f"sphx_glr_{example.stem}_thumb.png"
        assert card.is_file(), f"{example.name}: no card at {card}"
        shown = pixels(card)
        for name, placeholder in placeholders.items():
            assert shown != placeholder, f"{example.name}: its card is {name}"
        figures = sorted(images.glob(f"sphx_glr_{example.stem}_[0-9][0-9][0-9].png"))
        assert figures, f"{example.name}: its page shows no figure"
        assert any(shown == scaled(figure, scratch) for figure in figures), (
            f"{example.name}: its card is none of its page's figures"
        )
    index = (docs / "_build" / "html" / "gallery" / "index.html").read_text()
    titles = re.findall(r'<div class="sphx-glr-thumbnail-title">(.*?)</div>', index)
    assert len(titles) == len(examples), titles
    for title in titles:
        assert not RAW_MARKUP.search(title), f"raw markup in a card title: {title}"


def card_title(example: Path) -> str:
    docstring = ast.get_docstring(ast.parse(example.read_text()), clean=False)
    assert docstring, f"{example.name} has no docstring"
    return extract_intro_and_title(str(example), docstring)[1]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_the_card_title_shows_no_raw_markup(example: Path) -> None:
    title = card_title(example)
    assert title and not RAW_MARKUP.search(title), title


@pytest.mark.parametrize(
    "title",
    [
        "Fix 2: give ``User`` value equality (``__eq__`` and ``__hash__``)",
        "See :class:`User`",
        "Pitfall: *this*",
        "Use |project|",
    ],
)
def test_the_title_check_finds_raw_markup(title: str) -> None:
    assert RAW_MARKUP.search(title)


def test_the_title_check_passes_plain_names() -> None:
    for title in ("query_times.value += 1 from 4 workers", "a * b", "__eq__ and __hash__"):
        assert not RAW_MARKUP.search(title), title


def fake_site(tmp_path: Path, card: Path, figure: Path | None) -> tuple[Path, Path]:
    """A built site with one example, whose card is ``card`` scaled."""
    example = tmp_path / "examples" / "topic" / "plot_01_topic.py"
    example.parent.mkdir(parents=True)
    example.write_text('"""\nTitle\n=====\n"""\n')
    docs = tmp_path / "docs"
    images = docs / "gallery" / "topic" / "images"
    (images / "thumb").mkdir(parents=True)
    scale_image(
        str(card), str(images / "thumb" / "sphx_glr_plot_01_topic_thumb.png"), 400, 280
    )
    if figure is not None:
        shutil.copy(figure, images / "sphx_glr_plot_01_topic_001.png")
    html = docs / "_build" / "html" / "gallery"
    html.mkdir(parents=True)
    (html / "index.html").write_text('<div class="sphx-glr-thumbnail-title">Title</div>')
    return docs, example


def a_figure(path: Path, colour: str) -> Path:
    Image.new("RGB", (600, 420), colour).save(path)
    return path


def test_check_cards_passes_a_card_made_from_the_page_figure(tmp_path: Path) -> None:
    figure = a_figure(tmp_path / "figure.png", "teal")
    docs, example = fake_site(tmp_path, figure, figure)
    check_cards(docs, tmp_path / "scratch", [example])


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_check_cards_fails_on_a_placeholder(tmp_path: Path, placeholder: str) -> None:
    figure = a_figure(tmp_path / "figure.png", "teal")
    docs, example = fake_site(tmp_path, Path(glr_path_static()) / placeholder, figure)
    with pytest.raises(AssertionError, match=placeholder):
        check_cards(docs, tmp_path / "scratch", [example])


def test_check_cards_fails_when_the_page_has_no_figure(tmp_path: Path) -> None:
    docs, example = fake_site(tmp_path, a_figure(tmp_path / "other.png", "navy"), None)
    with pytest.raises(AssertionError, match="shows no figure"):
        check_cards(docs, tmp_path / "scratch", [example])


def test_check_cards_fails_on_a_card_from_elsewhere(tmp_path: Path) -> None:
    figure = a_figure(tmp_path / "figure.png", "teal")
    docs, example = fake_site(tmp_path, a_figure(tmp_path / "other.png", "navy"), figure)
    with pytest.raises(AssertionError, match="none of its page's figures"):
        check_cards(docs, tmp_path / "scratch", [example])


def test_check_cards_fails_on_a_raw_title(tmp_path: Path) -> None:
    figure = a_figure(tmp_path / "figure.png", "teal")
    docs, example = fake_site(tmp_path, figure, figure)
    index = docs / "_build" / "html" / "gallery" / "index.html"
    index.write_text('<div class="sphx-glr-thumbnail-title">Use ``User``</div>')
    with pytest.raises(AssertionError, match="raw markup"):
        check_cards(docs, tmp_path / "scratch", [example])
