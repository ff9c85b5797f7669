"""Pooling: max, average, global average/max and k-max, with their gradients.

Max and average pooling share conv's window machinery: pad, then combine the taps of the window
one shifted slice at a time (a slice per kernel offset), which streams memory once per tap
instead of materialising every window.
"""
from __future__ import annotations

import numpy as np

from .geometry import WindowGeometry, check_array, pool_geometry, require_room, window_cell, window_counts
from .windows import cell_steps, crop, pad, prod, scatter_windows, tap_slices, taps


def _pool_input(x, op: str, spatial_dims) -> np.ndarray:
    """Check a window pool's input. An int kernel_size does not say how many spatial axes to
    expect, so `spatial_dims` (when given) pins it: an unbatched (C, H, W) is then an error, not
    a 1-D pool of H-channel images. Zero channels are refused, as in PyTorch; N = 0 is fine."""
    x = check_array(x, op, spatial_dims=spatial_dims)
    if x.shape[1] == 0:
        raise ValueError(f"{op}: input of shape {x.shape} has 0 channels; pooling needs at least 1 (as in PyTorch)")
    return x


def _tap_view(xp, tap, geo: WindowGeometry):
    return xp[(slice(None), slice(None), *tap_slices(tap, geo.stride, geo.dilation, geo.out_size))]


def _combine_taps(xp, geo: WindowGeometry, ufunc) -> np.ndarray:
    """ufunc (np.maximum, np.add) folded over the taps of every window of the padded input xp."""
    tap_list = list(taps(geo.kernel))
    y = _tap_view(xp, tap_list[0], geo).copy()
    for tap in tap_list[1:]:
        ufunc(y, _tap_view(xp, tap, geo), out=y)
    return y


# --------------------------------------------------------------------------------------- max

def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *,
             spatial_dims=None, any_padding=False):
    """Max over each window (padding never wins: it is -inf).

    `spatial_dims` (1 to 3), when given, is the number of spatial axes x must have (MaxPool2d
    passes 2); otherwise it is read from x, or from a tuple kernel_size. Padding is at most half
    the kernel (PyTorch's rule) unless `any_padding` (ONNX's: any padding leaving an input cell in
    every window).

    Shape:
        (N, C, *S) -> (N, C, *S_out), ``o = floor((i + p_lo + p_hi - d(k-1) - 1)/s) + 1`` (ceil with
        ceil_mode). `stride` defaults to `kernel_size`. Indices, as in PyTorch, are flat positions
        in each (unpadded) input plane.

    >>> max_pool(np.arange(16.).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    x = _pool_input(x, "max_pool", spatial_dims)
    geo = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode, "max_pool", any_padding)
    require_room("max_pool", x.shape, x.shape[1], geo)
    xp = pad(x, geo.pads, -np.inf)
    y = _combine_taps(xp, geo, np.maximum)  # propagates NaN, like PyTorch
    if not return_indices:
        return y
    # Winner = first tap equal to the max. Branch-free (a masked copy is 5x slower on random data):
    # tap t scores k - t where it equals the max, and the best score is the earliest tap.
    tap_list = list(taps(geo.kernel))
    k = len(tap_list)
    nan = np.isnan(y)
    nan = nan if nan.any() else None
    score = np.zeros(y.shape, np.int16)
    for t, tap in enumerate(tap_list):
        v = _tap_view(xp, tap, geo)
        hit = v == y if nan is None else (v == y) | (nan & np.isnan(v))  # NaN wins, like PyTorch
        np.maximum(score, hit.view(np.uint8) * np.int16(k - t), out=score)
    return y, _flat_indices(score, geo)


def _flat_indices(score: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """Winning score (k - tap number) -> flat index into the unpadded input plane (PyTorch's).

    index = sum over axes of (o*s + t*d - p_lo) * plane_stride: a per-position base (tap 0) plus
    a per-tap offset, looked up by score.
    """
    nsp = len(geo.kernel)
    plane_steps = cell_steps(geo.in_size)
    base = np.zeros((), np.int64)
    for a in range(nsp):
        o_a = window_cell(np.arange(geo.out_size[a]), 0, geo.stride[a], geo.dilation[a], geo.pads[a][0])
        base = np.add.outer(base, o_a * plane_steps[a])
    tap_list = list(taps(geo.kernel))
    by_score = np.zeros(len(tap_list) + 1, np.int64)
    for t, tap in enumerate(tap_list):
        by_score[len(tap_list) - t] = sum(window_cell(0, i, 1, d, 0) * st for i, d, st in zip(tap, geo.dilation, plane_steps))
    flat = by_score[score]
    return np.add(flat, base, out=flat)


def max_pool_backward(dy, indices, input_shape):
    """Route each output gradient to the input element that won its window.

    `indices` are the flat indices returned by ``max_pool(..., return_indices=True)``. Windows may
    overlap, so contributions to one input element are summed.
    """
    dy = np.asarray(dy)
    n, c = input_shape[:2]
    plane = prod(input_shape[2:])
    if np.shape(indices) != dy.shape:
        raise ValueError(f"max_pool_backward: indices of shape {np.shape(indices)} must match dy {dy.shape}")
    rows = (np.arange(n * c) * plane).reshape(n, c, *([1] * (dy.ndim - 2)))
    dx = np.zeros(n * c * plane, dy.dtype)
    np.add.at(dx, (indices + rows).ravel(), dy.ravel())  # overlapping windows may share a winner
    return dx.reshape(input_shape)


# --------------------------------------------------------------------------------------- average

def _divisor(geo: WindowGeometry, count_include_pad: bool) -> np.ndarray:
    """Number of cells each window averages over (inside the input, or the input and its asked
    padding with count_include_pad), as a product of per-axis counts (separable)."""
    div = np.ones((), np.float64)
    for count in window_counts(geo, padded=count_include_pad):
        div = np.multiply.outer(div, count)
    return div


def sum_pool(x, geo: WindowGeometry) -> np.ndarray:
    """The sum of each window of x (zero padding), for a resolved geometry."""
    require_room("sum_pool", x.shape, x.shape[1], geo)
    return _combine_taps(pad(x, geo.pads, 0.0), geo, np.add)


def sum_pool_backward(dy, input_shape, geo: WindowGeometry) -> np.ndarray:
    """Each window adds its output gradient to every cell it read (col2im of a broadcast)."""
    canvas = np.zeros((*input_shape[:2], *geo.padded_size), dy.dtype)
    expand = (slice(None), slice(None), *([None] * len(geo.kernel)))
    windows = np.broadcast_to(dy[expand], (*dy.shape[:2], *geo.kernel, *dy.shape[2:]))  # (N, C, *K, *O)
    scatter_windows(canvas, windows, geo.kernel, geo.stride, geo.dilation, geo.out_size)
    return crop(canvas, geo.pads, geo.in_size).copy()


def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, *, spatial_dims=None,
             dilation=1, any_padding=False):
    """Mean over each window; the divisor counts padding cells only with count_include_pad.
    `spatial_dims` and `any_padding` as in `max_pool`; `dilation` (ONNX's; PyTorch's average pools
    have none) spaces the cells of a window.

    Shape:
        (N, C, *S) -> (N, C, *S_out), as in `max_pool`.

    >>> avg_pool(np.arange(16.).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    x = _pool_input(x, "avg_pool", spatial_dims)
    geo = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode, "avg_pool", any_padding)
    y = sum_pool(x, geo)
    y /= _divisor(geo, count_include_pad).astype(x.dtype)
    return y


def avg_pool_backward(dy, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                      count_include_pad=True, *, spatial_dims=None, dilation=1, any_padding=False):
    """Each window spreads dy / (its divisor) evenly over its cells."""
    dy = np.asarray(dy)
    check_array(np.broadcast_to(np.zeros((), dy.dtype), input_shape), "avg_pool_backward", spatial_dims=spatial_dims)
    geo = pool_geometry(input_shape, kernel_size, stride, padding, dilation, ceil_mode, "avg_pool_backward",
                        any_padding)
    return sum_pool_backward(dy / _divisor(geo, count_include_pad).astype(dy.dtype), input_shape, geo)


# --------------------------------------------------------------------------------------- global

def global_avg_pool(x):
    """Mean over all spatial positions: (N, C, *S) -> (N, C)."""
    x = check_array(x, "global_avg_pool")
    return x.mean(axis=tuple(range(2, x.ndim)))


def global_avg_pool_backward(dy, input_shape):
    dy = np.asarray(dy)
    scale = dy / prod(input_shape[2:])
    return np.broadcast_to(scale.reshape(*dy.shape, *([1] * (len(input_shape) - 2))), input_shape).copy()


def global_max_pool(x, return_indices=False):
    """Max over all spatial positions: (N, C, *S) -> (N, C); indices are flat per plane."""
    x = check_array(x, "global_max_pool")
    flat = x.reshape(*x.shape[:2], prod(x.shape[2:]))  # not -1: N = 0 leaves it undetermined
    idx = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    return (y, idx) if return_indices else y


def global_max_pool_backward(dy, indices, input_shape):
    dy = np.asarray(dy)
    dx = np.zeros((*input_shape[:2], prod(input_shape[2:])), dy.dtype)
    np.put_along_axis(dx, np.asarray(indices)[..., None], dy[..., None], axis=-1)
    return dx.reshape(input_shape)


# --------------------------------------------------------------------------------------- k-max

def kmax_pool(x, k, axis=-1, return_indices=False):
    """The k largest values along `axis`, kept in their original order (Kalchbrenner et al. 2014).

    >>> kmax_pool(np.array([[[3., 1., 4., 1., 5.]]]), 2)
    array([[[4., 5.]]])
    """
    x = check_array(x, "kmax_pool")
    axis = _axis(axis, x.ndim, "kmax_pool")
    size = x.shape[axis]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= size:
        raise ValueError(f"kmax_pool: k must be an int with 1 <= k <= {size} (size of axis {axis}), got {k!r}")
    idx = np.argpartition(x, size - k, axis=axis)
    idx = np.sort(np.take(idx, np.arange(size - k, size), axis=axis), axis=axis)
    y = np.take_along_axis(x, idx, axis=axis)
    return (y, idx) if return_indices else y


def kmax_pool_backward(dy, indices, input_shape, axis=-1):
    dy = np.asarray(dy)
    axis = _axis(axis, len(input_shape), "kmax_pool_backward")
    dx = np.zeros(input_shape, dy.dtype)
    np.put_along_axis(dx, indices, dy, axis=axis)
    return dx


def _axis(axis, ndim: int, op: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for an input with {ndim} axes")
    return axis % ndim
