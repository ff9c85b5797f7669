"""One place for the look of every figure: colours, fonts, and how a new figure is made.

Figures are built with `matplotlib.figure.Figure` directly (no pyplot state), so they work
headless, in scripts, and display in Jupyter.
"""
from __future__ import annotations

from matplotlib.figure import Figure

INPUT = "#cfe2f3"  # input cells
PADDING = "#e6e6e6"  # padding cells
WINDOW = "#f6b26b"  # cells under the kernel
OUTPUT = "#b6d7a8"  # output cells
CURRENT = "#38761d"  # the output cell being computed
EDGE = "#555555"
LAYERS = ["#e06666", "#f6b26b", "#ffd966", "#93c47d", "#76a5af", "#6fa8dc", "#8e7cc3", "#c27ba0"]
CMAP = "viridis"  # values
DIVERGING = "RdBu_r"  # signed values (kernels, gradients)
FONT = {"title": 11, "label": 9, "cell": 7}


class ViewFigure(Figure):
    """A Figure that shows itself in Jupyter without pyplot or %matplotlib inline."""

    def _repr_png_(self) -> bytes:
        import io

        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=80)
        return buf.getvalue()


def figure(width: float = 6.0, height: float = 4.0, **kw) -> ViewFigure:
    return ViewFigure(figsize=(width, height), layout="constrained", **kw)


def layer_colour(i: int) -> str:
    return LAYERS[i % len(LAYERS)]


def clean_axes(ax) -> None:
    """Cells, not coordinates: no ticks, equal aspect."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    for spine in ax.spines.values():
        spine.set_visible(False)
