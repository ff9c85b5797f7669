"""Differentiable functions of Tensors: each computes with `convscope.ops` (or NumPy) and wires
the matching gradient function, on the one template of `Tensor.make`."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops.geometry import conv_geometry, transposed_geometry
from ..ops.pool import pool_geometry
from ..tensor import Tensor, _tensor, meta, tracing
from .. import random


def _t(x, like=None) -> Tensor:
    return x if isinstance(x, Tensor) else _tensor(x, None if like is None else like.dtype)


# ------------------------------------------------------------------------------ convolution

def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, flip=False) -> Tensor:
    """N-d convolution (see `ops.conv`); gradients from `ops.conv_backward`."""
    x, w = _t(x), _t(w)
    parents = (x, w) if b is None else (x, w, b)
    if tracing():
        geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups, "conv")
        return Tensor.make(meta((x.shape[0], w.shape[0], *geo.out_size), x.dtype), parents, None, "conv",
                           {"geometry": geo, "weight": w.shape})
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, flip=flip)
    y = ops.conv(x.data, w.data, None if b is None else b.data, **kw)

    def backward(g):
        dx, dw, db = ops.conv_backward(g, x.data, w.data, input_grad=x.requires_grad,
                                       weight_grad=w.requires_grad, **kw)
        return dx, dw, db
    return Tensor.make(y, parents, backward, "conv")


def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1) -> Tensor:
    x, w = _t(x), _t(w)
    parents = (x, w) if b is None else (x, w, b)
    if tracing():
        geo, out = transposed_geometry(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
        return Tensor.make(meta((x.shape[0], w.shape[1] * geo.groups, *out), x.dtype), parents, None,
                           "conv_transpose", {"geometry": geo, "weight": w.shape})
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    y = ops.conv_transpose(x.data, w.data, None if b is None else b.data, **kw)

    def backward(g):
        return ops.conv_transpose_backward(g, x.data, w.data, input_grad=x.requires_grad,
                                           weight_grad=w.requires_grad, **kw)
    return Tensor.make(y, parents, backward, "conv_transpose")


def linear(x, w, b=None) -> Tensor:
    """y = x W^T + b, as in PyTorch (W is (out_features, in_features))."""
    x, w = _t(x), _t(w)
    if tracing():
        if x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features but the weight expects {w.shape[1]}")
        parents = (x, w) if b is None else (x, w, b)
        return Tensor.make(meta((*x.shape[:-1], w.shape[0]), x.dtype), parents, None, "linear", {"weight": w.shape})
    y = x @ w.T
    return y if b is None else y + b


def pad(x, pads) -> Tensor:
    """Zero padding: pads[a] = (lo, hi) cells around spatial axis a; the gradient is the centre crop."""
    from ..ops.geometry import ConvGeometry
    from ..ops.windows import crop
    from ..ops.windows import pad as pad_array

    x = _t(x)
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    in_size = tuple(x.shape[2:])
    out = tuple(i + lo + hi for i, (lo, hi) in zip(in_size, pads))
    if tracing():
        ones = (1,) * len(pads)
        geo = ConvGeometry(in_size, ones, ones, ones, pads, out, 1)  # a 1-cell window over the padded map
        return Tensor.make(meta((*x.shape[:2], *out), x.dtype), (x,), None, "pad", {"geometry": geo})
    return Tensor.make(pad_array(x.data, pads), (x,), lambda g: (crop(g, pads, in_size),), "pad")


# ------------------------------------------------------------------------------ pooling

def _traced_pool(x, op, kernel_size, stride, padding, dilation, ceil_mode) -> Tensor:
    geo = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode, op)
    return Tensor.make(meta((*x.shape[:2], *geo.out_size), x.dtype), (x,), None, op, {"geometry": geo})


def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    x = _t(x)
    if tracing():
        return _traced_pool(x, "max_pool", kernel_size, stride, padding, dilation, ceil_mode)
    y, idx = ops.max_pool(x.data, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    return Tensor.make(y, (x,), lambda g: (ops.max_pool_backward(g, idx, x.shape),), "max_pool")


def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> Tensor:
    x = _t(x)
    if tracing():
        return _traced_pool(x, "avg_pool", kernel_size, stride, padding, 1, ceil_mode)
    kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    y = ops.avg_pool(x.data, kernel_size, **kw)
    return Tensor.make(y, (x,), lambda g: (ops.avg_pool_backward(g, x.shape, kernel_size, **kw),), "avg_pool")


def global_avg_pool(x) -> Tensor:
    x = _t(x)
    if tracing():
        return Tensor.make(meta(x.shape[:2], x.dtype), (x,), None, "global_avg_pool")
    return Tensor.make(ops.global_avg_pool(x.data), (x,),
                       lambda g: (ops.global_avg_pool_backward(g, x.shape),), "global_avg_pool")


def global_max_pool(x) -> Tensor:
    x = _t(x)
    if tracing():
        return Tensor.make(meta(x.shape[:2], x.dtype), (x,), None, "global_max_pool")
    y, idx = ops.global_max_pool(x.data, return_indices=True)
    return Tensor.make(y, (x,), lambda g: (ops.global_max_pool_backward(g, idx, x.shape),), "global_max_pool")


def kmax_pool(x, k, axis=-1) -> Tensor:
    x = _t(x)
    if tracing():
        shape = list(x.shape)
        shape[axis] = k
        return Tensor.make(meta(shape, x.dtype), (x,), None, "kmax_pool", {"axis": axis % x.ndim, "k": k})
    y, idx = ops.kmax_pool(x.data, k, axis, return_indices=True)
    return Tensor.make(y, (x,), lambda g: (ops.kmax_pool_backward(g, idx, x.shape, axis),), "kmax_pool")


# ------------------------------------------------------------------------------ activations

def relu(x) -> Tensor:
    return _t(x).relu()


def leaky_relu(x, negative_slope=0.01) -> Tensor:
    x = _t(x)
    slope = np.where(x.data > 0, 1.0, negative_slope).astype(x.dtype)
    return Tensor.make(x.data * slope, (x,), lambda g: (g * slope,), "leaky_relu", {"negative_slope": negative_slope})


def tanh(x) -> Tensor:
    return _t(x).tanh()


def sigmoid(x) -> Tensor:
    return _t(x).sigmoid()


def log_softmax(x, dim=-1) -> Tensor:
    """x - logsumexp(x), computed after subtracting the max (stable for large logits)."""
    x = _t(x)
    shifted = x.data - x.data.max(axis=dim, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    p = np.exp(y)
    return Tensor.make(y, (x,), lambda g: (g - p * g.sum(axis=dim, keepdims=True),), "log_softmax")


def softmax(x, dim=-1) -> Tensor:
    x = _t(x)
    e = np.exp(x.data - x.data.max(axis=dim, keepdims=True))
    p = e / e.sum(axis=dim, keepdims=True)
    return Tensor.make(p, (x,), lambda g: (p * (g - (g * p).sum(axis=dim, keepdims=True)),), "softmax",
                       {"axis": dim % x.ndim})


def dropout(x, p=0.5, training=True) -> Tensor:
    x = _t(x)
    if not training or p == 0:
        return x
    keep = (random.generator().random(x.shape) >= p).astype(x.dtype) / (1.0 - p)
    return Tensor.make(x.data * keep, (x,), lambda g: (g * keep,), "dropout")


# ------------------------------------------------------------------------------ normalisation

def batch_norm(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5) -> Tensor:
    """Normalise each channel over (N, *spatial); running stats are updated in place in training."""
    x = _t(x)
    parents = [x] + [p for p in (weight, bias) if p is not None]
    if tracing():
        return Tensor.make(meta(x.shape, x.dtype), parents, None, "batch_norm",
                           {"running_mean": running_mean, "running_var": running_var, "eps": eps,
                            "affine": (weight is not None, bias is not None)})
    axes = (0, *range(2, x.ndim))
    shape = (1, -1, *([1] * (x.ndim - 2)))
    if training:
        mean, var = x.data.mean(axis=axes), x.data.var(axis=axes)
        count = x.data.size // x.shape[1]
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * count / max(count - 1, 1)  # unbiased, as PyTorch keeps it
    else:
        mean, var = running_mean, running_var
    inv = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    xhat = (x.data - mean.reshape(shape)) * inv.reshape(shape)
    gamma = np.ones(x.shape[1], x.dtype) if weight is None else weight.data
    y = xhat * gamma.reshape(shape) + (0 if bias is None else bias.data.reshape(shape))

    def backward(g):
        gx = g * gamma.reshape(shape)
        if training:  # d/dx of (x - mean)/std with batch statistics
            gx = inv.reshape(shape) * (gx - gx.mean(axis=axes, keepdims=True)
                                       - xhat * (gx * xhat).mean(axis=axes, keepdims=True))
        else:
            gx = gx * inv.reshape(shape)
        affine = [(g * xhat).sum(axis=axes)] if weight is not None else []
        return (gx, *affine, *([g.sum(axis=axes)] if bias is not None else []))
    return Tensor.make(y, parents, backward, "batch_norm")


# ------------------------------------------------------------------------------ losses

def cross_entropy(logits, target, reduction="mean") -> Tensor:
    """Softmax cross-entropy from logits and integer class targets (N,), stable for any logits."""
    logits = _t(logits)
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if logits.ndim != 2 or target.shape != (logits.shape[0],) or target.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: expected logits (N, classes) and integer targets (N,), got "
                         f"logits {logits.shape} and targets {target.shape} of dtype {target.dtype}")
    if target.size and (target.min() < 0 or target.max() >= logits.shape[1]):
        raise ValueError(f"cross_entropy: targets must lie in [0, {logits.shape[1] - 1}], got "
                         f"{target.min()}..{target.max()}")
    logp = log_softmax(logits, dim=1)
    picked = logp[np.arange(len(target)), target]
    loss = -picked
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def mse_loss(pred, target, reduction="mean") -> Tensor:
    diff = _t(pred) - _t(target, _t(pred))
    sq = diff * diff
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq
