"""More ONNX rules (see onnx_rules): activations with attributes, the variadic element-wise ops,
Gemm in general, and the ops that only rearrange or repeat values (DepthToSpace, SpaceToDepth,
Tile, Expand). Each is built from registered ops, so it has a gradient and a shape rule."""
from __future__ import annotations

import functools

import numpy as np

from ..nn import functional as F
from ..ops.primitives import activations as A
from ..ops.primitives import elementwise as E
from ..tensor import apply, concat
from .onnx_rules import Conversion, _all, rule


def _text(v, key, default):
    value = v.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else value


# ------------------------------------------------------------------------------ activations

@rule("Elu", "Celu", "Selu")
def _exponential_unit(v):
    """ELU and CELU with their alpha; SELU with ONNX's alpha and gamma, as the ELU curve scaled by gamma."""
    if v.op == "Selu":
        alpha, gamma = v.attrs.get("alpha", 1.67326319217681884765625), v.attrs.get("gamma", 1.05070102214813232421875)
        return Conversion(lambda x: F.elu(x, alpha) * gamma)
    alpha = v.attrs.get("alpha", 1.0)
    if v.op == "Celu" and alpha <= 0:
        raise ValueError(f"Celu with alpha {alpha} is not supported (alpha > 0)")
    return Conversion(lambda x: (F.elu if v.op == "Elu" else F.celu)(x, alpha))


@rule("Softplus")
def _softplus(v):
    return Conversion(lambda x: apply(E.softplus, x, threshold=np.inf))  # ONNX's curve never turns linear


@rule("Mish")
def _mish(v):
    return Conversion(F.mish)


@rule("ThresholdedRelu")
def _thresholded(v):
    alpha = v.attrs.get("alpha", 1.0)
    return Conversion(lambda x: apply(E.threshold, x, threshold=alpha, value=0.0))


@rule("Shrink")
def _shrink(v):
    lambd, bias = v.attrs.get("lambd", 0.5), v.attrs.get("bias", 0.0)
    return Conversion(lambda x: apply(E.shrink, x, lambd=lambd, bias=bias))


@rule("Hardmax")
def _hardmax(v):
    if v.opset < 13 and v.rank not in (None, 2):
        raise ValueError(f"Hardmax before opset 13 (coerced to 2-D) on a rank-{v.rank} input is not supported")
    axis = v.attrs.get("axis", -1 if v.opset >= 13 else 1)
    return Conversion(lambda x: apply(A.hardmax, x, axis=axis % x.ndim))


# ------------------------------------------------------------------------------ variadic

@rule("Max", "Min", "Sum", "Mean")
def _variadic(v):
    """Any number of inputs, broadcast together, folded pairwise (Mean: their sum over their count)."""
    pair = {"Max": lambda p, q: apply(E.maximum, p, q), "Min": lambda p, q: apply(E.minimum, p, q)}.get(
        v.op, lambda p, q: p + q)

    def run(*xs):
        out = functools.reduce(pair, xs)
        return out * (1.0 / len(xs)) if v.op == "Mean" else out
    return Conversion(run, _all(v))


# ------------------------------------------------------------------------------ matrices

@rule("Gemm")  # what no Linear is: a transposed or computed A, a matrix bias, alpha and beta
def _gemm(v):
    a = v.attrs
    alpha, beta, ta, tb = a.get("alpha", 1.0), a.get("beta", 1.0), a.get("transA", 0), a.get("transB", 0)

    def run(p, q, c=None):
        y = (p.transpose(1, 0) if ta else p) @ (q.transpose(1, 0) if tb else q)
        y = y if alpha == 1 else y * alpha
        return y if c is None else y + (c if beta == 1 else c * beta)
    return Conversion(run, (0, 1, 2) if v.has(2) else (0, 1))


# ------------------------------------------------------------------------------ rearranging and repeating

@rule("DepthToSpace", "SpaceToDepth")
def _depth_space(v):
    """(N, C, H, W) <-> (N, C / b^2, H b, W b): reshape, permute, reshape (ONNX's DCR and CRD orders)."""
    b, mode = v.attrs["blocksize"], _text(v, "mode", "DCR")

    def to_space(x):
        n, c, h, w = x.shape
        split = (n, b, b, c // (b * b), h, w) if mode == "DCR" else (n, c // (b * b), b, b, h, w)
        perm = (0, 3, 4, 1, 5, 2) if mode == "DCR" else (0, 1, 4, 2, 5, 3)
        return x.reshape(*split).transpose(*perm).reshape(n, c // (b * b), h * b, w * b)

    def to_depth(x):
        n, c, h, w = x.shape
        blocks = x.reshape(n, c, h // b, b, w // b, b)  # (N, C, H/b, b, W/b, b)
        perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
        return blocks.transpose(*perm).reshape(n, c * b * b, h // b, w // b)
    return Conversion(to_space if v.op == "DepthToSpace" else to_depth)


@rule("Tile")
def _tile(v):
    repeats = v.ints(1)
    if min(repeats) < 1:
        raise ValueError(f"Tile with repeats {repeats} is not supported (each at least 1)")

    def run(x):
        for axis, r in enumerate(repeats):
            x = concat([x] * r, axis=axis) if r != 1 else x
        return x
    return Conversion(run)


@rule("Expand")
def _expand(v):
    shape = v.ints(1)

    def run(x):  # broadcast by adding zeros of the target shape (its gradient sums back)
        target = np.broadcast_shapes(tuple(x.shape), tuple(shape))
        return x + np.zeros(target, x.dtype) if tuple(target) != tuple(x.shape) else x
    return Conversion(run)


# ------------------------------------------------------------------------------ normalisation

@rule("GroupNormalization")
def _group_norm(v):
    """Scale and bias per channel (opset 21), or per group (opset 18: repeated over its channels)."""
    groups, eps = v.attrs["num_groups"], v.attrs.get("epsilon", 1e-5)
    if v.attrs.get("stash_type", 1) != 1:
        raise ValueError(f"GroupNormalization with stash_type {v.attrs['stash_type']} is not supported (1: float)")

    def per_channel(p, c):
        return p if p.shape[0] == c else (p.reshape(groups, 1) + np.zeros((groups, c // groups), np.float32)).reshape(c)

    def run(x, scale, bias):
        c = x.shape[1]
        return F.group_norm(x, groups, per_channel(scale, c), per_channel(bias, c), eps)
    return Conversion(run, (0, 1, 2))


# ------------------------------------------------------------------------------ pooling

@rule("LpPool")
def _lp_pool(v):
    """(sum over the window of |x|^p)^(1/p): the sum pooled as an average pool whose divisor is 1."""
    a = v.attrs
    kernel = tuple(a["kernel_shape"])
    n, p = len(kernel), a.get("p", 2)
    stride, dilation = tuple(a.get("strides", [1] * n)), tuple(a.get("dilations", [1] * n))
    if any(d != 1 for d in dilation):
        raise ValueError(f"LpPool with dilations {list(dilation)} is not supported")
    pads, ceil = v.pads(kernel, stride, dilation), bool(a.get("ceil_mode", 0))

    def run(x):
        powered = x * x if p == 2 else apply(E.absolute, x) ** float(p)
        return F.avg_pool(powered, kernel, stride, pads, ceil, True, divisor_override=1) ** (1.0 / p)
    return Conversion(run)


# ------------------------------------------------------------------------------ resampling

_RESIZE_MODES = {  # (ONNX mode, coordinate transformation) -> (PyTorch mode stem, align_corners)
    ("nearest", "asymmetric"): ("nearest", None),  # floor(d r)
    ("nearest", "half_pixel"): ("nearest-exact", None),  # round_prefer_ceil((d + 0.5) r - 0.5) = floor((d + 0.5) r)
    ("linear", "half_pixel"): ("linear", False),
    ("linear", "pytorch_half_pixel"): ("linear", False),
    ("linear", "align_corners"): ("linear", True),
}


@rule("Resize", "Upsample")
def _resize(v):
    """ONNX Resize as PyTorch's interpolate (nearest; linear with and without align_corners)."""
    text = lambda k, d: (lambda s: s.decode() if isinstance(s, bytes) else s)(v.attrs.get(k, d))  # noqa: E731
    mode, ctm = text("mode", "nearest"), text("coordinate_transformation_mode", "half_pixel")
    if v.op == "Upsample":
        ctm = "asymmetric"
    key, nearest_mode = (mode, ctm), text("nearest_mode", "round_prefer_floor") if v.op == "Resize" else "floor"
    rounding = {"asymmetric": "floor", "half_pixel": "round_prefer_ceil"}.get(ctm)
    if mode == "nearest" and (key not in _RESIZE_MODES or nearest_mode != rounding) and ctm in _NEAREST_COORDINATES \
            and nearest_mode in _ROUNDINGS:
        key = ("nearest", "index")  # no interpolate mode computes it: the cells are picked by index
    if key not in _RESIZE_MODES and key != ("nearest", "index") or (key[1] != "index" and mode == "nearest"
                                                                      and nearest_mode != rounding):
        raise ValueError(f"Resize mode {mode!r} with coordinate_transformation_mode {ctm!r}"
                         + (f" and nearest_mode {nearest_mode!r}" if mode == "nearest" else "")
                         + " is not supported (supported: linear with "
                         + ", ".join(c for m, c in _RESIZE_MODES if m == "linear") + "; nearest with "
                         + ", ".join(_NEAREST_COORDINATES) + " and any nearest_mode)")
    stem, align = _RESIZE_MODES.get(key, ("nearest", None))
    for attr, default in (("antialias", 0), ("exclude_outside", 0)):
        if v.attrs.get(attr, default) != default:
            raise ValueError(f"Resize with {attr}={v.attrs[attr]} is not supported")
    policy = text("keep_aspect_ratio_policy", "stretch")
    if policy not in ("stretch", "not_larger", "not_smaller"):
        raise ValueError(f"Resize with keep_aspect_ratio_policy {policy!r} is not supported")
    sizes = v.ints(3) if v.op == "Resize" and v.has(3) else None
    scales = None if sizes else np.atleast_1d(v.const(2 if v.op == "Resize" else 1)).astype(float)
    if v.attrs.get("axes") is not None:  # sizes or scales of these axes only: the others keep theirs
        shape = v.shape(0)
        if shape is None:
            raise ValueError("Resize with axes needs the input's static shape (shape inference failed)")
        full = list(shape) if sizes else [1.0] * len(shape)
        for axis, value in zip(v.attrs["axes"], sizes or scales):
            full[axis % len(shape)] = value
        sizes, scales = (full, None) if sizes else (None, np.array(full))
    aspect = _keep_aspect(v, sizes, policy) if sizes and policy != "stretch" else None
    if aspect:
        sizes, aspect = aspect

    def run(x):
        if (sizes or scales) is not None and list((sizes or scales)[:2]) != (list(x.shape[:2]) if sizes else [1, 1]):
            raise ValueError(f"Resize of the batch or channel axis ({'sizes' if sizes else 'scales'} "
                             f"{list(sizes or scales)}) is not supported")
        m = stem if stem.startswith("nearest") else {1: "linear", 2: "bilinear", 3: "trilinear"}[x.ndim - 2]
        kw = {} if align is None else {"align_corners": align}
        size = sizes[2:] if sizes else [int(np.floor(i * r)) for i, r in zip(x.shape[2:], scales[2:])]
        if ctm == "pytorch_half_pixel" and any(o == 1 < i for i, o in zip(x.shape[2:], size)):
            raise ValueError("Resize pytorch_half_pixel to an axis of length 1 is not supported (ONNX samples its "
                             "first cell, PyTorch its centre)")
        if key[1] == "index":
            return _nearest_by_index(x, size, aspect[2:] if aspect else None if sizes else scales[2:], ctm,
                                     nearest_mode)
        if aspect:  # sizes rounded from one scale, which sets the sampling positions
            if any(int(np.floor(i * r)) != o for i, r, o in zip(x.shape[2:], aspect[2:], size)):
                raise ValueError(f"Resize with keep_aspect_ratio_policy {policy!r} to sizes {list(size)} that the "
                                 f"scale {aspect[2:]} does not give by rounding down is not supported")
            return F.interpolate(x, scale_factor=tuple(aspect[2:]), mode=m, **kw)
        if sizes:
            return F.interpolate(x, size=tuple(size), mode=m, **kw)
        if align and any(i * r != o for i, r, o in zip(x.shape[2:], scales[2:], size)):  # ONNX divides by i r - 1
            raise ValueError(f"Resize align_corners with scales {list(scales[2:])} giving a fractional size is not "
                             "supported (ONNX maps corners to the unrounded size)")
        return F.interpolate(x, scale_factor=tuple(scales[2:]), mode=m, **kw)  # ONNX's coordinates use the scale
    return Conversion(run)


def _keep_aspect(v, sizes, policy):
    """(sizes, scales) of ONNX's keep_aspect_ratio_policy: one scale for the resized axes, the smallest
    (not_larger) or largest (not_smaller) of sizes / input, and sizes rounded half up from it."""
    shape = v.shape(0)
    if shape is None:
        raise ValueError(f"Resize with keep_aspect_ratio_policy {policy!r} needs the input's static shape")
    axes = [a % len(shape) for a in v.attrs.get("axes", range(len(shape)))]
    pick = min if policy == "not_larger" else max
    scale = pick(sizes[a] / shape[a] for a in axes)
    return ([int(scale * n + 0.5) if a in axes else n for a, n in enumerate(shape)],
            [scale if a in axes else 1.0 for a in range(len(shape))])


# ONNX's nearest Resize in general: source coordinate x of output cell d (scale r = o / i, or the
# given scale), rounded by nearest_mode and clamped to the input; the output picks those cells.
_NEAREST_COORDINATES = {
    "half_pixel": lambda d, i, o, r: (d + 0.5) / r - 0.5,
    "pytorch_half_pixel": lambda d, i, o, r: (d + 0.5) / r - 0.5 if o > 1 else 0 * d,
    "asymmetric": lambda d, i, o, r: d / r,
    "align_corners": lambda d, i, o, r: d * (i - 1) / (o - 1) if o > 1 else 0 * d,
}
_ROUNDINGS = {
    "round_prefer_floor": lambda x: np.where(x - np.floor(x) == 0.5, np.floor(x), np.round(x)),
    "round_prefer_ceil": lambda x: np.where(x - np.floor(x) == 0.5, np.ceil(x), np.round(x)),
    "floor": np.floor,
    "ceil": np.ceil,
}


def _nearest_by_index(x, size, scales, ctm, nearest_mode):
    """The input cells ONNX's nearest Resize picks, axis by axis, computed in float64 as ONNX's reference."""
    for a, (i, o) in enumerate(zip(x.shape[2:], size)):
        r = o / i if scales is None else float(scales[a])
        source = _ROUNDINGS[nearest_mode](_NEAREST_COORDINATES[ctm](np.arange(o, dtype=np.float64), i, o, r))
        index = np.clip(source, 0, i - 1).astype(np.int64)
        x = x[(slice(None),) * (a + 2) + (index,)]
    return x
