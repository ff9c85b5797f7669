"""Normalisation over each sample (no running statistics): LayerNorm over trailing axes (ConvNeXt
applies it channels-last), GroupNorm over channel groups and InstanceNorm1d/2d/3d over each
channel's positions, PyTorch's arguments and twins."""
from __future__ import annotations

from . import functional as F
from .init import constant
from .arg_types import shape
from .module import Module, Parameter
from .registry import OnnxImport, TorchTwin, bind, count, flag, has_bias, optional, real, register


@register(dict(normalized_shape=shape(), eps=real(0, low_open=True), elementwise_affine=flag(), bias=flag()),
          torch=TorchTwin("LayerNorm", read={"bias": has_bias}))
class LayerNorm(Module):
    """Layer normalisation (Ba et al. 2016): each sample normalised over its trailing axes, PyTorch's
    `LayerNorm`. y = (x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) var taken over
    the last len(normalized_shape) axes.

    Args:
        normalized_shape: the trailing shape normalised over, an int or a tuple (ConvNeXt: the
            channels, with the input permuted to channels-last).
        eps: added to the variance (default 1e-5).
        elementwise_affine: learn weight (ones) and bias (zeros) of normalized_shape (default True).
        bias: learn the bias too (default True; only with elementwise_affine).

    Shape:
        input (*, *normalized_shape); output the same.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        bind(self, locals())
        shape_ = self.normalized_shape
        self.weight = Parameter(constant(shape_, 1.0, what="LayerNorm weight")) if elementwise_affine else None
        self.bias = Parameter(constant(shape_, 0.0, what="LayerNorm bias")) if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def _groups_divide_channels(layer, a):
    if a["num_channels"] % a["num_groups"]:
        raise ValueError(f"{layer}: num_channels {a['num_channels']} must be divisible by num_groups "
                         f"{a['num_groups']} (C % G = {a['num_channels'] % a['num_groups']})")


@register(dict(num_groups=count(), num_channels=count(), eps=real(0, low_open=True), affine=flag()),
          checks=(_groups_divide_channels,), torch=TorchTwin("GroupNorm"))
class GroupNorm(Module):
    """Group normalisation (Wu & He 2018): the channels of each sample split into num_groups groups,
    each normalised over its channels and positions, then scaled and shifted per channel.
    GroupNorm(1, C) normalises over (C, *S); GroupNorm(C, C) is instance normalisation.

    Args:
        num_groups: G, groups of C / G channels each.
        num_channels: C, divisible by G.
        eps: added to the variance (default 1e-5).
        affine: learn weight (ones) and bias (zeros) per channel (default True).

    Shape:
        input (N, C, *S); output the same.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        bind(self, locals())
        self.weight = Parameter(constant((num_channels,), 1.0, what="GroupNorm weight")) if affine else None
        self.bias = Parameter(constant((num_channels,), 0.0, what="GroupNorm bias")) if affine else None

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, *S), got shape {tuple(x.shape)}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


def _no_running_statistics(layer, a):
    if a["track_running_stats"]:
        raise ValueError(f"{layer}: track_running_stats=True is not supported (statistics of each sample only: "
                         "use False, PyTorch's default)")


def _instance_norm_from_onnx(node):
    scale, shift = node.const(1), node.const(2)
    kw = dict(num_features=len(scale), eps=node.attrs.get("epsilon", 1e-5), affine=True)
    return kw, {"weight": scale, "bias": shift}


class _InstanceNorm(Module):
    n = 0  # spatial axes

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False):
        super().__init__()
        bind(self, locals())
        name, shape_ = type(self).__name__, (num_features,)
        self.weight = Parameter(constant(shape_, 1.0, what=f"{name} weight")) if affine else None
        self.bias = Parameter(constant(shape_, 0.0, what=f"{name} bias")) if affine else None

    def forward(self, x):
        batched = x.ndim == self.n + 2
        if x.ndim not in (self.n + 1, self.n + 2) or x.shape[x.ndim - self.n - 1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected input (N, {self.num_features}, *S) or unbatched "
                             f"({self.num_features}, *S) with {self.n} spatial axes, got shape {tuple(x.shape)}")
        y = F.instance_norm(x if batched else x.reshape(1, *x.shape), self.weight, self.bias, self.eps)
        return y if batched else y.reshape(*x.shape)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


_IN_ARGS = dict(num_features=count(), eps=real(0, low_open=True), momentum=optional(real(0, 1)), affine=flag(),
                track_running_stats=flag())
_IN_DOC = """Instance normalisation (Ulyanov et al. 2016) of {shape}, PyTorch's `{name}`: each channel of
    each sample normalised over its positions, y = (x - mean) / sqrt(var + eps) * weight + bias, in
    training and eval alike.

    Args:
        num_features: C, the channels.
        eps: added to the variance (default 1e-5).
        momentum: kept for PyTorch's signature (used only with running statistics; default 0.1).
        affine: learn weight (ones) and bias (zeros) per channel (default False, as PyTorch).
        track_running_stats: must be False (PyTorch's default): running statistics are not supported.

    Shape:
        input {shape} or unbatched without N; output the same.
"""


def _instance_norm(name, n, shape_text):
    """The InstanceNorm layer of `n` spatial axes: its declaration, twin and ONNX import (by rank)."""
    cls = type(name, (_InstanceNorm,), {"n": n, "__doc__": _IN_DOC.format(shape=shape_text, name=name),
                                        "__module__": __name__})
    return register(_IN_ARGS, checks=(_no_running_statistics,), torch=TorchTwin(name),
                    onnx=(OnnxImport("InstanceNormalization", _instance_norm_from_onnx,
                                     lambda node, rank=n + 2: node.rank == rank or (node.rank is None and n == 2)),))(cls)


InstanceNorm1d = _instance_norm("InstanceNorm1d", 1, "(N, C, L)")
InstanceNorm2d = _instance_norm("InstanceNorm2d", 2, "(N, C, H, W)")
InstanceNorm3d = _instance_norm("InstanceNorm3d", 3, "(N, C, D, H, W)")
