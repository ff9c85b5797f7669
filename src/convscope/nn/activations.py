"""The activation layers of modern CNNs (MobileNet v2/v3, EfficientNet, ConvNeXt, YOLO, 3-D UNets): ReLU6,
Hardtanh, Hardswish, Hardsigmoid, SiLU, GELU, Mish, ELU, SELU, CELU and PReLU, each a thin shell over
one registered op with PyTorch's name, arguments and twin."""
from __future__ import annotations

from . import functional as F
from .arg_types import choice
from .init import constant
from .module import Module, Parameter
from .registry import OnnxImport, TorchTwin, bind, count, real, register

_SHAPE = """
    Shape:
        output shape = input shape, any shape.
"""


def _hardtanh_range(layer, a):
    if a["min_val"] >= a["max_val"]:
        raise ValueError(f"{layer}: min_val {a['min_val']} must be below max_val {a['max_val']}")


@register(torch=TorchTwin("ReLU6"))
class ReLU6(Module):
    __doc__ = "min(max(x, 0), 6) element-wise (MobileNet v1/v2); the gradient is 1 strictly inside (0, 6).\n" + _SHAPE

    def forward(self, x):
        return F.relu6(x)


@register(dict(min_val=real(), max_val=real()), checks=(_hardtanh_range,), torch=TorchTwin("Hardtanh"))
class Hardtanh(Module):
    """min(max(x, min_val), max_val) element-wise.

    Args:
        min_val: the lower end (default -1); max_val: the upper end (default 1), above min_val.

    Shape:
        output shape = input shape, any shape.
    """

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


@register(torch=TorchTwin("Hardswish"))
class Hardswish(Module):
    __doc__ = "x * relu6(x + 3) / 6 element-wise (MobileNet v3, Howard et al. 2019).\n" + _SHAPE

    def forward(self, x):
        return F.hardswish(x)


@register(torch=TorchTwin("Hardsigmoid"))
class Hardsigmoid(Module):
    __doc__ = "relu6(x + 3) / 6 element-wise (MobileNet v3's squeeze-and-excitation gate).\n" + _SHAPE

    def forward(self, x):
        return F.hardsigmoid(x)


@register(torch=TorchTwin("SiLU"))
class SiLU(Module):
    __doc__ = "x * sigmoid(x) element-wise (swish; EfficientNet, YOLO).\n" + _SHAPE

    def forward(self, x):
        return F.silu(x)


@register(dict(approximate=choice("none", "tanh")), torch=TorchTwin("GELU"))
class GELU(Module):
    """x * Phi(x) element-wise, Phi the standard normal CDF (Hendrycks & Gimpel 2016; ConvNeXt).

    Args:
        approximate: 'none' (exact, with erf; default) or 'tanh' (0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))).

    Shape:
        output shape = input shape, any shape.
    """

    def __init__(self, approximate="none"):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}" if self.approximate != "none" else ""


@register(torch=TorchTwin("Mish"))
class Mish(Module):
    __doc__ = "x * tanh(softplus(x)) element-wise (Misra 2019; YOLOv4).\n" + _SHAPE

    def forward(self, x):
        return F.mish(x)


@register(dict(alpha=real()), torch=TorchTwin("ELU"))
class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) at and below 0, element-wise (Clevert et al. 2016).

    Args:
        alpha: the negative saturation value's magnitude (default 1).

    Shape:
        output shape = input shape, any shape.
    """

    def __init__(self, alpha=1.0):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


@register(torch=TorchTwin("SELU"))
class SELU(Module):
    __doc__ = ("scale * elu(x, alpha), alpha = 1.6733 and scale = 1.0507, element-wise (self-normalising "
               "networks, Klambauer et al. 2017).\n" + _SHAPE)

    def forward(self, x):
        return F.selu(x)


@register(dict(alpha=real(0, low_open=True)), torch=TorchTwin("CELU"))
class CELU(Module):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) element-wise (Barron 2017).

    Args:
        alpha: the negative saturation value's magnitude, > 0 (default 1). Note: unlike PyTorch, a
            negative alpha is refused (exp(x / alpha) then overflows for negative x).

    Shape:
        output shape = input shape, any shape.
    """

    def __init__(self, alpha=1.0):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.celu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


def _prelu_slopes(node):
    """ONNX PRelu's slope as PyTorch's weight: one value, or one per channel shaped (C, 1, ...)."""
    slope, rank = node.const(1), node.rank
    per_channel = rank is not None and slope.ndim == rank - 1 and all(s == 1 for s in slope.shape[1:])
    return slope.reshape(-1) if slope.size == 1 or per_channel else None


@register(dict(num_parameters=count(), init=real()), torch=TorchTwin("PReLU"),
          onnx=(OnnxImport("PRelu", lambda node: (dict(num_parameters=_prelu_slopes(node).size),
                                                  {"weight": _prelu_slopes(node)}),
                           lambda node: node.is_const(1) and _prelu_slopes(node) is not None),))
class PReLU(Module):
    """x for x >= 0, a * x below, element-wise, with a learned slope a (He et al. 2015).

    Args:
        num_parameters: 1 (one slope for every channel; default) or C (one slope per channel, axis 1).
        init: the slopes' initial value (default 0.25).

    Shape:
        output shape = input shape; with num_parameters C the channels are axis 1 of (N, C, *S) or (N, C),
        axis 0 of (C,), as in PyTorch.
        weight (num_parameters,).
    """

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        bind(self, locals())
        self.weight = Parameter(constant((num_parameters,), init, what="PReLU weight"))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
