"""Pooling ops: windows without weights, the global and k-max reductions, adaptive pooling."""
from __future__ import annotations

import numpy as np

from .. import pool
from ..geometry import WindowGeometry, pool_geometry
from ..registry import GLOBAL, Aval, Op, Window, define, keeps_input, keeps_output, no_macs, onnx_pads, register


def _geometry(op: str):
    def geometry(ins, out, a):
        return pool_geometry(ins[0].shape, a["kernel_size"], a["stride"], a["padding"], a.get("dilation", 1),
                             a["ceil_mode"], op, a.get("any_padding", False))
    return geometry


def _shape(op: str):
    def shape(x, **a):
        geo = _geometry(op)((x,), None, a)
        return Aval((*x.shape[:2], *geo.out_size), x.dtype)
    return shape


def _pool_onnx(kind: str):
    def export(e, node):
        geo = node.geometry
        kw = dict(kernel_shape=list(geo.kernel), strides=list(geo.stride), ceil_mode=int(bool(geo.ceil_extra)),
                  pads=onnx_pads(geo.asked_pads))
        if kind == "MaxPool":
            kw["dilations"] = list(geo.dilation)
        elif any(d != 1 for d in geo.dilation):
            raise ValueError("avg_pool with dilation: ONNX's AveragePool takes dilations from opset 19; convscope "
                             "writes opset 17")
        else:
            kw["count_include_pad"] = int(node.attrs["count_include_pad"])
        e.emit(kind, e.inputs, e.output, **kw)
    return export


@define("max_pool", Window(_geometry("max_pool")), shape=_shape("max_pool"), saved=keeps_output(8),
        torch=("max_pool1d", "max_pool2d", "max_pool3d"), aten=("max_pool1d", "max_pool2d", "max_pool3d"),
        onnx=_pool_onnx("MaxPool"))
def max_pool(x, *, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, any_padding=False):
    """Max over each window; `any_padding` allows ONNX's padding (more than half the kernel)."""
    y, idx = pool.max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True,
                           any_padding=any_padding)
    return y, lambda g: (pool.max_pool_backward(g, idx, x.shape),)


def _avg_pool_onnx(e, node):
    """AveragePool, or with divisor_override the window sums over a fixed divisor: a depthwise Conv
    of ones / divisor over zero padding (ONNX's AveragePool has no divisor)."""
    d = node.attrs.get("divisor_override")
    if d is None:
        return _pool_onnx("AveragePool")(e, node)
    geo, c = node.geometry, node.in_avals[0].shape[1]
    w = np.full((c, 1, *geo.kernel), 1.0 / d, np.float32)
    e.emit("Conv", [e.inputs[0], e.const(w)], e.output, kernel_shape=list(geo.kernel), strides=list(geo.stride),
           group=c, pads=onnx_pads(geo.pads))


@define("avg_pool", Window(_geometry("avg_pool")), shape=_shape("avg_pool"),
        torch=("avg_pool1d", "avg_pool2d", "avg_pool3d"), aten=("avg_pool1d", "avg_pool2d", "avg_pool3d"), onnx=_avg_pool_onnx)
def avg_pool(x, *, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None, dilation=1, any_padding=False):
    """Mean over each window; with divisor_override (PyTorch's), each window's sum over that fixed
    divisor instead: the mean times (the window's own divisor) / divisor_override. `dilation` and
    `any_padding` are ONNX's (AveragePool's dilations, padding over half the kernel)."""
    kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
              dilation=dilation, any_padding=any_padding)
    y = pool.avg_pool(x, kernel_size, **kw)
    scale = 1
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)) or \
                divisor_override < 1:
            raise ValueError(f"avg_pool: divisor_override must be an int >= 1, got {divisor_override!r}")
        geo = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode, "avg_pool", any_padding)
        scale = (pool._divisor(geo, count_include_pad) / divisor_override).astype(x.dtype)
        y = y * scale
    return y, lambda g: (pool.avg_pool_backward(g * scale, x.shape, kernel_size, **kw),)


def _lp_onnx(e, node):
    a, geo = node.attrs, node.geometry
    p = float(a["norm_type"])
    if p != int(p) or (not a["absolute"] and p % 2):
        raise ValueError(f"lp_pool with norm_type {p} of signed values (PyTorch's LPPool) has no ONNX LpPool form "
                         "(ONNX's is an integer p over |x|; an even p is both)")
    if geo.ceil_extra or any(d != 1 for d in geo.dilation):
        raise ValueError("lp_pool with ceil_mode or dilation: ONNX's LpPool takes them from opset 18; convscope "
                         "writes opset 17")
    e.emit("LpPool", e.inputs, e.output, kernel_shape=list(geo.kernel), strides=list(geo.stride),
           pads=onnx_pads(geo.pads), p=int(p))


@define("lp_pool", Window(_geometry("lp_pool")), shape=_shape("lp_pool"), saved=keeps_input,
        torch=("lp_pool1d", "lp_pool2d", "lp_pool3d"), onnx=_lp_onnx)
def lp_pool(x, *, norm_type, kernel_size, stride=None, ceil_mode=False, padding=0, dilation=1, absolute=False,
            any_padding=False):
    """The p-norm of each window, (sum x^p)^(1/p) with p = norm_type: of |x| with `absolute` (ONNX's
    LpPool), of x itself otherwise (PyTorch's lp_pool, NaN where an odd power sums below 0). Padding
    cells are zeros; `dilation` and `padding` are ONNX's."""
    # d y / d x = (1/p) S^(1/p - 1) * p x^(p-1) summed over the windows holding x: the window
    # gradient g y / S scattered back (as a sum pool's), times x^(p-1) (|x|^(p-1) sign x)
    p = float(norm_type)
    if not p > 0:
        raise ValueError(f"lp_pool: norm_type must be > 0, got {norm_type!r}")
    geo = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode, "lp_pool", any_padding)
    if geo.ceil_extra and not absolute:
        raise ValueError("lp_pool: ceil_mode with a partial last window is not supported for PyTorch's form: PyTorch "
                         "scales that window's sum by kernel size / cells inside, which is no p-norm")
    base = np.abs(x) if absolute else x
    with np.errstate(invalid="ignore", divide="ignore"):
        s = pool.sum_pool(base ** p, geo)
        y = (s ** (1 / p)).astype(x.dtype, copy=False)

    def backward(g):
        with np.errstate(invalid="ignore", divide="ignore"):
            per_window = np.where(s == 0, 0, g * y / s).astype(x.dtype, copy=False)
            slope = base ** (p - 1) * (np.sign(x) if absolute else 1)
        return ((pool.sum_pool_backward(per_window, x.shape, geo) * slope).astype(x.dtype, copy=False),)
    return y, backward


def _global_shape(x):
    return Aval(tuple(x.shape[:2]), x.dtype)


def _global_onnx(kind: str):
    def export(e, node):
        e.emit("Flatten", [e.emit(kind, e.inputs)], e.output, axis=1)
    return export


@define("global_avg_pool", GLOBAL, shape=_global_shape, onnx=_global_onnx("GlobalAveragePool"))
def global_avg_pool(x):
    return pool.global_avg_pool(x), lambda g: (pool.global_avg_pool_backward(g, x.shape),)


@define("global_max_pool", GLOBAL, shape=_global_shape, saved=keeps_output(8), onnx=_global_onnx("GlobalMaxPool"))
def global_max_pool(x):
    y, idx = pool.global_max_pool(x, return_indices=True)
    return y, lambda g: (pool.global_max_pool_backward(g, idx, x.shape),)


def _kmax_shape(x, *, k, axis):
    shape = list(x.shape)
    shape[axis] = k
    return Aval(tuple(shape), x.dtype)


@define("kmax_pool", GLOBAL, shape=_kmax_shape, saved=keeps_output(8))
def kmax_pool(x, *, k, axis):
    y, idx = pool.kmax_pool(x, k, axis, return_indices=True)
    return y, lambda g: (pool.kmax_pool_backward(g, idx, x.shape, axis),)


# ------------------------------------------------------------------------------ adaptive pooling
# Output o of an axis of size i pooled to size n reads cells floor(o i / n) .. ceil((o + 1) i / n) - 1
# (PyTorch's windows). Windows are boxes, so both poolings run one axis at a time.

def _adaptive_windows(i: int, n: int) -> list:
    return [((o * i) // n, -(-((o + 1) * i) // n)) for o in range(n)]


def _adaptive_size(x_shape, output_size) -> tuple:
    n_sp = len(x_shape) - 2
    size = (output_size,) * n_sp if isinstance(output_size, int) else tuple(output_size)
    if len(size) != n_sp:
        raise ValueError(f"adaptive pooling: output_size {output_size} has {len(size)} axes but the input "
                         f"{tuple(x_shape)} has {n_sp} spatial axes")
    return tuple(x_shape[2 + a] if s is None else int(s) for a, s in enumerate(size))


def _adaptive_shape(x, *, output_size):
    return Aval((*x.shape[:2], *_adaptive_size(x.shape, output_size)), x.dtype)


def _regular(ins, a) -> bool:
    return all(i % n == 0 for i, n in zip(ins[0].shape[2:], _adaptive_size(ins[0].shape, a["output_size"])))


def _global(ins, a) -> bool:
    return all(n == 1 for n in _adaptive_size(ins[0].shape, a["output_size"]))


def _adaptive_rf(ins, a):
    """Regular windows (i a multiple of n) are a pooling window k = s = i/n; irregular ones overlap
    by varying amounts and are reported as seeing the whole input, as pooling to 1 (global) is."""
    return Window(_adaptive_geometry) if _regular(ins, a) and not _global(ins, a) else GLOBAL


def _adaptive_geometry(ins, out, a) -> WindowGeometry:
    in_size = tuple(ins[0].shape[2:])
    size = _adaptive_size(ins[0].shape, a["output_size"])
    k = tuple(i // n for i, n in zip(in_size, size))
    return WindowGeometry(in_size, k, k, (1,) * len(k), tuple((0, 0) for _ in k), size)


def _adaptive_axis(x, axis: int, n: int, kind: str):
    """Pool one axis to n outputs; returns the result and its backward."""
    windows = _adaptive_windows(x.shape[axis], n)
    take = lambda s, e: x[(slice(None),) * axis + (slice(s, e),)]  # noqa: E731
    if kind == "avg":
        y = np.stack([take(s, e).mean(axis=axis) for s, e in windows], axis=axis)

        def backward(g):
            dx = np.zeros(x.shape, g.dtype)
            for o, (s, e) in enumerate(windows):
                dx[(slice(None),) * axis + (slice(s, e),)] += np.expand_dims(g.take(o, axis=axis) / (e - s), axis)
            return dx
        return y, backward
    arg = [take(s, e).argmax(axis=axis) + s for s, e in windows]  # first maximum, as PyTorch
    idx = np.stack(arg, axis=axis)
    y = np.take_along_axis(x, idx, axis=axis)

    def backward(g):
        dx = np.zeros(x.shape, g.dtype)
        np.add.at(dx, tuple(idx if a == axis else np.indices(idx.shape)[a] for a in range(x.ndim)), g)
        return dx
    return y, backward


def _adaptive(kind: str):
    def forward(x, *, output_size):
        size = _adaptive_size(x.shape, output_size)
        backs, y = [], x
        for a in range(len(size) - 1, -1, -1):  # last axis first
            y, back = _adaptive_axis(y, 2 + a, size[a], kind)
            backs.append(back)

        def backward(g):
            for back in reversed(backs):
                g = back(g)
            return (g,)
        return y, backward
    return forward


def _adaptive_onnx(kind: str):
    def export(e, node):
        if _global(node.in_avals, node.attrs):  # pooling to 1 keeps its axes: ONNX's global pools do too
            e.emit(f"Global{'Average' if kind == 'AveragePool' else 'Max'}Pool", e.inputs, e.output)
            return
        if not isinstance(node.rf, Window):
            if kind != "AveragePool":
                raise ValueError("adaptive max pooling with irregular windows (input size not a multiple of the "
                                 "output size) has no ONNX form")
            _averaging_matmuls(e, node)
            return
        geo = node.geometry
        e.emit(kind, e.inputs, e.output, kernel_shape=list(geo.kernel), strides=list(geo.stride))
    return export


def _averaging_matmuls(e, node) -> None:
    """Irregular adaptive average pooling is linear and separable: one MatMul per spatial axis with the
    (in, out) matrix of its window means, the axis moved last around it (Transpose)."""
    x = e.inputs[0]
    shape = node.in_avals[0].shape
    size = _adaptive_size(shape, node.attrs["output_size"])
    rank = len(shape)
    for a in range(rank - 1, 1, -1):
        n_in, n_out = shape[a], size[a - 2]
        mean = np.zeros((n_in, n_out), np.float32)
        for o, (lo, hi) in enumerate(_adaptive_windows(n_in, n_out)):
            mean[lo:hi, o] = 1.0 / (hi - lo)
        perm = list(range(rank))
        perm[a], perm[-1] = perm[-1], perm[a]  # a swap is its own inverse
        moved = x if a == rank - 1 else e.emit("Transpose", [x], perm=perm)
        x = e.emit("MatMul", [moved, e.const(mean)])
        x = x if a == rank - 1 else e.emit("Transpose", [x], perm=perm)
    e.emit("Identity", [x], e.output)


adaptive_avg_pool = register(Op("adaptive_avg_pool", _adaptive("avg"), _adaptive_shape, no_macs,
                                _adaptive_rf, torch=("adaptive_avg_pool1d",
                                "adaptive_avg_pool2d", "adaptive_avg_pool3d"),
                                aten=("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
                                      "_adaptive_avg_pool2d", "_adaptive_avg_pool3d"), onnx=_adaptive_onnx("AveragePool")))
adaptive_max_pool = register(Op("adaptive_max_pool", _adaptive("max"), _adaptive_shape, no_macs,
                                _adaptive_rf, saved=keeps_output(8),
                                torch=("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"),
                                onnx=_adaptive_onnx("MaxPool")))
