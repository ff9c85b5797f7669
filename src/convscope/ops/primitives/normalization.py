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


@define("batch_norm", ELEMENTWISE, shape=lambda x, *params, **a: same_shape(x), saved=keeps_input,
        torch=("batch_norm",), onnx=_bn_onnx, grad_mask=True)
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
