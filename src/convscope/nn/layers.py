"""Layers: thin shells that normalise their settings once, own their weights, and call one function."""
from __future__ import annotations

import numpy as np

from ..ops.geometry import ntuple
from . import functional as F
from .init import bias_uniform, fan_in, kaiming_uniform
from .module import Module, Parameter


def _positive(layer: str, name: str, value, minimum=1):
    values = value if isinstance(value, (tuple, list)) else (value,)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ValueError(f"{layer}: {name} must be an int >= {minimum} (or a tuple of them), got {value!r}")
    return value


def _padding(layer: str, padding, n: int, strings=("valid", "same", "full")):
    if isinstance(padding, str):
        if padding not in strings:
            allowed = f"one of {', '.join(map(repr, strings))}, " if strings else ""
            raise ValueError(f"{layer}: padding {padding!r} is not allowed; use {allowed}an int or a tuple")
        return padding
    per_axis = ntuple(padding, n, "padding", layer)
    for p in per_axis:
        _positive(layer, "padding", p, minimum=0)
    return tuple(tuple(p) if isinstance(p, (tuple, list)) else p for p in per_axis)


class _ConvNd(Module):
    n = 0
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, output_padding=0):
        super().__init__()
        name, n = type(self).__name__, self.n
        _positive(name, "in_channels", in_channels)
        _positive(name, "out_channels", out_channels)
        _positive(name, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels {out_channels} must both be "
                             f"divisible by groups {groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(_positive(name, "kernel_size", kernel_size), n, "kernel_size", name)
        self.stride = ntuple(_positive(name, "stride", stride), n, "stride", name)
        self.dilation = ntuple(_positive(name, "dilation", dilation), n, "dilation", name)
        strings = () if self.transposed else ("valid", "same", "full")
        self.padding = _padding(name, padding, n, strings)
        self.output_padding = ntuple(_positive(name, "output_padding", output_padding, 0), n, "output_padding", name)
        shape = ((in_channels, out_channels // groups) if self.transposed else
                 (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(kaiming_uniform(shape))
        # PyTorch's fan-in for a transposed conv's bias is computed from its weight's dim 1
        fan = shape[1] * int(np.prod(self.kernel_size))
        self.bias = Parameter(bias_uniform(out_channels, fan)) if bias else None

    def forward(self, x):
        if self.transposed:
            return F.conv_transpose(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                    self.dilation, self.groups)
        return F.conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        ones, zeros = (1,) * self.n, (0,) * self.n
        if self.padding not in (zeros, "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != ones:
            s += f", dilation={self.dilation}"
        if self.output_padding != zeros:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


def _conv_class(n: int, transposed: bool):
    base_name = "ConvTranspose" if transposed else "Conv"

    class Conv(_ConvNd):
        if transposed:
            def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                         groups=1, bias=True, dilation=1):
                super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                                 output_padding)
        else:
            def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                         bias=True):
                super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
    Conv.n, Conv.transposed = n, transposed
    Conv.__name__ = Conv.__qualname__ = f"{base_name}{n}d"
    Conv.__doc__ = (f"{n}-D {'transposed ' if transposed else ''}convolution layer with PyTorch's arguments "
                    f"and weight layout; forward is one call to `functional.conv{'_transpose' if transposed else ''}`.")
    return Conv


Conv1d, Conv2d, Conv3d = (_conv_class(n, False) for n in (1, 2, 3))
ConvTranspose1d, ConvTranspose2d, ConvTranspose3d = (_conv_class(n, True) for n in (1, 2, 3))


class _PoolNd(Module):
    n = 0
    kind = "max"

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, count_include_pad=True):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = ntuple(_positive(name, "kernel_size", kernel_size), self.n, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else ntuple(_positive(name, "stride", stride), self.n,
                                                                     "stride", name)
        self.padding = _padding(name, padding, self.n, ())
        for k, p in zip(self.kernel_size, self.padding):
            if max(p if isinstance(p, tuple) else (p,)) > k // 2:
                raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel {self.kernel_size}")
        self.dilation = ntuple(_positive(name, "dilation", dilation), self.n, "dilation", name)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        if self.kind == "max":
            return F.max_pool(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        return F.avg_pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _pool_class(n: int, kind: str):
    class Pool(_PoolNd):
        if kind == "max":
            def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
                super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        else:
            def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
                super().__init__(kernel_size, stride, padding, 1, ceil_mode, count_include_pad)
    Pool.n, Pool.kind = n, kind
    Pool.__name__ = Pool.__qualname__ = f"{kind.capitalize()}Pool{n}d"
    return Pool


MaxPool1d, MaxPool2d, MaxPool3d = (_pool_class(n, "max") for n in (1, 2, 3))
AvgPool1d, AvgPool2d, AvgPool3d = (_pool_class(n, "avg") for n in (1, 2, 3))


class GlobalAvgPool(Module):
    """Mean over all spatial positions: (N, C, *S) -> (N, C)."""

    def forward(self, x):
        return F.global_avg_pool(x)


class GlobalMaxPool(Module):
    """Max over all spatial positions: (N, C, *S) -> (N, C)."""

    def forward(self, x):
        return F.global_max_pool(x)


class KMaxPool(Module):
    """The k largest values along an axis, in their original order (Kalchbrenner et al. 2014)."""

    def __init__(self, k, axis=-1):
        super().__init__()
        self.k, self.axis = _positive("KMaxPool", "k", k), axis

    def forward(self, x):
        return F.kmax_pool(x, self.k, self.axis)

    def extra_repr(self):
        return f"k={self.k}" + (f", axis={self.axis}" if self.axis != -1 else "")


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features), PyTorch's layout and init."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        _positive("Linear", "in_features", in_features)
        _positive("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(kaiming_uniform((out_features, in_features)))
        self.bias = Parameter(bias_uniform(out_features, fan_in((out_features, in_features)))) if bias else None

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"input has {x.shape[-1]} features (shape {tuple(x.shape)}) but in_features is "
                             f"{self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input (a skip branch of a Concat, a placeholder)."""

    def forward(self, x):
        return x


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Softmax(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Flatten(Module):
    """(N, *rest) -> (N, prod(rest)) (from start_dim=1, as in PyTorch)."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return x.flatten(self.start_dim)


class Dropout(Module):
    """Zeroes each element with probability p in training, scaling the rest by 1/(1-p)."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class _BatchNorm(Module):
    dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        self.num_features = _positive(type(self).__name__, "num_features", num_features)
        self.eps, self.momentum, self.affine = eps, momentum, affine
        self.weight = Parameter(np.ones(num_features, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, np.float32)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))

    def forward(self, x):
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            raise ValueError(f"expected input with {' or '.join(map(str, self.dims))} axes and "
                             f"{self.num_features} channels, got shape {tuple(x.shape)}")
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.training,
                            self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L)."""
    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W)."""
    dims = (4,)
