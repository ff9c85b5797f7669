"""Layers that are not windows: Linear, activations, Flatten, Dropout (of elements or channels) and
BatchNorm, each a thin shell over one function, declared once in the layer registry (arguments, PyTorch twin, ONNX import).
Convolutions live in conv.py, pools in pooling.py; this module re-exports them."""
from __future__ import annotations

import numpy as np

from ..ops.engine.dense import forward as dense_forward
from ..ops.engine.epilogue import Epilogue
from ..ops.primitives.elementwise import relu as relu_op
from . import forms
from . import functional as F
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d  # noqa: F401
from .init import bias_uniform, constant, kaiming_uniform
from .module import Module, Parameter
from .pooling import (AvgPool1d, AvgPool2d, AvgPool3d, GlobalAvgPool, GlobalMaxPool, KMaxPool,  # noqa: F401
                      MaxPool1d, MaxPool2d, MaxPool3d)
from .registry import OnnxImport, TorchTwin, axis, bind, count, flag, has_bias, real, register


def _gemm_is_linear(node):
    """Gemm is a Linear when A is not transposed, B is a constant and C a constant per output (or
    absent); any other Gemm is the ONNX rule's matrix product."""
    if node.attrs.get("transA", 0) or not node.is_const(1) or (node.has(2) and not node.is_const(2)):
        return False
    out = node.const(1).shape[0 if node.attrs.get("transB", 0) else 1]
    c = node.const(2)
    return c is None or c.size == 1 or c.shape in ((out,), (1, out))


def _linear_from_gemm(node):
    """Gemm: y = alpha * A B' + beta * C, with B' = B^T when transB."""
    a = node.attrs
    alpha = a.get("alpha", 1.0)
    w = node.const(1) if alpha == 1 else node.const(1) * alpha  # no copy of a large weight for nothing
    w = w if a.get("transB", 0) else w.T  # (out_features, in_features)
    c = node.const(2)
    state = {"weight": w}
    if c is not None:
        state["bias"] = np.broadcast_to(c * a.get("beta", 1.0), (1, w.shape[0]))[0]
    return dict(in_features=w.shape[1], out_features=w.shape[0], bias=c is not None), state


def _linear_from_matmul(node):
    w = node.const(1).T  # MatMul's constant right operand is (in, out)
    return dict(in_features=w.shape[1], out_features=w.shape[0], bias=False), {"weight": w}


class DenseForm(forms.Form):
    """A fully connected layer on (rows, features) through the engine's few-rows path, then a ReLU."""

    def __init__(self, w, b, relu=False):
        self.w, self.b, self.relu = w, b, relu

    def join(self, follower):
        return DenseForm(self.w, self.b, True) if follower is forms.RELU and not self.relu else None

    def __call__(self, x, *others):
        if x.ndim != 2 or x.shape[1] != self.w.shape[1] or x.dtype != self.w.dtype:
            return None
        return dense_forward(x, self.w, self.b, Epilogue(relu=self.relu))


@register(dict(in_features=count(), out_features=count(), bias=flag()),
          torch=TorchTwin("Linear", read={"bias": has_bias}),
          form=lambda layer, watch: DenseForm(watch(layer, "weight"), watch(layer, "bias") if layer.bias is not None
                                              else None),
          onnx=(OnnxImport("Gemm", _linear_from_gemm, _gemm_is_linear),
                OnnxImport("MatMul", _linear_from_matmul, lambda node: node.is_const(1) and node.const(1).ndim == 2)))
class Linear(Module):
    """Fully connected layer: y = x W^T + b, PyTorch's `Linear` (same layout and initialisation).

    Args:
        in_features: size of each input's last axis.
        out_features: size of each output's last axis.
        bias: learn an additive bias (default True).

    Shape:
        input (*, in_features), any leading axes (unbatched too); output (*, out_features).
        weight (out_features, in_features) drawn U(-b, b), b = 1/sqrt(in_features); bias (out_features,) too.
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        bind(self, locals())
        self.weight = Parameter(kaiming_uniform((out_features, in_features), what="Linear weight"))
        self.bias = Parameter(bias_uniform(out_features, in_features, what="Linear bias")) if bias else None

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"input has {x.shape[-1]} features (shape {tuple(x.shape)}) but in_features is "
                             f"{self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


@register(torch=TorchTwin("Identity"))
class Identity(Module):
    """Returns its input (a skip branch of a Concat, a placeholder).

    Shape:
        output = input, any shape.
    """

    def forward(self, x):
        return x


@register(torch=TorchTwin("ReLU"), form=lambda layer, watch: forms.of_op(relu_op))
class ReLU(Module):
    """max(x, 0) element-wise.

    Shape:
        output shape = input shape, any shape.
    """

    def forward(self, x):
        return F.relu(x)


@register(dict(negative_slope=real()), torch=TorchTwin("LeakyReLU"))
class LeakyReLU(Module):
    """x for x >= 0, negative_slope * x below, element-wise.

    Args:
        negative_slope: the slope for negative inputs (default 0.01).

    Shape:
        output shape = input shape, any shape.
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


@register(torch=TorchTwin("Tanh"))
class Tanh(Module):
    """tanh(x) element-wise.

    Shape:
        output shape = input shape, any shape.
    """

    def forward(self, x):
        return F.tanh(x)


@register(torch=TorchTwin("Sigmoid"))
class Sigmoid(Module):
    """1 / (1 + exp(-x)) element-wise.

    Shape:
        output shape = input shape, any shape.
    """

    def forward(self, x):
        return F.sigmoid(x)


@register(dict(dim=axis()), torch=TorchTwin("Softmax", read={"dim": lambda m: -1 if m.dim is None else m.dim}))
class Softmax(Module):
    """exp(x_i) / sum_j exp(x_j) along `dim` (computed stably, the maximum subtracted first).

    Args:
        dim: the axis whose entries sum to 1 (default -1). Note: unlike PyTorch, dim is never
            guessed from the input's rank.

    Shape:
        output shape = input shape, any shape.
    """

    def __init__(self, dim=-1):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


@register(dict(start_dim=axis()), torch=TorchTwin("Flatten", refuse={"end_dim": -1}))
class Flatten(Module):
    """Joins the axes from start_dim to the last into one, PyTorch's `Flatten` (end_dim is always -1).

    Args:
        start_dim: the first axis joined (default 1: everything but the batch axis).

    Shape:
        input (N, *rest); output (N, prod(rest)) with start_dim=1.
    """

    def __init__(self, start_dim=1):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return x.flatten(self.start_dim)


@register(dict(p=real(0, 1, high_open=True)), torch=TorchTwin("Dropout"))
class Dropout(Module):
    """Zeroes each element with probability p in training and scales the rest by 1/(1-p); the
    identity in eval mode (Srivastava et al. 2014).

    Args:
        p: probability of zeroing an element, in [0, 1) (default 0.5).

    Shape:
        output shape = input shape, any shape.
    """

    def __init__(self, p=0.5):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class _ChannelDropout(Module):
    n = 0  # spatial axes

    def __init__(self, p=0.5):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.channel_dropout(x, self.p, self.training, self.n)

    def extra_repr(self):
        return f"p={self.p}"


_CHANNEL_DROPOUT_DOC = """Zeroes each whole channel of each sample with probability p in training and scales the rest
    by 1/(1-p); the identity in eval mode (spatial dropout, Tompson et al. 2015), PyTorch's `{name}`.

    Args:
        p: probability of zeroing a channel, in [0, 1) (default 0.5).

    Shape:
        input {shape} or unbatched without N; output the same.
"""


@register(dict(p=real(0, 1, high_open=True)), torch=TorchTwin("Dropout2d"))
class Dropout2d(_ChannelDropout):
    __doc__ = _CHANNEL_DROPOUT_DOC.format(name="Dropout2d", shape="(N, C, H, W)")
    n = 2


@register(dict(p=real(0, 1, high_open=True)), torch=TorchTwin("Dropout3d"))
class Dropout3d(_ChannelDropout):
    __doc__ = _CHANNEL_DROPOUT_DOC.format(name="Dropout3d", shape="(N, C, D, H, W)")
    n = 3


def _inference(node) -> bool:
    """BatchNormalization in inference mode builds a layer; training mode (batch statistics and the
    running statistics as outputs) is an ONNX rule over the batch_norm op."""
    return not node.attrs.get("training_mode", 0) and not any(node.outputs[1:])


def _batch_norm_from_onnx(node):
    scale, shift, mean, var = (node.const(i) for i in range(1, 5))
    kw = dict(num_features=len(scale), eps=node.attrs.get("epsilon", 1e-5))
    return kw, {"weight": scale, "bias": shift, "running_mean": mean, "running_var": var}


def _batch_norm_form(layer, watch):
    """Eval mode: y = x s + t per channel, s = weight / sqrt(var + eps), t = bias - mean s (in float64)."""
    mean = watch(layer, "running_mean").astype(np.float64)
    s = 1.0 / np.sqrt(watch(layer, "running_var").astype(np.float64) + layer.eps)
    shift = -mean * s
    if layer.weight is not None:
        gamma = watch(layer, "weight").astype(np.float64)
        s, shift = s * gamma, shift * gamma
    if layer.bias is not None:
        shift = shift + watch(layer, "bias")
    return forms.ChannelAffine(s, shift, layer.dims)


def _batch_norm_twin(name):
    return TorchTwin(name, refuse={"track_running_stats": True},
                     read={"momentum": lambda m: 0.1 if m.momentum is None else m.momentum})


class _BatchNorm(Module):
    dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        bind(self, locals())
        name, shape = type(self).__name__, (num_features,)
        self.weight = Parameter(constant(shape, 1.0, what=f"{name} weight")) if affine else None
        self.bias = Parameter(constant(shape, 0.0, what=f"{name} bias")) if affine else None
        self.register_buffer("running_mean", constant(shape, 0.0, what=f"{name} running_mean"))
        self.register_buffer("running_var", constant(shape, 1.0, what=f"{name} running_var"))

    def forward(self, x):
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            raise ValueError(f"expected input with {' or '.join(map(str, self.dims))} axes and "
                             f"{self.num_features} channels, got shape {tuple(x.shape)}")
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.training,
                            self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


_BN_ARGS = dict(num_features=count(), eps=real(0, low_open=True), momentum=real(0, 1), affine=flag())
_BN_DOC = """Batch normalisation (Ioffe & Szegedy 2015) of {shape}, PyTorch's `{name}`.

    In training, each channel is normalised by the batch's mean and (biased) variance, and the
    running statistics move by `momentum` towards them (with the unbiased variance); in eval mode
    the running statistics are used. y = (x - mean) / sqrt(var + eps) * weight + bias.

    Args:
        num_features: C, the channels.
        eps: added to the variance (default 1e-5).
        momentum: weight of the new batch in the running statistics (default 0.1).
        affine: learn weight (ones) and bias (zeros) per channel (default True).

    Shape:
        input {shape}; output the same. Buffers running_mean (C,) zeros and running_var (C,) ones.
"""


@register(_BN_ARGS, torch=_batch_norm_twin("BatchNorm1d"), form=_batch_norm_form,
          onnx=(OnnxImport("BatchNormalization", _batch_norm_from_onnx,
                             lambda node: node.rank in (2, 3) and _inference(node)),))
class BatchNorm1d(_BatchNorm):
    __doc__ = _BN_DOC.format(shape="(N, C) or (N, C, L)", name="BatchNorm1d")
    dims = (2, 3)


@register(_BN_ARGS, torch=_batch_norm_twin("BatchNorm2d"), form=_batch_norm_form,
          onnx=(OnnxImport("BatchNormalization", _batch_norm_from_onnx,
                             lambda node: node.rank in (None, 4) and _inference(node)),))
class BatchNorm2d(_BatchNorm):
    __doc__ = _BN_DOC.format(shape="(N, C, H, W)", name="BatchNorm2d")
    dims = (4,)


@register(_BN_ARGS, torch=_batch_norm_twin("BatchNorm3d"), form=_batch_norm_form,
          onnx=(OnnxImport("BatchNormalization", _batch_norm_from_onnx,
                             lambda node: node.rank == 5 and _inference(node)),))
class BatchNorm3d(_BatchNorm):
    __doc__ = _BN_DOC.format(shape="(N, C, D, H, W)", name="BatchNorm3d")
    dims = (5,)
