"""One place for the look of every figure: colours, fonts, resolution, and how a figure is saved.

Figures are built with `matplotlib.figure.Figure` directly (no pyplot state), so they work
headless, in scripts, and display in Jupyter. Saving goes through `ViewFigure.savefig`, which
defaults to 150 dpi, caps raster images at 4000 pixels a side and strips the metadata that would
make two renders of the same figure differ (software version, creation time, SVG ids).
"""
from __future__ import annotations

import textwrap

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

INPUT = "#cfe2f3"  # input cells
PADDING = "#e6e6e6"  # padding cells
WINDOW = "#e69138"  # the outline and tint of the cells under the kernel
OUTPUT = "#b6d7a8"  # output cells
CURRENT = "#38761d"  # the output cell being computed
EDGE = "#555555"
LAYERS = ["#e06666", "#f6b26b", "#ffd966", "#93c47d", "#76a5af", "#6fa8dc", "#8e7cc3", "#c27ba0"]
CMAP = "viridis"  # values
DIVERGING = "RdBu_r"  # signed values (kernels, gradients, pre-activation maps)
FONT = {"title": 11, "label": 9, "cell": 7}
DPI = 150  # slides and pages; `savefig(dpi=...)` overrides it
MAX_PIXELS = 4000  # no side of a raster image is larger
SLIDE = (13.33, 7.5)  # inches: a 16:9 slide; every figure fits it, so none is shrunk past reading on a slide
SALT = "convscope"  # SVG element ids derive from it instead of from a random number


class ViewFigure(Figure):
    """A Figure that shows itself in Jupyter and saves repeatably at slide resolution."""

    def _repr_png_(self) -> bytes:
        import io

        buf = io.BytesIO()
        self.savefig(buf, format="png")
        return buf.getvalue()

    def savefig(self, fname, *, dpi=None, format=None, **kw):
        """Save at `dpi` (default 150), lowered if needed so that no side passes 4000 pixels;
        the same figure always gives the same bytes."""
        fmt = (format or _suffix(fname) or "png").lower()
        dpi = DPI if dpi in (None, "figure") else dpi
        if fmt not in ("svg", "pdf", "eps", "ps"):
            dpi = min(dpi, MAX_PIXELS / max(self.get_size_inches()))
        kw.setdefault("metadata", FIXED_METADATA.get(fmt, {}))
        with rc_context({"svg.hashsalt": SALT}):
            super().savefig(fname, dpi=dpi, format=fmt, **kw)


FIXED_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                  "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
                  "eps": {"CreationDate": None, "Creator": None}, "ps": {"CreationDate": None, "Creator": None}}


def _suffix(fname) -> str | None:
    name = str(fname) if isinstance(fname, (str, bytes)) or hasattr(fname, "__fspath__") else ""
    return name.rsplit(".", 1)[-1] if "." in name.rsplit("/", 1)[-1] else None


def figure(width: float = 6.0, height: float = 4.0, **kw) -> ViewFigure:
    return ViewFigure(figsize=(width, height), layout="constrained", **kw)


def layer_colour(i: int) -> str:
    return LAYERS[i % len(LAYERS)]


def distinct_colours(n: int) -> list:
    """n colours, no two equal: the qualitative palettes while they last, then evenly spaced hues."""
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["hsv"](i / n) for i in range(n)]


def text_colour(background) -> str:
    """Black on light colours, white on dark ones (relative luminance, as WCAG defines it)."""
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(background))
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.18 else "white"


def cell_text_colours(image) -> np.ndarray:
    """The readable text colour for each cell of an AxesImage, from the colour it is drawn in."""
    rgba = image.to_rgba(np.asarray(image.get_array()))
    return np.vectorize(lambda r, g, b: text_colour((r, g, b)))(rgba[..., 0], rgba[..., 1], rgba[..., 2])


def wrap(text: str, width_inches: float, fontsize: float) -> str:
    """Break a title into lines that fit `width_inches` at `fontsize` points (its own line breaks kept)."""
    chars = max(20, int(width_inches * 72 / (0.55 * fontsize)))
    return "\n".join(line for part in text.split("\n") for line in textwrap.wrap(part, chars, break_on_hyphens=False))


def integer_ticks(axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True))


def cell_ticks(ax) -> None:
    """A few integer ticks on each axis of a grid of cells, instead of one label per cell."""
    integer_ticks(ax.xaxis)
    integer_ticks(ax.yaxis)
    ax.tick_params(labelsize=FONT["cell"])


def clean_axes(ax) -> None:
    """Cells, not coordinates: no ticks, equal aspect."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    for spine in ax.spines.values():
        spine.set_visible(False)


def shape_text(shape) -> str:
    return "x".join(map(str, shape))
