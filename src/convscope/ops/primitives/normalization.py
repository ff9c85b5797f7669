"""Batch normalisation: each channel normalised over (N, *spatial), then scaled and shifted."""
from __future__ import annotations

import numpy as np

from ..registry import ELEMENTWISE, define, keeps_input, same_shape


def _bn_onnx(e, node):
    a, c = node.attrs, node.shape[1]
    params = list(e.inputs[1:])
    scale = params.pop(0) if a["affine"][0] else e.const(np.ones(c, np.float32))
    shift = params.pop(0) if a["affine"][1] else e.const(np.zeros(c, np.float32))
    e.emit("BatchNormalization", [e.inputs[0], scale, shift, e.const(a["running_mean"]), e.const(a["running_var"])],
           e.output, epsilon=float(a["eps"]))


def _bn_from_aten(a, name):
    """aten._native_batch_norm_legit_no_training(input, weight, bias, running_mean, running_var, momentum,
    eps) (aten.batch_norm is the graph function of that name, which applies this op)."""
    w, b = a["weight"], a["bias"]
    return tuple(v for v in (a["input"], w, b) if v is not None), {
        "running_mean": a["running_mean"], "running_var": a["running_var"], "training": a.get("training", False),
        "momentum": a["momentum"], "eps": a["eps"], "affine": (w is not None, b is not None)}


@define("batch_norm", ELEMENTWISE, shape=lambda x, *params, **a: same_shape(x), saved=keeps_input,
        torch=("batch_norm",),
        aten=("_native_batch_norm_legit_no_training",), from_aten=_bn_from_aten, onnx=_bn_onnx, grad_mask=True)
def batch_norm(x, *params, running_mean, running_var, training, momentum=0.1, eps=1e-5, affine=(True, True)):
    """`params` are the weight and/or bias present (as `affine` says); running statistics are
    updated in place in training (PyTorch keeps the unbiased variance)."""
    weight = params[0] if affine[0] else None
    bias = params[-1] if affine[1] else None
    axes = (0, *range(2, x.ndim))
    shape = (1, -1, *([1] * (x.ndim - 2)))
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        count = x.size // x.shape[1]
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * count / max(count - 1, 1)
    else:
        mean, var = running_mean, running_var
    inv = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    xhat = (x - mean.reshape(shape)) * inv.reshape(shape)
    gamma = np.ones(x.shape[1], x.dtype) if weight is None else weight
    y = xhat * gamma.reshape(shape) + (0 if bias is None else bias.reshape(shape))

    def backward(g, needs):
        gx = g * gamma.reshape(shape)
        if training:  # d/dx of (x - mean)/std with batch statistics: mean and std depend on x too
            gx = inv.reshape(shape) * (gx - gx.mean(axis=axes, keepdims=True)
                                       - xhat * (gx * xhat).mean(axis=axes, keepdims=True))
        else:
            gx = gx * inv.reshape(shape)
        affine_grads = [(g * xhat).sum(axis=axes)] if weight is not None else []
        return (gx, *affine_grads, *([g.sum(axis=axes)] if bias is not None else []))
    return y, backward


# Receptive fields follow the data path, not the statistics: layer and group normalisation are
# element-wise there, as batch normalisation is (in training its statistics span the batch too).

def _normalise(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    inv = (1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)).astype(x.dtype)
    return (x - mean) * inv, inv


def _normalise_grad(gx, xhat, inv, axes):
    # d/dx of (x - mean)/std, mean and std taken over `axes`
    return inv * (gx - gx.mean(axis=axes, keepdims=True) - xhat * (gx * xhat).mean(axis=axes, keepdims=True))


def _layer_norm_onnx(e, node):
    a, x = node.attrs, e.inputs[0]
    shape = node.shape[a["axes"][0]:]
    params = list(e.inputs[1:])
    scale = params.pop(0) if a["affine"][0] else e.const(np.ones(shape, np.float32))
    e.emit("LayerNormalization", [x, scale, *params], e.output, axis=a["axes"][0], epsilon=float(a["eps"]))


@define("layer_norm", ELEMENTWISE, shape=lambda x, *params, **a: same_shape(x), saved=keeps_input,
        torch=("layer_norm",), onnx=_layer_norm_onnx, grad_mask=True)
def layer_norm(x, *params, axes, eps=1e-5, affine=(True, True)):
    """Normalise over the trailing `axes` (PyTorch's normalized_shape), then scale and shift by
    weight and bias of that shape."""
    weight = params[0] if affine[0] else None
    bias = params[-1] if affine[1] else None
    xhat, inv = _normalise(x, axes, eps)
    y = xhat if weight is None else xhat * weight
    y = y if bias is None else y + bias
    lead = tuple(range(x.ndim - len(axes)))

    def backward(g, needs):
        dx = _normalise_grad(g if weight is None else g * weight, xhat, inv, axes) if needs[0] else None
        grads = [(g * xhat).sum(axis=lead)] if weight is not None else []
        return (dx, *grads, *([g.sum(axis=lead)] if bias is not None else []))
    return y, backward


def _group_norm_onnx(e, node):
    # opset 17 has no GroupNormalization: (N, G, -1) through InstanceNormalization, then the affine
    a, x = node.attrs, e.inputs[0]
    n_groups, c = a["num_groups"], node.shape[1]
    if n_groups == c:  # instance normalisation: ONNX's own op, its scale and bias per channel
        params = list(e.inputs[1:])
        scale = params.pop(0) if a["affine"][0] else e.const(np.ones(c, np.float32))
        shift = params.pop(0) if a["affine"][1] else e.const(np.zeros(c, np.float32))
        e.emit("InstanceNormalization", [x, scale, shift], e.output, epsilon=float(a["eps"]))
        return
    grouped = e.emit("Reshape", [x, e.const(np.array([0, n_groups, -1], np.int64))])
    normed = e.emit("InstanceNormalization", [grouped, e.const(np.ones(n_groups, np.float32)),
                                              e.const(np.zeros(n_groups, np.float32))], epsilon=float(a["eps"]))
    shape = e.emit("Shape", [x])
    y = e.emit("Reshape", [normed, shape])
    per_channel = np.array([c] + [1] * (len(node.shape) - 2), np.int64)
    params = list(e.inputs[1:])
    if a["affine"][0]:
        y = e.emit("Mul", [y, e.emit("Reshape", [params.pop(0), e.const(per_channel)])])
    if a["affine"][1]:
        y = e.emit("Add", [y, e.emit("Reshape", [params.pop(0), e.const(per_channel)])])
    e.emit("Identity", [y], e.output)


@define("group_norm", ELEMENTWISE, shape=lambda x, *params, **a: same_shape(x), saved=keeps_input,
        torch=("group_norm",), onnx=_group_norm_onnx, grad_mask=True)
def group_norm(x, *params, num_groups, eps=1e-5, affine=(True, True)):
    """Normalise each of `num_groups` channel groups over its channels and positions, then scale and
    shift per channel; with one group per channel it is instance normalisation."""
    n, c = x.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: {c} channels are not divisible into {num_groups} groups")
    weight = params[0] if affine[0] else None
    bias = params[-1] if affine[1] else None
    per_channel = (1, c, *([1] * (x.ndim - 2)))
    grouped = x.reshape(n, num_groups, -1)  # (N, G, C/G * spatial)
    xhat, inv = _normalise(grouped, (2,), eps)
    xhat_full = xhat.reshape(x.shape)
    y = xhat_full if weight is None else xhat_full * weight.reshape(per_channel)
    y = y if bias is None else y + bias.reshape(per_channel)
    others = (0, *range(2, x.ndim))

    def backward(g, needs):
        gx = g if weight is None else g * weight.reshape(per_channel)
        dx = _normalise_grad(gx.reshape(grouped.shape), xhat, inv, (2,)).reshape(x.shape) if needs[0] else None
        grads = [(g * xhat_full).sum(axis=others)] if weight is not None else []
        return (dx, *grads, *([g.sum(axis=others)] if bias is not None else []))
    return y, backward
