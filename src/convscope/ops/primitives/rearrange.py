"""Ops that move or repeat values without arithmetic, and the Einstein sum: pixel shuffle and
unshuffle (sub-pixel convolution, Shi et al. 2016; ONNX DepthToSpace/SpaceToDepth in both channel
orders), tile (torch's repeat and tile, ONNX Tile), expand (broadcasting to a shape) and einsum.

Pixel shuffle on n spatial axes with factor r: channel c * r^n + (j_1 .. j_n) (CRD, PyTorch's order)
or (j_1 .. j_n) * C + c (DCR, ONNX's default) of cell (y_1 .. y_n) goes to channel c, cell
(y_1 r + j_1, ..., y_n r + j_n): a reshape, a permutation and a reshape, whose gradient is the
inverse permutation. Unshuffle is its inverse.
"""
from __future__ import annotations

import numpy as np

from ..geometry import WindowGeometry
from ..registry import ELEMENTWISE, RESHAPE, Aval, Window, define

MODES = ("CRD", "DCR")


def _shuffle_plan(shape, r: int, mode: str, up: bool, op: str):
    """(split shape, permutation, output shape) of pixel shuffle (`up`) or unshuffle of `shape`."""
    if mode not in MODES:
        raise ValueError(f"{op}: mode must be 'CRD' (PyTorch's channel order) or 'DCR' (ONNX's default), got {mode!r}")
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise ValueError(f"{op}: the factor must be an int >= 1, got {r!r}")
    if len(shape) < 3:
        raise ValueError(f"{op}: input {tuple(shape)} must be (N, C, *S) with at least one spatial axis")
    (batch, c), sizes = shape[:2], tuple(shape[2:])
    n = len(sizes)
    if up:
        if c % r ** n:
            raise ValueError(f"{op}: {c} channels are not divisible by factor^{n} = {r ** n} (input {tuple(shape)})")
        c_out = c // r ** n
        split = (batch, c_out, *(r,) * n, *sizes) if mode == "CRD" else (batch, *(r,) * n, c_out, *sizes)
        blocks, chan = (range(2, 2 + n), 1) if mode == "CRD" else (range(1, 1 + n), 1 + n)
        spatial = range(2 + n, 2 + 2 * n)
        perm = (0, chan, *(a for pair in zip(spatial, blocks) for a in pair))  # (N, C, S_1, r, S_2, r, ...)
        return split, perm, (batch, c_out, *(s * r for s in sizes))
    if any(s % r for s in sizes):
        raise ValueError(f"{op}: spatial size {sizes} is not divisible by the factor {r} on every axis")
    split = (batch, c, *(a for s in sizes for a in (s // r, r)))  # (N, C, S_1/r, r, S_2/r, r, ...)
    blocks, spatial = tuple(range(3, 2 + 2 * n, 2)), tuple(range(2, 2 + 2 * n, 2))
    perm = (0, 1, *blocks, *spatial) if mode == "CRD" else (0, *blocks, 1, *spatial)
    return split, perm, (batch, c * r ** n, *(s // r for s in sizes))


def _rearranged(x, split, perm, out):
    y = x.reshape(split).transpose(perm).reshape(out)
    inverse = tuple(np.argsort(perm))
    return y, lambda g: (g.reshape(tuple(split[p] for p in perm)).transpose(inverse).reshape(x.shape),)


def _shuffle_window(up: bool, key: str):
    """Each output cell reads one input cell, of the block it came from: a transposed window of
    kernel and stride r (shuffle, as nearest upsampling) or a window of kernel and stride r (unshuffle)."""
    def geometry(ins, out, a):
        r, small = a[key], tuple(ins[0].shape[2:])
        n = len(small)
        big = tuple(s * r for s in small) if up else small
        small = small if up else tuple(s // r for s in small)
        return WindowGeometry(big, (r,) * n, (r,) * n, (1,) * n, ((0, 0),) * n, small)
    return Window(geometry, transposed=up)


def _shuffle_onnx(up: bool, key: str):
    def export(e, node):
        a, shape = node.attrs, node.in_avals[0].shape
        if len(shape) == 4 and (up or a["mode"] == "DCR"):
            kw = dict(mode=a["mode"]) if up else {}
            e.emit("DepthToSpace" if up else "SpaceToDepth", e.inputs, e.output, blocksize=int(a[key]), **kw)
            return
        split, perm, out = _shuffle_plan(shape, a[key], a["mode"], up, node.op)
        y = e.emit("Reshape", [e.inputs[0], e.const(np.array([0, *split[1:]], np.int64))])
        y = e.emit("Transpose", [y], perm=list(perm))
        e.emit("Reshape", [y, e.const(np.array([0, *out[1:]], np.int64))], e.output)
    return export


def _shuffle_shape(up: bool, key: str, op: str):
    def shape(x, **a):
        return Aval(_shuffle_plan(x.shape, a[key], a.get("mode", "CRD"), up, op)[2], x.dtype)
    return shape


@define("pixel_shuffle", lambda ins, a: _shuffle_window(True, "upscale_factor"),
        shape=_shuffle_shape(True, "upscale_factor", "pixel_shuffle"), torch=("pixel_shuffle",),
        onnx=_shuffle_onnx(True, "upscale_factor"))
def pixel_shuffle(x, *, upscale_factor, mode="CRD"):
    """(N, C r^n, *S) -> (N, C, *(S r)): channels become r x ... x r blocks of cells (ONNX DepthToSpace)."""
    return _rearranged(x, *_shuffle_plan(x.shape, upscale_factor, mode, True, "pixel_shuffle"))


@define("pixel_unshuffle", lambda ins, a: _shuffle_window(False, "downscale_factor"),
        shape=_shuffle_shape(False, "downscale_factor", "pixel_unshuffle"), torch=("pixel_unshuffle",),
        onnx=_shuffle_onnx(False, "downscale_factor"))
def pixel_unshuffle(x, *, downscale_factor, mode="CRD"):
    """(N, C, *(S r)) -> (N, C r^n, *S): each r x ... x r block of cells becomes channels (ONNX
    SpaceToDepth is mode 'DCR')."""
    return _rearranged(x, *_shuffle_plan(x.shape, downscale_factor, mode, False, "pixel_unshuffle"))


# ------------------------------------------------------------------------------ tile and expand

def _reps(shape, reps) -> tuple:
    reps = tuple(int(r) for r in reps)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repeats must be >= 0, got {reps}")
    return (1,) * (len(shape) - len(reps)) + reps


def _tile_shape(x, *, reps):
    full = _reps(x.shape, reps)
    lead = (1,) * (len(full) - len(x.shape)) + tuple(x.shape)
    return Aval(tuple(r * s for r, s in zip(full, lead)), x.dtype)


def _tile_onnx(e, node):
    shape, full = node.in_avals[0].shape, _reps(node.in_avals[0].shape, node.attrs["reps"])
    x = e.inputs[0]
    if len(full) > len(shape):  # ONNX's Tile keeps the rank: new leading axes first
        x = e.emit("Unsqueeze", [x, e.const(np.arange(len(full) - len(shape), dtype=np.int64))])
    e.emit("Tile", [x, e.const(np.array(full, np.int64))], e.output)


@define("tile", RESHAPE, shape=_tile_shape, onnx=_tile_onnx)
def tile(x, *, reps):
    """x repeated reps[a] times along each axis a (NumPy's tile: torch's Tensor.repeat and torch.tile;
    more reps than axes add leading axes, fewer repeat the last axes)."""
    # each copy's gradient adds back: (r_1, s_1, r_2, s_2, ...) summed over the r axes
    full = _reps(x.shape, reps)
    lead = (1,) * (len(full) - x.ndim) + x.shape

    def backward(g):
        split = tuple(n for r, s in zip(full, lead) for n in (r, s))
        return (g.reshape(split).sum(axis=tuple(range(0, 2 * len(full), 2))).reshape(x.shape),)
    return np.tile(x, full), backward


def _expand_shape(x, *, shape):
    try:
        return Aval(tuple(np.broadcast_shapes(tuple(x.shape), tuple(shape))), x.dtype)
    except ValueError:
        raise ValueError(f"expand: input {tuple(x.shape)} does not broadcast to {tuple(shape)}") from None


def _expand_onnx(e, node):
    e.emit("Expand", [e.inputs[0], e.const(np.array(node.shape, np.int64))], e.output)


@define("expand", ELEMENTWISE, shape=_expand_shape, onnx=_expand_onnx)
def expand(x, *, shape):
    """x broadcast against `shape` (ONNX's Expand: either side may be 1); the gradient sums back."""
    from .elementwise import unbroadcast

    out = _expand_shape(Aval(x.shape, x.dtype), shape=shape).shape
    return np.broadcast_to(x, out).copy(), lambda g: (unbroadcast(g, x.shape).reshape(x.shape),)
