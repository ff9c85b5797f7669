"""Padding of the spatial axes with PyTorch's four modes: 'constant' (any fill value), 'reflect'
(mirror without repeating the edge), 'replicate' (repeat the edge) and 'circular' (wrap around).

`pad` is given as torch.nn.functional.pad takes it: flat, last axis first, (lo, hi) per axis, for
the trailing spatial axes. Every mode is one index map per axis: padded cell j of an axis of size i
with lo cells before it reads input cell src(j - lo) (none for 'constant'); the forward is that
gather (NumPy's pad modes), the backward its adjoint: each border cell adds its gradient to the
input cell it read.
"""
from __future__ import annotations

import numpy as np

from ..geometry import WindowGeometry
from ..registry import Aval, Window, define, onnx_pads

MODES = ("constant", "reflect", "replicate", "circular")
_ONNX_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}
_NUMPY_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pairs(x_shape, pad, mode="constant") -> tuple:
    """Torch's flat pad (last axis first) as one (lo, hi) pair per spatial axis, first axis first,
    checked against the input shape and the mode's rule."""
    pad = tuple(pad)
    n_sp = len(x_shape) - 2
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if any(isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, np.integer)) for p in pad):
        raise TypeError(f"pad: pad must be ints (lo, hi per axis, last axis first), got {pad!r}")
    if len(pad) % 2 or len(pad) > 2 * n_sp or n_sp < 1:
        raise ValueError(f"pad: pad {pad} must hold a (lo, hi) pair for each of up to {max(n_sp, 0)} spatial axes "
                         f"of the input {tuple(x_shape)} (N, C, *S), last axis first")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative pads (cropping) are not supported, got {pad}; crop by slicing")
    given = [(int(pad[2 * k]), int(pad[2 * k + 1])) for k in range(len(pad) // 2)][::-1]
    out = ((0, 0),) * (n_sp - len(given)) + tuple(given)
    for a, ((lo, hi), i) in enumerate(zip(out, x_shape[2:])):
        if mode == "reflect" and max(lo, hi) >= i:
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) of spatial axis {a} must be smaller than its size "
                             f"{i}: the mirror repeats no edge, so at most i - 1 = {i - 1} cells fit")
        if mode == "circular" and max(lo, hi) > i:
            raise ValueError(f"pad: circular padding ({lo}, {hi}) of spatial axis {a} must be at most its size {i}")
    return out


def _source(i: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """Input cell read by each padded cell of one axis (-1: the constant)."""
    j = np.arange(-lo, i + hi)
    if mode == "constant":
        return np.where((j >= 0) & (j < i), j, -1)
    if mode == "replicate":
        return np.clip(j, 0, i - 1)
    if mode == "circular":
        return j % i
    period = 2 * (i - 1) if i > 1 else 1  # reflect: ... 2 1 | 0 1 2 ... i-1 | i-2 i-3 ...
    m = np.abs(j) % period
    return np.where(m < i, m, period - m)


def _geometry(ins, out, a) -> WindowGeometry:
    """Padding is a 1-cell window over the padded map: it shifts the field's start, nothing else
    (reflect, replicate and circular cells repeat input cells; the field is drawn as if outside)."""
    in_size = tuple(ins[0].shape[2:])
    pads = pairs(ins[0].shape, a["pad"], a.get("mode", "constant"))
    ones = (1,) * len(pads)
    return WindowGeometry(in_size, ones, ones, ones, pads, tuple(out.shape[2:]))


def _shape(x, *, pad, mode="constant", value=None):
    pads = pairs(x.shape, pad, mode)
    return Aval((*x.shape[:2], *(i + lo + hi for i, (lo, hi) in zip(x.shape[2:], pads))), x.dtype)


def _onnx(e, node):
    a = node.attrs
    mode = a.get("mode", "constant")
    if mode not in _ONNX_MODES:
        raise ValueError("pad: mode 'circular' is ONNX Pad mode 'wrap', which needs opset 19; convscope writes "
                         "opset 17 (pad with 'reflect', 'replicate' or 'constant' to export)")
    pads = pairs(node.in_avals[0].shape, a["pad"], mode)
    flat = onnx_pads(((0, 0), (0, 0), *pads))
    inputs = [e.inputs[0], e.const(np.array(flat, np.int64))]
    if mode == "constant" and a.get("value"):
        inputs.append(e.const(np.array(a["value"], np.float32)))
    e.emit("Pad", inputs, e.output, mode=_ONNX_MODES[mode])


@define("pad", Window(_geometry), shape=_shape, torch=("pad",), onnx=_onnx)
def pad(x, *, pad, mode="constant", value=None):
    """Pad the trailing spatial axes of x (N, C, *S); `pad` flat and last axis first, as PyTorch's
    F.pad, `value` (default 0) fills 'constant' padding. The gradient of each mode is the adjoint of
    its gather: padded cells reading the same input cell add their gradients there."""
    pads = pairs(x.shape, pad, mode)
    if mode != "constant" and value:
        raise ValueError(f"pad: mode {mode!r} takes no fill value (got value={value}); only 'constant' does")
    maps = [(2 + a, _source(i, lo, hi, mode)) for a, ((lo, hi), i) in enumerate(zip(pads, x.shape[2:])) if lo or hi]
    # NumPy's own modes gather exactly what the index maps say (the tests hold them to PyTorch)
    fill = dict(constant_values=0 if value is None else value) if mode == "constant" else {}
    y = np.pad(x, ((0, 0), (0, 0), *pads), mode=_NUMPY_MODES[mode], **fill)

    def backward(g):
        for axis, src in reversed(maps):
            i, (lo, _) = x.shape[axis], pads[axis - 2]
            moved = np.moveaxis(g, axis, 0)  # (padded cells, ...)
            dx = moved[lo:lo + i].copy()  # the interior reads each input cell once
            for j in (*range(lo), *range(lo + i, len(src))):  # the few border cells add to what they read
                if src[j] >= 0:
                    dx[src[j]] += moved[j]
            g = np.moveaxis(dx, 0, axis)
        return (g,)
    return y.astype(x.dtype, copy=False), backward
