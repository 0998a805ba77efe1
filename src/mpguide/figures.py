"""Figures for the documentation, drawn from what an example observed.

Needs matplotlib (the ``gallery`` and ``docs`` extras). A figure is drawn only
where someone sees it: in a sphinx-gallery build (which imports pyplot before it
runs an example), in a Jupyter kernel, and in a program that imported pyplot
itself. A script run on its own shows no figure, so there nothing is drawn and
matplotlib is not imported. Where a figure would be seen but matplotlib is
missing, the functions say so and draw nothing, so that an example still runs.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figures_are_seen() -> bool:
    """Whether a figure drawn now is seen: pyplot already imported, or a Jupyter kernel."""
    return "matplotlib.pyplot" in sys.modules or "ipykernel" in sys.modules


def _pyplot() -> ModuleType | None:
    """pyplot where a figure is seen and matplotlib is installed, else ``None``;
    says why when a figure would be seen but matplotlib is missing."""
    if not figures_are_seen():
        return None
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        print(f"figure not drawn: {error} (pip install 'mpguide[gallery]')")
        return None
    return plt


class Hop(NamedTuple):
    """One pickled copy: the object at ``source`` became a new one at ``target``."""

    source_process: str
    source_address: str
    target_process: str
    target_address: str
    caption: str
    source_role: str = ""
    target_role: str = ""


def draw_round_trip(
    processes: Sequence[str], hops: Sequence[Hop], title: str
) -> Figure | None:
    """Draw processes as lanes and each pickled copy as an arrow between objects.

    Every object is a box with its role and address; time runs left to right.
    Return the figure, or ``None`` where no figure is seen (see the module's text).
    """
    plt = _pyplot()
    if plt is None:
        return None
    from matplotlib.patches import FancyBboxPatch

    step, half_width, half_height = 2.0, 0.72, 0.3
    lane_y = {name: 1.4 * (len(processes) - 1 - row) for row, name in enumerate(processes)}
    fig: Figure
    fig, ax = plt.subplots(
        figsize=(max(10, 2.0 * len(hops) + 2), 1.0 + 1.5 * len(processes))
    )
    right = step * len(hops) + 1.0 + half_width + 0.2
    for name, y in lane_y.items():
        ax.plot([0.1, right], [y, y], color="0.88", lw=14, zorder=0, solid_capstyle="butt")
        ax.text(0.0, y, name, ha="right", va="center", fontsize=10, weight="bold")

    drawn: set[tuple[float, float]] = set()

    def box(x: float, y: float, role: str, address: str) -> None:
        if (x, y) in drawn:
            return
        drawn.add((x, y))
        ax.add_patch(
            FancyBboxPatch(
                (x - half_width, y - half_height),
                2 * half_width,
                2 * half_height,
                boxstyle="round,pad=0.03",
                fc="white",
                ec="0.3",
                zorder=2,
            )
        )
        label = f"{role}\n{address}" if role else address
        ax.text(
            x, y, label, ha="center", va="center", fontsize=8, family="monospace", zorder=3
        )

    for index, hop in enumerate(hops):
        x0, x1 = step * index + 1.0, step * (index + 1) + 1.0
        y0, y1 = lane_y[hop.source_process], lane_y[hop.target_process]
        box(x0, y0, hop.source_role, hop.source_address)
        box(x1, y1, hop.target_role, hop.target_address)
        ax.annotate(
            "",
            xy=(x1 - half_width, y1),
            xytext=(x0 + half_width, y0),
            arrowprops={"arrowstyle": "-|>", "color": "tab:red", "lw": 1.5},
            zorder=1,
        )
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            hop.caption,
            ha="center",
            va="center",
            fontsize=8,
            color="tab:red",
            zorder=4,
            bbox={"fc": "white", "ec": "none", "pad": 1.5},
        )
    ax.set_xlim(-1.6, right)
    ax.set_ylim(-0.6, max(lane_y.values()) + 0.6)
    ax.set_title(title, fontsize=11)
    ax.axis("off")
    fig.tight_layout()
    return fig


class Observation(NamedTuple):
    """One row of an outcome figure: what was tried and what it gave.

    ``ok`` is ``True`` for a result as one wants it, ``False`` for the failure
    shown, ``None`` for a plain measurement. ``fraction`` (0 to 1), when given,
    draws a bar under the result: the share kept, found or done.
    """

    label: str
    result: str
    ok: bool | None
    fraction: float | None = None


_MARKS = {True: ("✓", "#1a7f37"), False: ("✗", "#c62828"), None: ("•", "#455a64")}
# Characters that fit across the card: the title at full size, shrunk to at most
# its longest, and a result.
_TITLE_FULL, _TITLE_LONGEST = 32, 40
_TEXT_WIDTH = 30


def draw_outcome(title: str, observations: Sequence[Observation]) -> Figure | None:
    """Draw one row per observation: a mark (✓ ok, ✗ failure, • a measurement, each
    in its colour, so that colour is never the only sign), the label, the result
    and its bar. Return the figure, left open for sphinx-gallery to collect.

    The figure reads at gallery-card size (400 by 280 pixels): large type, at
    most four rows, long text shortened. Return ``None`` where no figure is seen
    (see the module's text), and without matplotlib, after one line saying why.
    Raise :class:`ValueError`, wherever it runs, for no observations, more than
    four, or a fraction outside 0 to 1.
    """
    if not 1 <= len(observations) <= 4:
        raise ValueError(f"draw_outcome takes 1 to 4 observations, got {len(observations)}")
    for observation in observations:
        if observation.fraction is not None and not 0 <= observation.fraction <= 1:
            raise ValueError(f"fraction of {observation.label!r} is not between 0 and 1")
    plt = _pyplot()
    if plt is None:
        return None
    from matplotlib.patches import Rectangle

    fig: Figure = plt.figure(figsize=(6.0, 4.2))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.text(
        0.5,
        0.94,
        textwrap.shorten(title, _TITLE_LONGEST, placeholder="…"),
        ha="center",
        va="top",
        fontsize=21 * min(1.0, _TITLE_FULL / len(title)),
        weight="bold",
        color="#212121",
    )
    row_height = 0.8 / max(len(observations), 3)
    for index, observation in enumerate(observations):
        top = 0.8 - index * row_height
        mark, colour = _MARKS[observation.ok]
        ax.text(
            0.08,
            top - 0.42 * row_height,
            mark,
            ha="center",
            va="center",
            fontsize=34,
            weight="bold",
            color=colour,
        )
        ax.text(
            0.17,
            top - 0.05 * row_height,
            textwrap.shorten(observation.label, _TEXT_WIDTH + 6, placeholder="…"),
            ha="left",
            va="top",
            fontsize=14,
            color="#424242",
        )
        ax.text(
            0.17,
            top - 0.38 * row_height,
            textwrap.shorten(observation.result, _TEXT_WIDTH, placeholder="…"),
            ha="left",
            va="top",
            fontsize=19,
            weight="bold",
            color=colour,
        )
        if observation.fraction is not None:
            bar_y, bar_height = top - 0.86 * row_height, 0.1 * row_height
            ax.add_patch(Rectangle((0.17, bar_y), 0.78, bar_height, color="#e0e0e0", lw=0))
            ax.add_patch(
                Rectangle(
                    (0.17, bar_y),
                    0.78 * observation.fraction,
                    bar_height,
                    color=colour,
                    lw=0,
                )
            )
    return fig
