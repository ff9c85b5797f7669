"""The definition beside the engine: convolution as the lecture writes it, one window at a time.

Output position j is the kernel dotted with the window of the input that j sees (the lecture's
N(x, k, j) . k): tap t of the window reads input cell j*s + t*d - p (`geometry.window_cell`), and
cells in the padding read 0. The transposed convolution runs the same windows backwards: input
cell j adds its value times the kernel onto the window it would have been read from. Slow and
exact, short enough to check by eye: the tests hold the fast `engine` to it as well as to PyTorch.
"""
from __future__ import annotations

import numpy as np

from .geometry import check_array, conv_geometry, transposed_geometry, window_cell


def _window(j, geo, channels: slice) -> tuple:
    """Index of the window of position j in the padded input, (N, channels, *K): cells j*s + t*d."""
    cells = (window_cell(o, np.arange(k), s, d, 0) for o, k, s, d in zip(j, geo.kernel, geo.stride, geo.dilation))
    return (slice(None), channels, *np.ix_(*cells))


def _groups(c_in: int, c_out: int, groups: int):
    """(input channels, output channels) of each group, as slices."""
    ci, co = c_in // groups, c_out // groups
    return [(slice(g * ci, (g + 1) * ci), slice(g * co, (g + 1) * co)) for g in range(groups)]


def reference_conv(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, *j] = b[o] + sum over channels c of o's group and taps t of w[o, c, *t] * x[n, c, *(j*s + t*d - p)].

    Arguments and shapes as `ops.conv` (w: (O, C/groups, *K)).
    """
    x, w = check_array(x, "reference_conv"), np.asarray(w)
    geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups, "reference_conv")
    xp = np.pad(x, ((0, 0), (0, 0), *geo.pads))  # the padding reads 0
    y = np.zeros((len(x), len(w), *geo.out_size), np.result_type(x, w))
    kernel_axes = list(range(1, w.ndim))  # (C/groups, *K)
    for j in np.ndindex(*geo.out_size):
        for ci, co in _groups(x.shape[1], len(w), groups):
            y[(slice(None), co, *j)] = np.tensordot(xp[_window(j, geo, ci)], w[co], (kernel_axes, kernel_axes))
    return y if b is None else y + np.reshape(b, (-1, *[1] * len(geo.out_size)))


def reference_conv_transpose(y, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """The adjoint of `reference_conv`: out[n, :, window of j] += sum over c of y[n, c, *j] * w[c].

    Arguments and shapes as `ops.conv_transpose` (w: (C_in, C_out/groups, *K)).
    """
    y, w = check_array(y, "reference_conv_transpose"), np.asarray(w)
    geo, out_size = transposed_geometry(y.shape, w.shape, stride, padding, output_padding, dilation, groups,
                                        "reference_conv_transpose")
    canvas = np.zeros((len(y), w.shape[1] * groups, *geo.padded_size), np.result_type(y, w))
    for j in np.ndindex(*geo.out_size):  # every cell of y, whose window lies in the padded output
        for ci, co in _groups(y.shape[1], canvas.shape[1], groups):
            canvas[_window(j, geo, co)] += np.tensordot(y[(slice(None), ci, *j)], w[ci], 1)
    out = canvas[(slice(None), slice(None), *(slice(lo, lo + o) for (lo, _), o in zip(geo.pads, out_size)))]
    return out if b is None else out + np.reshape(b, (-1, *[1] * len(out_size)))
