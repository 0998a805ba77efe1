"""Figures for the documentation, drawn from what an example observed.

Needs matplotlib (the ``docs`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class Hop(NamedTuple):
    """One pickled copy: an object at ``source`` became a new one at ``target``."""

    source_process: str
    source_address: str
    target_process: str
    target_address: str
    caption: str


def draw_round_trip(processes: Sequence[str], hops: Sequence[Hop], title: str) -> Figure:
    """Draw processes as lanes and each pickled copy as an arrow between objects.

    Every object is a box labelled with its address; time runs left to right.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    lane_y = {name: len(processes) - 1 - row for row, name in enumerate(processes)}
    fig, ax = plt.subplots(figsize=(9, 1.2 + 1.6 * len(processes)))
    width = 1.6 * (len(hops) + 1)
    for name, y in lane_y.items():
        ax.axhline(y, color="0.85", lw=12, zorder=0, solid_capstyle="butt")
        ax.text(-0.2, y, name, ha="right", va="center", fontsize=10, weight="bold")

    def box(x: float, y: float, label: str) -> None:
        ax.add_patch(
            FancyBboxPatch(
                (x - 0.55, y - 0.22),
                1.1,
                0.44,
                boxstyle="round,pad=0.02",
                fc="white",
                ec="0.3",
                zorder=2,
            )
        )
        ax.text(
            x, y, label, ha="center", va="center", fontsize=8, family="monospace", zorder=3
        )

    for step, hop in enumerate(hops):
        x0, x1 = 1.6 * step + 0.6, 1.6 * (step + 1) + 0.6
        y0, y1 = lane_y[hop.source_process], lane_y[hop.target_process]
        box(x0, y0, hop.source_address)
        box(x1, y1, hop.target_address)
        ax.annotate(
            "",
            xy=(x1 - 0.55, y1),
            xytext=(x0 + 0.55, y0),
            arrowprops={"arrowstyle": "-|>", "color": "tab:red", "lw": 1.5},
            zorder=1,
        )
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2 + 0.3,
            hop.caption,
            ha="center",
            va="bottom",
            fontsize=8,
            color="tab:red",
        )
    ax.set_xlim(-0.2, width + 0.4)
    ax.set_ylim(-0.8, len(processes) - 0.2)
    ax.set_title(title, fontsize=11)
    ax.axis("off")
    fig.tight_layout()
    return fig
