"""Window extraction shared by conv, pooling and im2col: padding, strided window views, taps.

A window view of a padded array ``xp`` (N, C, *S) is a zero-copy view of shape (N, C, *K, *O) whose
element [n, c, *t, *o] is ``xp[n, c, *(o*s + t*d)]``. Copying it gives im2col; reducing over the
K axes gives pooling; adding into it tap by tap gives col2im.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import window_cell


def pad(x: np.ndarray, pads, value=0.0) -> np.ndarray:
    """Copy of x (N, C, *S) with pads[a] = (lo, hi) cells of `value` around spatial axis a."""
    if not any(lo or hi for lo, hi in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), *pads), constant_values=value)


def pad_into(buf: np.ndarray, x: np.ndarray, pads) -> np.ndarray:
    """Write x into the interior of `buf`, whose border was filled once and is never written."""
    inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, x.shape[2:]))
    buf[(slice(0, len(x)), slice(None), *inner)] = x
    return buf[: len(x)]


def window_view(xp: np.ndarray, kernel, stride, dilation, out_size) -> np.ndarray:
    """Zero-copy view (N, C, *K, *O) of the windows of xp (N, C, *S)."""
    n_st, c_st, *sp_st = xp.strides
    strides = (n_st, c_st, *(st * d for st, d in zip(sp_st, dilation)),
               *(st * s for st, s in zip(sp_st, stride)))
    return as_strided(xp, (*xp.shape[:2], *kernel, *out_size), strides, writeable=False)


def tap_slices(tap, stride, dilation, out_size, offset0: int = 0) -> tuple[slice, ...]:
    """Spatial slices of the padded input that tap `tap` of every output position reads.

    `offset0` shifts the first axis (row chunks start at output row r0, input row r0*s).
    """
    slices = []
    for a, (t, s, d, o) in enumerate(zip(tap, stride, dilation, out_size)):
        start = window_cell(offset0 if a == 0 else 0, t, s, d, 0)  # in padded coordinates: no pad
        slices.append(slice(start, start + s * (o - 1) + 1, s))
    return tuple(slices)


def taps(kernel):
    """All kernel offsets, row-major (the order of the flattened kernel)."""
    return itertools.product(*(range(k) for k in kernel))


def cell_steps(size) -> list[int]:
    """Cells from one index to the next along each axis of a flattened (C-order) grid of `size`."""
    return [prod(size[a + 1:]) for a in range(len(size))]


def flip_kernel(w: np.ndarray) -> np.ndarray:
    """The kernel flipped on every spatial axis: conv with it is true convolution."""
    return w[(slice(None), slice(None), *([slice(None, None, -1)] * (w.ndim - 2)))]


def row_window(xp: np.ndarray, r0: int, r1: int, kernel, stride, dilation, out_size) -> np.ndarray:
    """Window view for output rows r0:r1 (first spatial axis) of the padded chunk xp."""
    sub = xp[:, :, r0 * stride[0]:]
    return window_view(sub, kernel, stride, dilation, (r1 - r0, *out_size[1:]))


def scatter_windows(canvas: np.ndarray, cols: np.ndarray, kernel, stride, dilation, out_size,
                    offset0: int = 0) -> None:
    """col2im: add cols[:, :, *t, *o] onto canvas[:, :, *(o*s + t*d)], one tap at a time.

    Positions of one tap never collide (o*s differs for every o), so `+=` on each tap's slice is
    exact; overlapping windows are summed across taps. `cols` may be a broadcast view.
    """
    n = len(cols)
    for tap in taps(kernel):
        sl = tap_slices(tap, stride, dilation, out_size, offset0)
        canvas[(slice(0, n), slice(None), *sl)] += cols[(slice(None), slice(None), *tap)]


def crop(canvas: np.ndarray, pads, in_size) -> np.ndarray:
    """The unpadded interior of a padded (N, C, *S) array (a view)."""
    return canvas[(slice(None), slice(None), *(slice(lo, lo + i) for (lo, _), i in zip(pads, in_size)))]


def prod(values) -> int:
    return math.prod(values)
