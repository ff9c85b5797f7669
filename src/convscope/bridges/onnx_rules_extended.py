"""More ONNX rules (see onnx_rules): activations with attributes, the variadic element-wise ops,
Gemm in general, and the ops that only rearrange or repeat values (DepthToSpace, SpaceToDepth,
Tile, Expand). Each is built from registered ops, so it has a gradient and a shape rule."""
from __future__ import annotations

import functools

import numpy as np

from ..nn import functional as F
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
