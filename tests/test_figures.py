"""draw_outcome: what it draws, and what it does without matplotlib."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import matplotlib
import pytest

from mpguide.figures import Observation, draw_outcome

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OBSERVATIONS = [
    Observation("query_times.value += 1", "kept 612 of 800", False, 612 / 800),
    Observation("under a manager.Lock()", "kept 800 of 800", True, 1.0),
    Observation("start method", "spawn", None),
]


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def texts(figure: object) -> list[str]:
    return [text.get_text() for text in figure.axes[0].texts]  # type: ignore[attr-defined]


def test_draws_each_finding_with_its_mark_label_and_result() -> None:
    figure = draw_outcome("Four workers", OBSERVATIONS)
    assert figure is not None and plt.get_fignums() == [figure.number]
    shown = texts(figure)
    assert shown[0] == "Four workers"
    for observation, mark in zip(OBSERVATIONS, ("✗", "✓", "•"), strict=True):
        assert {observation.label, observation.result, mark} <= set(shown), shown
    colours = {text.get_text(): text.get_color() for text in figure.axes[0].texts}
    assert colours["✗"] != colours["✓"] != colours["•"]
    assert colours["kept 612 of 800"] == colours["✗"]


def test_draws_a_bar_only_for_findings_with_a_fraction() -> None:
    figure = draw_outcome("Four workers", OBSERVATIONS)
    assert figure is not None
    bars = [patch.get_width() for patch in figure.axes[0].patches]
    full = max(bars)
    # A track and its filled part for each of the two observations with a fraction.
    assert sorted(bars) == pytest.approx(sorted([full, full * 612 / 800, full, full]))


def test_reads_as_a_card() -> None:
    figure = draw_outcome("Four workers", OBSERVATIONS)
    assert figure is not None
    width, height = figure.get_size_inches()
    assert 400 / 280 * 0.9 <= width / height <= 400 / 280 * 1.1
    assert min(text.get_fontsize() for text in figure.axes[0].texts) >= 14


def test_shortens_text_that_would_not_fit() -> None:
    long = "a result far too long to read on a gallery card at any size at all"
    figure = draw_outcome("Title", [Observation("label", long, True)])
    assert figure is not None
    shown = [text for text in texts(figure) if text.startswith("a result")]
    assert len(shown) == 1 and shown[0].endswith("…") and len(shown[0]) < len(long)


@pytest.mark.parametrize(
    ("observations", "message"),
    [
        ([], "1 to 4 observations, got 0"),
        (OBSERVATIONS + OBSERVATIONS[:2], "1 to 4 observations, got 5"),
        ([Observation("lost", "x", False, 1.5)], "'lost' is not between 0 and 1"),
        ([Observation("lost", "x", False, -0.1)], "'lost' is not between 0 and 1"),
    ],
)
def test_refuses_bad_input(observations: list[Observation], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        draw_outcome("Title", observations)
    assert plt.get_fignums() == []


def run_program(program: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


DRAW = (
    "from mpguide.figures import Observation, draw_outcome\n"
    "print(draw_outcome('Title', [Observation('label', 'result', True)]))\n"
    "print('matplotlib imported:', 'matplotlib' in sys.modules)\n"
)


def test_a_script_on_its_own_draws_nothing_and_leaves_matplotlib_unimported() -> None:
    assert run_program("import sys\n" + DRAW) == ["None", "matplotlib imported: False"]


def test_a_program_that_imported_pyplot_gets_its_figure() -> None:
    lines = run_program(
        "import sys, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot\n" + DRAW
    )
    assert lines[0].startswith("Figure(") and lines[1] == "matplotlib imported: True", lines


def test_in_a_kernel_without_matplotlib_prints_why_and_draws_nothing() -> None:
    lines = run_program(
        "import sys, types\n"
        "sys.modules['ipykernel'] = types.ModuleType('ipykernel')\n"
        "sys.modules['matplotlib'] = None\n" + DRAW
    )
    assert len(lines) == 3 and lines[1:] == ["None", "matplotlib imported: True"], lines
    assert lines[0].startswith("figure not drawn:") and "matplotlib" in lines[0]


def test_bad_input_is_refused_also_where_no_figure_is_seen() -> None:
    program = (
        "from mpguide.figures import Observation, draw_outcome\n"
        "try:\n"
        "    draw_outcome('Title', [])\n"
        "except ValueError as error:\n"
        "    print(error)\n"
    )
    assert run_program(program) == ["draw_outcome takes 1 to 4 observations, got 0"]
