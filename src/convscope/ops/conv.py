"""N-d convolution (cross-correlation), its transpose and their gradients: the public ops.

Arguments are checked and resolved here (through `geometry`); the arithmetic is planned and run
by `engine` (fast paths) and defined, for reading and testing, in `reference`. The input gradient
of a convolution IS the transposed convolution, so both directions share one engine call.
"""
from __future__ import annotations

import numpy as np

from . import engine
from .geometry import check_array, conv_geometry, require_room, transposed_geometry
from .windows import flip_kernel


def _operands(x: np.ndarray, w, b, op: str, layout: str, bias: bool = True):
    """The weight (and bias) as arrays, checked to share x's floating dtype: one dtype for all
    three, as in PyTorch, never a silent cast (which would drop a complex bias's imaginary part)."""
    w = np.asarray(w)
    b = None if b is None else np.asarray(b)
    if w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        names = "input, weight and bias" if bias else "input and weight"
        got = f"input {x.dtype}, weight {w.dtype}" + (f", bias {None if b is None else b.dtype}" if bias else "")
        raise TypeError(f"{op}: {names} must share one floating dtype (float32 or float64), got {got}; "
                        "cast them first, e.g. w.astype(x.dtype)")
    if not 3 <= w.ndim <= 5:
        raise ValueError(f"{op}: weight of shape {w.shape} must be {layout} with 1 to 3 kernel axes")
    return w, b


def _check_bias(b, channels: int, op: str):
    if b is not None and b.shape != (channels,):
        raise ValueError(f"{op}: bias of shape {b.shape} must be ({channels},), one per output channel")


# ---------------------------------------------------------------------------------------------
# Public ops

def conv(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False):
    """N-d convolution as the lecture and PyTorch define it (cross-correlation).

    Args:
        x: input (N, C, *S), 1 to 3 spatial axes, float32 or float64.
        w: weight (O, C/groups, *K).  b: optional bias (O,).
        stride, dilation: int or one per spatial axis.
        padding: 'valid' | 'same' | 'full' | int | tuple of ints | tuple of (lo, hi) pairs.
            'same' follows TensorFlow (o = ceil(i/s), extra pad on the high side).
        groups: input and output channels split into this many independent groups.
        flip: True for true convolution (kernel flipped on every spatial axis).

    Shape:
        y: (N, O, *S_out) with ``o = floor((i + p_lo + p_hi - d(k-1) - 1)/s) + 1`` per axis.
        N = 0 gives an empty result. Note: unlike PyTorch 2.13, which returns (N, 0, *S_out) for
        an input with C = 0 channels, the result keeps its O channels: a sum over no channels is
        0, plus the bias.

    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> conv(x, np.ones((1, 1, 3, 3), np.float32)).shape
    (1, 1, 2, 2)
    """
    x = check_array(x, "conv")
    w, b = _operands(x, w, b, "conv", "(out_channels, in_channels/groups, *kernel)")
    geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups, "conv")
    require_room("conv", x.shape, w.shape[0], geo)
    _check_bias(b, w.shape[0], "conv")
    return engine.forward(x, flip_kernel(w) if flip else w, geo, b)


def conv_backward(dy, x, w, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
                  input_grad=True, weight_grad=True):
    """Gradients of `conv` for the upstream gradient dy (N, O, *S_out).

    Returns (dx, dw, db); dx or dw is None when not asked for. db = dy summed over N and space
    (whether or not the forward had a bias).
    """
    x = check_array(x, "conv_backward")
    w, _ = _operands(x, w, None, "conv_backward", "(out_channels, in_channels/groups, *kernel)", bias=False)
    geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups, "conv_backward")
    dy = _grad_array(dy, (x.shape[0], w.shape[0], *geo.out_size), x.dtype, "conv_backward")
    wf = flip_kernel(w) if flip else w
    dx = engine.input_grad(dy, wf, geo) if input_grad else None
    dw = None
    if weight_grad:
        dw = engine.weight_grad(x, dy, geo, w.shape)
        dw = flip_kernel(dw) if flip else dw
    db = dy.sum(axis=(0, *range(2, dy.ndim)))
    return dx, dw, db


def conv_transpose(y, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Transposed convolution: the adjoint of `conv` with the same weight and settings.

    Args:
        y: input (N, C_in, *S).  w: weight (C_in, C_out/groups, *K), PyTorch's layout.
        padding: int, tuple of ints, or (lo, hi) pairs: removed from the border of the output.
        output_padding: extra cells on the high side of the output (< stride or < dilation).

    Shape:
        out: (N, C_out, *S_out), ``o = (i-1)s - p_lo - p_hi + d(k-1) + output_padding + 1``.

    >>> conv_transpose(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))).shape
    (1, 1, 4, 4)
    """
    y = check_array(y, "conv_transpose")
    w, b = _operands(y, w, b, "conv_transpose", "(in_channels, out_channels/groups, *kernel)")
    geo, _ = transposed_geometry(y.shape, w.shape, stride, padding, output_padding, dilation, groups)
    _check_bias(b, w.shape[1] * geo.groups, "conv_transpose")
    dx = engine.input_grad(y, w, geo)
    if b is not None:
        dx += b.reshape(1, -1, *([1] * (dx.ndim - 2)))
    return dx


def conv_transpose_backward(dout, y, w, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                            input_grad=True, weight_grad=True):
    """Gradients of `conv_transpose`: (dy, dw, db) for the upstream gradient dout (N, C_out, *S_out).

    Since conv_transpose(y) = C^T y, its input gradient is C dout = conv(dout), and its weight
    gradient is conv's weight gradient with the roles of input and upstream gradient swapped.
    """
    op = "conv_transpose_backward"
    y = check_array(y, op)
    w, _ = _operands(y, w, None, op, "(in_channels, out_channels/groups, *kernel)", bias=False)
    geo, out = transposed_geometry(y.shape, w.shape, stride, padding, output_padding, dilation, groups, op)
    dout = _grad_array(dout, (y.shape[0], w.shape[1] * geo.groups, *out), y.dtype, op)
    dy = engine.forward(dout, w, geo) if input_grad else None
    dw = engine.weight_grad(dout, y, geo, w.shape) if weight_grad else None
    db = dout.sum(axis=(0, *range(2, dout.ndim)))
    return dy, dw, db


def _grad_array(g, shape, dtype, op: str) -> np.ndarray:
    g = np.asarray(g)
    if g.shape != tuple(shape):
        raise ValueError(f"{op}: upstream gradient has shape {g.shape}, expected {tuple(shape)} "
                         "(the shape of the forward output)")
    return g.astype(dtype, copy=False)
