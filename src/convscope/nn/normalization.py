"""Normalisation over each sample (no running statistics): LayerNorm over trailing axes (ConvNeXt
applies it channels-last) and GroupNorm over channel groups, PyTorch's arguments and twins."""
from __future__ import annotations

from . import functional as F
from .init import constant
from .arg_types import shape
from .module import Module, Parameter
from .registry import TorchTwin, bind, count, flag, has_bias, real, register


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
