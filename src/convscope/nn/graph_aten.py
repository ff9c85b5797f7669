"""Graph functions with ATen's signatures: what a graph captured from PyTorch (torch.export) calls
besides registered ops and layers, for the ATen ops whose arguments differ from the torch functions
of the same name (`aten.layer_norm` takes a `cudnn_enable` flag, `aten.sub` an `alpha`, ...), and
ATen's own shape ops (`slice`, `select`, `expand`, `sym_size`). Each builds on convscope's ops, so
gradients, traces and summaries follow them. Registered in `graph.FUNCTIONS` as "aten.<name>".
"""
from __future__ import annotations

import math
import operator

import numpy as np

from ..tensor import Tensor
from . import functional as F


def _dim(x, dim: int) -> int:
    return dim % len(x.shape)


def _at(x, dim: int, index) -> tuple:
    return (slice(None),) * _dim(x, dim) + (index,)


def slice_(x, dim=0, start=None, end=None, step=1):
    return x[_at(x, dim, slice(start, end, step))]


def select(x, dim, index):
    return x[_at(x, dim, index)]


def unbind(x, dim=0):
    return tuple(select(x, dim, i) for i in range(x.shape[_dim(x, dim)]))


def t(x):
    return x.transpose() if len(x.shape) == 2 else x


def sub(a, b, alpha=1):
    return a - (b * alpha if alpha != 1 else b)


def rsub(a, b, alpha=1):
    return b - (a * alpha if alpha != 1 else a)


def div(a, b, rounding_mode=None):
    if rounding_mode is None:
        return a / b
    q = np.asarray(a) / np.asarray(b)  # integer division happens on sizes and indices only
    return np.floor(q) if rounding_mode == "floor" else np.trunc(q)


def var(x, dim=None, correction=None, keepdim=False, unbiased=None):
    axes = tuple(range(len(x.shape))) if dim is None else tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
    n = int(np.prod([x.shape[a] for a in axes]))
    c = (1 if unbiased is None or unbiased else 0) if correction is None else correction
    d = x - x.mean(axis=axes, keepdims=True)
    return (d * d).sum(axis=axes, keepdims=keepdim) / max(n - c, 0)


def std(x, dim=None, correction=None, keepdim=False, unbiased=None):
    return var(x, dim, correction, keepdim, unbiased) ** 0.5


def mean(x, dim=None, keepdim=False, dtype=None):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        dim = tuple(range(len(x.shape)))
    return x.mean(axis=tuple(dim) if isinstance(dim, (list, tuple)) else dim, keepdims=keepdim)


def reduce_sum(x, dim=None, keepdim=False, dtype=None):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        dim = tuple(range(len(x.shape)))
    return x.sum(axis=tuple(dim) if isinstance(dim, (list, tuple)) else dim, keepdims=keepdim)


def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training=False, momentum=0.1,
               eps=1e-5, cudnn_enabled=True):
    """aten.batch_norm: the batch_norm op; with batch statistics and no running ones (weight
    standardisation normalises a weight so, NF-ResNets, BiT) the arithmetic itself, which every
    exporter writes as element-wise ops."""
    if not (training and running_mean is None):
        return F.batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)
    axes = (0, *range(2, len(x.shape)))
    shape = (1, -1, *([1] * (len(x.shape) - 2)))
    d = x - x.mean(axis=axes, keepdims=True)
    y = d * ((d * d).mean(axis=axes, keepdims=True) + eps) ** -0.5
    y = y if weight is None else y * weight.reshape(*shape)
    return y if bias is None else y + bias.reshape(*shape)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return F.layer_norm(x, normalized_shape, weight, bias, eps)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    return F.group_norm(x, num_groups, weight, bias, eps)


def instance_norm(x, weight=None, bias=None, running_mean=None, running_var=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5, cudnn_enabled=True):
    if not use_input_stats:
        raise ValueError("instance_norm: track_running_stats=True is not supported (running statistics "
                         "in evaluation)")
    return F.instance_norm(x, weight, bias, eps)


def softmax(x, dim, dtype=None):
    return F.softmax(x, dim)


def log_softmax(x, dim, dtype=None):
    return F.log_softmax(x, dim)


def constant_pad_nd(x, pad, value=0.0):
    return F.pad(x, list(pad), "constant", value)


def pad(x, pad, mode="constant", value=None):
    return F.pad(x, list(pad), mode, value)


def to(x, *args, **kwargs):
    """A cast: float tensors stay as they are (convscope computes in the model's dtype); sizes,
    masks and index arrays become numbers."""
    if isinstance(x, Tensor):
        return x
    return np.asarray(x, dtype=np.float32) if kwargs.get("dtype") is not None else x


def full(size, fill_value, **kw):
    return np.full(tuple(size), fill_value, dtype=np.float32)


def zeros(size, **kw):
    return np.zeros(tuple(size), dtype=np.float32)


def ones(size, **kw):
    return np.ones(tuple(size), dtype=np.float32)


def like(fill):
    def make(x, *args, **kw):
        return np.full(tuple(x.shape), fill, dtype=np.dtype(x.dtype))
    return make


def scalar_tensor(value, **kw):
    return np.asarray(value, dtype=np.float32)


def arange(*args, **kw):
    return np.arange(*args).astype(np.float32)


def identity(x, *args, **kw):
    return x


FUNCTIONS = {
    "aten.slice": slice_, "aten.select": select,
    "aten.reshape_as": lambda x, other: x.reshape(*other.shape), "aten.view_as": lambda x, other: x.reshape(*other.shape),
    "aten.unbind": unbind, "aten.t": t,
    "aten.sub": sub, "aten.rsub": rsub, "aten.div": div, "aten.var": var, "aten.std": std, "aten.mean": mean,
    "aten.sum": reduce_sum, "aten.batch_norm": batch_norm, "aten.layer_norm": layer_norm, "aten.group_norm": group_norm,
    "aten.instance_norm": instance_norm, "aten.softmax": softmax, "aten._softmax": softmax,
    "aten.log_softmax": log_softmax, "aten._log_softmax": log_softmax, "aten.constant_pad_nd": constant_pad_nd,
    "aten.pad": pad, "aten._to_copy": to, "aten.to": to, "aten.type_as": identity, "aten.full": full,
    "aten.zeros": zeros, "aten.ones": ones, "aten.zeros_like": like(0.0), "aten.ones_like": like(1.0),
    "aten.scalar_tensor": scalar_tensor, "aten.arange": arange, "aten.alias": identity,
    "aten.detach": identity, "aten.contiguous": identity, "aten.clone": identity, "aten.lift_fresh_copy": identity,
    "aten.sqrt": lambda x: x ** 0.5, "aten.rsqrt": lambda x: x ** -0.5,
    "aten.reciprocal": lambda x: 1.0 / x, "aten.prelu": F.prelu, "aten.dropout": F.dropout,
    "aten.feature_dropout": lambda x, p, train: F.channel_dropout(x, p, train),
    "aten.sym_size": lambda x, dim=None: tuple(x.shape) if dim is None else x.shape[dim],
    "aten.sym_numel": lambda x: int(np.prod(x.shape)), "aten.numel": lambda x: int(np.prod(x.shape)),
    # arithmetic on sizes (a dynamic batch axis): Python's, as torch.export records it
    "mod": operator.mod, "sym_max": max, "sym_min": min, "ceil": math.ceil, "floor": math.floor,
    "sym_float": float, "sym_int": int, "sym_not": operator.not_, "eq": operator.eq, "ne": operator.ne,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}
# graph functions of nn/graph.py (torch's signatures) that ATen's ops of the same name share
SAME_AS_TORCH = ("add", "mul", "neg", "pow", "cat", "view", "reshape", "flatten", "permute", "transpose", "chunk",
                 "split", "amax", "hardtanh", "relu6", "getitem")
