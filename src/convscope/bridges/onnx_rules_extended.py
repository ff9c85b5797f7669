"""More ONNX rules (see onnx_rules): activations with attributes, the variadic element-wise ops,
Gemm in general, the ops that only rearrange or repeat values (DepthToSpace, SpaceToDepth, Tile,
Expand), Einsum, training-mode BatchNormalization and Resize. Each maps onto registered ops, so it
has a gradient and a shape rule."""
from __future__ import annotations

import numpy as np

from ..nn import functional as F
from ..ops import registry as op_registry
from ..ops.primitives import activations as A
from ..ops.primitives.resize import COORDINATES
from ..ops.primitives import elementwise as E
from ..ops.primitives import rearrange as R
from ..tensor import apply
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
    """Any number of inputs, broadcast together and stacked, then reduced over the stack: ties of
    Max and Min share the gradient equally, as torch.amax over a stack does."""
    stack, reduce_max = op_registry.get("stack"), op_registry.get("max")

    def run(*xs):
        if len(xs) == 1:
            return xs[0]
        shape = tuple(np.broadcast_shapes(*(tuple(x.shape) for x in xs)))
        spread = [x if tuple(x.shape) == shape else apply(R.expand, x, shape=shape) for x in xs]
        stacked = apply(stack, *spread, axis=0)
        if v.op == "Max":
            return apply(reduce_max, stacked, axis=0)
        if v.op == "Min":
            return apply(reduce_max, stacked * -1.0, axis=0) * -1.0
        total = stacked.sum(0)
        return total * (1.0 / len(xs)) if v.op == "Mean" else total
    return Conversion(run, _all(v))


# ------------------------------------------------------------------------------ matrices

@rule("Gemm")  # what no Linear is: a transposed or computed A, a matrix bias, alpha and beta
def _gemm(v):
    a = v.attrs
    alpha, beta, ta, tb = a.get("alpha", 1.0), a.get("beta", 1.0), a.get("transA", 0), a.get("transB", 0)

    def last_two(t):  # A's leading axes (a batch of matrices) stay
        return t.transpose(*range(t.ndim - 2), t.ndim - 1, t.ndim - 2)

    def run(p, q, c=None):
        y = (last_two(p) if ta else p) @ (last_two(q) if tb else q)
        y = y if alpha == 1 else y * alpha
        return y if c is None else y + (c if beta == 1 else c * beta)
    return Conversion(run, (0, 1, 2) if v.has(2) else (0, 1))


# ------------------------------------------------------------------------------ rearranging and repeating

@rule("DepthToSpace", "SpaceToDepth")
def _depth_space(v):
    """The pixel shuffle ops in either channel order (DCR, ONNX's default; CRD, PyTorch's
    pixel_shuffle and pixel_unshuffle): DepthToSpace shuffles, SpaceToDepth unshuffles."""
    b, mode = v.attrs["blocksize"], _text(v, "mode", "DCR")
    if v.op == "DepthToSpace":
        return Conversion(lambda x: apply(R.pixel_shuffle, x, upscale_factor=b, mode=mode))
    return Conversion(lambda x: apply(R.pixel_unshuffle, x, downscale_factor=b, mode=mode))


@rule("Tile")
def _tile(v):
    repeats = v.ints(1)
    return Conversion(lambda x: apply(R.tile, x, reps=tuple(repeats)))


@rule("Expand")
def _expand(v):
    shape = v.ints(1)
    return Conversion(lambda x: apply(R.expand, x, shape=tuple(shape)))


@rule("Einsum")
def _einsum(v):
    equation = _text(v, "equation", "")
    return Conversion(lambda *xs: apply(op_registry.get("einsum"), *xs, equation=equation), _all(v))


# ------------------------------------------------------------------------------ normalisation

@rule("BatchNormalization")  # training mode (inference mode builds a BatchNorm layer)
def _batch_norm_training(v):
    """y from the batch's mean and biased variance; the running statistics as outputs, moved by ONNX's
    momentum (the weight of the old value): mean m + (1 - m) batch mean, likewise the biased variance."""
    eps, momentum, outputs = v.attrs.get("epsilon", 1e-5), v.attrs.get("momentum", 0.9), len(v.outputs)

    def run(x, scale, bias, mean, var):
        y = F.batch_norm(x, scale, bias, None, None, True, eps=eps)
        axes = (0, *range(2, x.ndim))
        batch_mean = x.mean(axes)
        centred = x - batch_mean.reshape(1, -1, *([1] * (x.ndim - 2)))
        batch_var = (centred * centred).mean(axes)
        return (y, mean * momentum + batch_mean * (1 - momentum), var * momentum + batch_var * (1 - momentum))[:outputs]
    return Conversion(run, (0, 1, 2, 3, 4), outputs)


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


# ------------------------------------------------------------------------------ resampling

_TORCH_MODES = {  # (ONNX mode, coordinate transformation, nearest_mode) -> (PyTorch mode stem, align_corners)
    ("nearest", "asymmetric", "floor"): ("nearest", None),  # floor(d r)
    ("nearest", "half_pixel", "round_prefer_ceil"): ("nearest-exact", None),  # = floor((d + 0.5) r)
    ("linear", "half_pixel", None): ("linear", False),
    ("linear", "pytorch_half_pixel", None): ("linear", False),
    ("linear", "align_corners", None): ("linear", True),
}
_CUBIC = {1: None, 2: "bicubic", 3: None}


@rule("Resize", "Upsample")
def _resize(v):
    """ONNX Resize onto the interpolate op: PyTorch's modes where they compute the same (the analysis
    sees their windows), ONNX's own coordinate rules through the op's `coordinates` otherwise."""
    text = lambda k, d: (lambda s: s.decode() if isinstance(s, bytes) else s)(v.attrs.get(k, d))  # noqa: E731
    mode, ctm = text("mode", "nearest"), text("coordinate_transformation_mode", "half_pixel")
    if v.op == "Upsample":
        ctm = "asymmetric"
    nearest_mode = text("nearest_mode", "round_prefer_floor") if v.op == "Resize" else "floor"
    if mode not in ("nearest", "linear", "cubic") or ctm not in COORDINATES:
        raise ValueError(f"Resize mode {mode!r} with coordinate_transformation_mode {ctm!r} is not supported "
                         f"(supported: nearest, linear and cubic with {', '.join(COORDINATES)})")
    exclude = bool(v.attrs.get("exclude_outside", 0))
    if exclude and mode != "cubic":
        raise ValueError(f"Resize {mode} with exclude_outside=1 is not supported (cubic only)")
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
    if v.attrs.get("antialias", 0) and (scales is None or min(scales) < 1):
        raise ValueError("Resize with antialias=1 when downsampling is not supported")
    onnx = dict(coordinates=ctm, cubic_coeff_a=float(v.attrs.get("cubic_coeff_a", -0.75)), exclude_outside=exclude,
                nearest_mode=nearest_mode)
    op = op_registry.get("interpolate")

    def run(x):
        if (sizes or scales) is not None and list((sizes or scales)[:2]) != (list(x.shape[:2]) if sizes else [1, 1]):
            raise ValueError(f"Resize of the batch or channel axis ({'sizes' if sizes else 'scales'} "
                             f"{list(sizes or scales)}) is not supported")
        n = x.ndim - 2
        m = "nearest" if mode == "nearest" else {1: "linear", 2: "bilinear", 3: "trilinear"}[n] \
            if mode == "linear" else _CUBIC[n]
        if m is None:
            raise ValueError(f"Resize cubic of {n} spatial axes is not supported (2: bicubic)")
        by = dict(scale_factor=tuple(aspect[2:])) if aspect else dict(size=tuple(sizes[2:])) if sizes else \
            dict(scale_factor=tuple(scales[2:]))
        if aspect and any(int(np.floor(i * r)) != o for i, r, o in zip(x.shape[2:], aspect[2:], sizes[2:])):
            return apply(op, x, mode=m, size=tuple(sizes[2:]), **by, **onnx)  # sizes rounded, the scale sets x
        same = _TORCH_MODES.get((mode, ctm, nearest_mode if mode == "nearest" else None))
        if same and _torch_exact(same, ctm, x.shape[2:], by):
            stem, align = same
            kw = {} if align is None else {"align_corners": align}
            return apply(op, x, mode=stem if stem.startswith("nearest") else m, **kw, **by)
        return apply(op, x, mode=m, **onnx, **by)
    return Conversion(run)


def _torch_exact(same, ctm, in_size, by) -> bool:
    """Whether PyTorch's rule computes ONNX's here: align_corners and pytorch_half_pixel differ from it
    when ONNX's unrounded output length is fractional or 1."""
    if ctm not in ("align_corners", "pytorch_half_pixel"):
        return True
    if "size" in by:
        return ctm == "align_corners" or all(o > 1 for o in by["size"])
    return all(float(i * f).is_integer() and i * f > 1 for i, f in zip(in_size, by["scale_factor"]))


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
