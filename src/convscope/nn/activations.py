"""The activation layers of modern CNNs (MobileNet v2/v3, EfficientNet, ConvNeXt, YOLO): ReLU6,
Hardtanh, Hardswish, Hardsigmoid, SiLU, GELU and Mish, each a thin shell over one registered op
with PyTorch's name, arguments and twin."""
from __future__ import annotations

from . import functional as F
from .arg_types import choice
from .module import Module
from .registry import TorchTwin, bind, real, register

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
