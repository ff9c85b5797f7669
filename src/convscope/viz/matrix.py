"""The matrix C of convolution-as-multiplication, each kernel weight in its own colour."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap

from .. import ops
from . import style


def conv_matrix(input_shape, w, *, stride=1, padding=0, dilation=1, groups=1, labels: bool | None = None):
    """C (rows: output units, columns: input cells) as a picture: white where C is 0, otherwise the
    colour of the kernel weight that sits there; the weights' values are written for small cases."""
    w = np.asarray(w)
    ids = np.arange(1, w.size + 1, dtype=float).reshape(w.shape)  # which weight sits in each entry
    which = ops.conv_matrix(input_shape, ids, stride=stride, padding=padding, dilation=dilation, groups=groups)
    values = ops.conv_matrix(input_shape, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    rows, cols = which.shape
    labels = rows * cols <= 40 * 40 if labels is None else labels
    fig = style.figure(max(4.0, 0.45 * cols + 1.5), max(2.0, 0.45 * rows + 1.2))
    ax = fig.add_subplot()
    colours = ["white"] + [style.layer_colour(i) for i in range(w.size)]
    ax.imshow(which, cmap=ListedColormap(colours), vmin=0, vmax=w.size, interpolation="nearest")
    if labels:
        names = [f"w{''.join(map(str, np.unravel_index(i, w.shape)[2:]))}" for i in range(w.size)]
        for (r, c), v in np.ndenumerate(which):
            if v:
                ax.text(c, r, names[int(v) - 1] if w.size <= 27 else f"{values[r, c]:.2g}", ha="center",
                        va="center", fontsize=style.FONT["cell"])
        ax.set_xticks(range(cols), [f"x{j}" for j in range(cols)], fontsize=style.FONT["cell"], rotation=90)
        ax.set_yticks(range(rows), [f"y{i}" for i in range(rows)], fontsize=style.FONT["cell"])
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel(f"input cells (flattened {'x'.join(map(str, input_shape))})", fontsize=style.FONT["label"])
    ax.set_ylabel("output units", fontsize=style.FONT["label"])
    ax.set_title(f"C: {rows}x{cols}, {int((which != 0).sum())} non-zeros; C @ x = conv(x), C.T @ y = conv_transpose(y)",
                 fontsize=style.FONT["title"])
    fig.matrix = which
    return fig
