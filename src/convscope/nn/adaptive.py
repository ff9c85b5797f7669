"""Adaptive average and max pooling, 1-D to 3-D, to any output size: PyTorch's windows (output o of
an axis of size i pooled to n reads cells floor(o i / n) .. ceil((o + 1) i / n) - 1)."""
from __future__ import annotations

from . import functional as F
from .arg_types import sizes
from .module import Module
from .registry import TorchTwin, bind, register
from .spatial import AXES, batched

_DOC = """{n}-D adaptive {what} pooling to a fixed output size, PyTorch's `{name}`: the {reduce} of each
    of PyTorch's adaptive windows, per channel; windows of neighbouring outputs may overlap when
    the input size is not a multiple of the output size.

    Args:
        output_size: the output's spatial size, an int or one per axis; None keeps that axis
            (2-D and 3-D only, as in PyTorch).

    Shape:
        input (N, C, {axes}) or unbatched (C, {axes}); output (N, C, *output_size). Output o of an
        axis of size i reads cells floor(o i / n) .. ceil((o + 1) i / n) - 1. No parameters.
"""


class _AdaptivePoolNd(Module):
    n = 0
    reduction = "avg"  # or "max": what a window computes

    def __init__(self, output_size):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        pool = F.adaptive_avg_pool if self.reduction == "avg" else F.adaptive_max_pool
        return batched(x, self.n, lambda x: pool(x, self.output_size))

    def extra_repr(self):
        return f"output_size={self.output_size}"


def _adaptive_class(n: int, kind: str):
    name = f"Adaptive{kind.capitalize()}Pool{n}d"
    refuse = {"return_indices": False} if kind == "max" else {}
    cls = type(name, (_AdaptivePoolNd,), {"n": n, "reduction": kind, "__qualname__": name, "__module__": __name__,
                                           "__doc__": _DOC.format(n=n, what=kind, name=name, axes=AXES[n],
                                                                  reduce="mean" if kind == "avg" else "maximum")})
    return register(dict(output_size=sizes(allow_none=n > 1)), n=n, torch=TorchTwin(name, refuse=refuse))(cls)


AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d = (_adaptive_class(n, "avg") for n in (1, 2, 3))
AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d = (_adaptive_class(n, "max") for n in (1, 2, 3))
