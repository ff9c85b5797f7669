"""Differentiable functions of Tensors with PyTorch's names: each applies one registered op
(`convscope.ops.primitives`) or is built from them."""
from __future__ import annotations

import numpy as np

from .. import random
from ..ops.geometry import torch_pad_list
from ..ops.primitives import activations as A
from ..ops.primitives import convolution as C
from ..ops.primitives import elementwise as E
from ..ops.primitives import normalization as N
from ..ops.primitives import padding as Pd
from ..ops.primitives import pooling as P
from ..ops.primitives import resize as R
from ..ops.primitives import shape as S
from ..tensor import Tensor, _tensor, apply


def _t(x, like=None) -> Tensor:
    return x if isinstance(x, Tensor) else _tensor(x, None if like is None else like.dtype)


def _inputs(*tensors) -> tuple:
    return tuple(_t(t) for t in tensors if t is not None)


# ------------------------------------------------------------------------------ convolution

def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, flip=False) -> Tensor:
    """N-d convolution (see `ops.conv`); gradients from `ops.conv_backward`."""
    return apply(C.conv, *_inputs(x, w, b), stride=stride, padding=padding, dilation=dilation, groups=groups,
                 flip=flip)


def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1) -> Tensor:
    return apply(C.conv_transpose, *_inputs(x, w, b), stride=stride, padding=padding,
                 output_padding=output_padding, dilation=dilation, groups=groups)


def linear(x, w, b=None) -> Tensor:
    """y = x W^T + b, as in PyTorch (W is (out_features, in_features))."""
    return apply(C.linear, *_inputs(x, w, b))


def pad(x, pad, mode="constant", value=None) -> Tensor:
    """Pad the spatial axes of x (N, C, *S), PyTorch's F.pad: `pad` flat and last axis first,
    (lo_last, hi_last, lo_prev, hi_prev, ...), for up to all spatial axes; mode 'constant' (with
    `value`, default 0), 'reflect', 'replicate' or 'circular'. `pad` may also be one (lo, hi) pair
    per spatial axis, first axis first (convscope's order elsewhere).
    Note: unlike PyTorch, the batch and channel axes are never padded and pads are not negative."""
    pad = tuple(pad)
    if pad and all(isinstance(p, (tuple, list)) for p in pad):  # (lo, hi) per axis, first axis first
        pad = torch_pad_list(pad)
    return apply(Pd.pad, _t(x), pad=pad, mode=mode, value=value)


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False) -> Tensor:
    """Resize the spatial axes of x (N, C, *S), PyTorch's F.interpolate: by `size` or `scale_factor`
    (one of them), mode 'nearest', 'nearest-exact', 'linear' (1-D), 'bilinear' (2-D) or 'trilinear'
    (3-D), PyTorch's coordinate rules (see ops.primitives.resize); the gradient is the adjoint."""
    return apply(R.interpolate, _t(x), size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners,
                 recompute_scale_factor=recompute_scale_factor, antialias=antialias)


# ------------------------------------------------------------------------------ pooling

def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    return apply(P.max_pool, _t(x), kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                 ceil_mode=ceil_mode)


def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None) -> Tensor:
    """Mean of each window; with divisor_override, each window's sum divided by it (PyTorch's)."""
    return apply(P.avg_pool, _t(x), kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                 count_include_pad=count_include_pad, divisor_override=divisor_override)


def lp_pool(x, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """(sum of x^p over each window)^(1/p), PyTorch's lp_pool1d/2d/3d (p = norm_type)."""
    return apply(P.lp_pool, _t(x), norm_type=norm_type, kernel_size=kernel_size, stride=stride, ceil_mode=ceil_mode)


def global_avg_pool(x) -> Tensor:
    return apply(P.global_avg_pool, _t(x))


def global_max_pool(x) -> Tensor:
    return apply(P.global_max_pool, _t(x))


def adaptive_avg_pool(x, output_size) -> Tensor:
    """Average over PyTorch's adaptive windows: output o of an axis of size i pooled to n reads cells
    floor(o i / n) .. ceil((o + 1) i / n) - 1 (an int or None per axis; None keeps the size)."""
    return apply(P.adaptive_avg_pool, _t(x), output_size=output_size)


def adaptive_max_pool(x, output_size) -> Tensor:
    return apply(P.adaptive_max_pool, _t(x), output_size=output_size)


def kmax_pool(x, k, axis=-1) -> Tensor:
    x = _t(x)
    return apply(P.kmax_pool, x, k=k, axis=axis % x.ndim)


# ------------------------------------------------------------------------------ activations

def relu(x) -> Tensor:
    return _t(x).relu()


def leaky_relu(x, negative_slope=0.01) -> Tensor:
    return apply(E.leaky_relu, _t(x), negative_slope=negative_slope)


def tanh(x) -> Tensor:
    return _t(x).tanh()


def sigmoid(x) -> Tensor:
    return _t(x).sigmoid()


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002  (torch's names)
    return apply(A.clamp, _t(x), min=min, max=max)


def hardtanh(x, min_val=-1.0, max_val=1.0) -> Tensor:
    return clamp(x, min_val, max_val)


def relu6(x) -> Tensor:
    return clamp(x, 0.0, 6.0)


def hardswish(x) -> Tensor:
    return apply(A.hardswish, _t(x))


def hardsigmoid(x) -> Tensor:
    return apply(A.hardsigmoid, _t(x))


def silu(x) -> Tensor:
    return apply(A.silu, _t(x))


def gelu(x, approximate="none") -> Tensor:
    return apply(A.gelu, _t(x), approximate=approximate)


def mish(x) -> Tensor:
    return apply(A.mish, _t(x))


def elu(x, alpha=1.0) -> Tensor:
    return apply(A.elu, _t(x), alpha=alpha)


def selu(x) -> Tensor:
    return apply(A.selu, _t(x))


def celu(x, alpha=1.0) -> Tensor:
    return apply(A.celu, _t(x), alpha=alpha)


def prelu(x, weight) -> Tensor:
    """PyTorch's prelu: `weight` holds one slope, or one per channel (axis 1; axis 0 of a 1-D input)."""
    x, weight = _t(x), _t(weight)
    count = int(np.prod(weight.shape))
    if count != 1:
        channel = 1 if x.ndim >= 2 else 0
        if x.shape[channel] != count:
            raise ValueError(f"prelu: {count} slopes for {x.shape[channel]} channels (input shape "
                             f"{tuple(x.shape)}); give one slope or one per channel")
        weight = weight.reshape(-1, *([1] * (x.ndim - channel - 1)))  # (C, 1, ...) against (N, C, *S)
    return apply(A.prelu, x, weight)


def log_softmax(x, dim=-1) -> Tensor:
    """x - logsumexp(x), computed after subtracting the max (stable for large logits)."""
    x = _t(x)
    return apply(S.log_softmax, x, axis=dim % x.ndim)


def softmax(x, dim=-1) -> Tensor:
    x = _t(x)
    return apply(S.softmax, x, axis=dim % x.ndim)


def dropout(x, p=0.5, training=True) -> Tensor:
    x = _t(x)
    if not training or p == 0:
        return x
    keep = (random.generator().random(x.shape) >= p).astype(x.dtype) / (1.0 - p)
    return apply(E.dropout, x, keep=keep)


def channel_dropout(x, p=0.5, training=True, spatial=2) -> Tensor:
    """PyTorch's dropout2d/dropout3d (Tompson et al. 2015): in training, zero whole channels of
    (N, C, *S), or of unbatched (C, *S), with probability p, scaling the rest by 1/(1-p)."""
    x = _t(x)
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"dropout{spatial}d: expected input (N, C, *S) or unbatched (C, *S) with {spatial} "
                         f"spatial axes, got shape {tuple(x.shape)}")
    if not training or p == 0:
        return x
    shape = x.shape[:x.ndim - spatial] + (1,) * spatial  # one draw per channel
    keep = (random.generator().random(shape) >= p).astype(x.dtype) / (1.0 - p)
    return apply(E.dropout, x, keep=keep)


def stochastic_depth(x, p, mode, training=True) -> Tensor:
    """torchvision's stochastic_depth (Huang et al. 2016): in training, zero whole samples ('row')
    or the whole batch ('batch') with probability p and scale the survivors by 1/(1-p); the identity
    in eval or with p = 0. Meant for a residual branch, before it is added to the shortcut."""
    x = _t(x)
    if not 0 <= p <= 1:
        raise ValueError(f"stochastic_depth: p must be in [0, 1], got {p}")
    if mode not in ("batch", "row"):
        raise ValueError(f"stochastic_depth: mode must be 'batch' or 'row', got {mode!r}")
    if not training or p == 0:
        return x
    shape = (x.shape[0],) + (1,) * (x.ndim - 1) if mode == "row" else (1,) * x.ndim  # one draw per sample / batch
    keep = (random.generator().random(shape) >= p).astype(x.dtype)
    return apply(E.dropout, x, keep=keep / (1.0 - p) if p < 1 else keep)


# ------------------------------------------------------------------------------ normalisation

def batch_norm(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5) -> Tensor:
    """Normalise each channel over (N, *spatial); running stats are updated in place in training."""
    return apply(N.batch_norm, *_inputs(x, weight, bias), running_mean=running_mean, running_var=running_var,
                 training=training, momentum=momentum, eps=eps, affine=(weight is not None, bias is not None))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    """Normalise over the trailing axes of size `normalized_shape` (PyTorch's argument order)."""
    x = _t(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: input of shape {tuple(x.shape)} does not end in normalized_shape {shape}")
    return apply(N.layer_norm, *_inputs(x, weight, bias), axes=tuple(range(x.ndim - len(shape), x.ndim)), eps=eps,
                 affine=(weight is not None, bias is not None))


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5) -> Tensor:
    x = _t(x)
    if x.ndim >= 2 and x.shape[0] * x.shape[1] // num_groups * int(np.prod(x.shape[2:])) == 1:
        raise ValueError(f"group_norm: input {tuple(x.shape)} holds one value per group, which normalises to 0 "
                         "(PyTorch refuses it too)")
    return apply(N.group_norm, *_inputs(x, weight, bias), num_groups=num_groups, eps=eps,
                 affine=(weight is not None, bias is not None))


def instance_norm(x, weight=None, bias=None, eps=1e-5) -> Tensor:
    """Normalise each channel of each sample over its positions: group_norm with a group per channel."""
    x = _t(x)
    if int(np.prod(x.shape[2:])) == 1:
        raise ValueError(f"instance_norm: input {tuple(x.shape)} has one position per channel, which normalises "
                         "to 0 (PyTorch refuses it too)")
    return group_norm(x, x.shape[1], weight, bias, eps)


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
