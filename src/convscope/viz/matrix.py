"""The matrix C of convolution-as-multiplication, each kernel weight in its own colour."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from .. import ops
from . import style

CELL = 0.42  # inches per labelled cell, at most
MIN_LABELLED = 0.3  # inches: a cell smaller than this on a slide is too small to name; draw the pattern
MARGIN = (2.5, 1.8)  # inches around the matrix: the weights' legend and axis labels, the title


def _weight_names(shape) -> list:
    """w00..w22 for one kernel; w[o,c,i,j] when there are several output or input channels."""
    names = []
    for i in range(int(np.prod(shape))):
        index = np.unravel_index(i, shape)
        several = shape[0] * shape[1] > 1
        names.append(f"w[{','.join(map(str, index))}]" if several else f"w{''.join(map(str, index[2:]))}")
    return names


def conv_matrix(input_shape, w, *, stride=1, padding=0, dilation=1, groups=1, labels: bool | None = None):
    """C (rows: output units, columns: input cells) as a picture: white where C is 0, otherwise the
    colour of the kernel weight that sits there, one distinct colour per weight. The figure fits a
    slide (style.SLIDE); when its cells can be drawn large enough to read, each is labelled, otherwise
    the matrix is drawn as its sparsity pattern."""
    w = np.asarray(w)
    ids = np.arange(1, w.size + 1, dtype=float).reshape(w.shape)  # which weight sits in each entry
    which = ops.conv_matrix(input_shape, ids, stride=stride, padding=padding, dilation=dilation, groups=groups)
    values = ops.conv_matrix(input_shape, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    rows, cols = which.shape
    # the largest cell with which the matrix and its margins still fit a slide
    cell = min(CELL, (style.SLIDE[0] - MARGIN[0]) / cols, (style.SLIDE[1] - MARGIN[1]) / rows)
    small = cell >= MIN_LABELLED
    labels = small if labels is None else labels and small
    colours = style.distinct_colours(w.size)
    names = _weight_names(w.shape)
    width, height = max(6.0, cell * cols + MARGIN[0]), max(3.0, cell * rows + MARGIN[1])
    fig = style.figure(width, height)
    ax = fig.add_subplot()
    ax.imshow(which, cmap=ListedColormap(["white", *colours]), vmin=-0.5, vmax=w.size + 0.5, interpolation="nearest")
    if labels:
        _label_cells(ax, which, values, names, colours)
    else:
        style.cell_ticks(ax)
    shown = style.shape_text(input_shape[1:])
    one_d = len(input_shape) == 2
    ax.set_xlabel("input cell x_j" + ("" if one_d else f" (the {shown} input flattened row by row)"),
                  fontsize=style.FONT["label"])
    ax.set_ylabel("output unit y_i", fontsize=style.FONT["label"])
    if w.size <= 27:
        ax.legend(handles=[Patch(facecolor=c, edgecolor=style.EDGE, label=f"{n} = {v:g}")
                           for n, c, v in zip(names, colours, w.ravel())],
                  loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=style.FONT["cell"], title="kernel weight",
                  title_fontsize=style.FONT["label"], frameon=False)
    kernel, on = (f"{w.shape[-1]}-wide", f"length-{shown}") if one_d else (style.shape_text(w.shape[2:]), shown)
    title = (f"The matrix C of a {kernel} kernel on a {on} input: {rows}x{cols}, "
             f"{int((which != 0).sum())} non-zeros\nC @ x = conv(x) and C.T @ y = conv_transpose(y)")
    if not small:
        title += "\ntoo large to label its cells on a slide: each coloured dot is one non-zero"
    ax.set_title(style.wrap(title, width - 0.5, style.FONT["title"]), fontsize=style.FONT["title"])
    fig.matrix = which
    fig.colours = colours
    return fig


def _label_cells(ax, which, values, names, colours) -> None:
    rows, cols = which.shape
    for (r, c), v in np.ndenumerate(which):
        if v:
            colour = colours[int(v) - 1]
            ax.text(c, r, names[int(v) - 1] if len(names) <= 27 else f"{values[r, c]:.2g}", ha="center",
                    va="center", fontsize=style.FONT["cell"] - (1 if len(names) > 9 else 0),
                    color=style.text_colour(colour))
    ax.set_xticks(range(cols), [f"x{j}" for j in range(cols)], fontsize=style.FONT["cell"], rotation=90)
    ax.set_yticks(range(rows), [f"y{i}" for i in range(rows)], fontsize=style.FONT["cell"])
