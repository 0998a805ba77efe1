"""Figures for the documentation, drawn from what an example observed.

Needs matplotlib (the ``docs`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class Hop(NamedTuple):
    """One pickled copy: the object at ``source`` became a new one at ``target``."""

    source_process: str
    source_address: str
    target_process: str
    target_address: str
    caption: str
    source_role: str = ""
    target_role: str = ""


def draw_round_trip(processes: Sequence[str], hops: Sequence[Hop], title: str) -> Figure:
    """Draw processes as lanes and each pickled copy as an arrow between objects.

    Every object is a box with its role and address; time runs left to right.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    step, half_width, half_height = 2.0, 0.72, 0.3
    lane_y = {name: 1.4 * (len(processes) - 1 - row) for row, name in enumerate(processes)}
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
