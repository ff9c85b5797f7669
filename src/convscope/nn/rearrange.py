"""PixelShuffle and PixelUnshuffle (sub-pixel convolution, Shi et al. 2016): channels to blocks of
cells and back, thin shells over the registered ops with PyTorch's arguments and twins."""
from __future__ import annotations

from ..ops.primitives import rearrange as R
from ..tensor import apply
from .module import Module
from .registry import TorchTwin, bind, count, register
from .spatial import batched


@register(dict(upscale_factor=count()), torch=TorchTwin("PixelShuffle"))
class PixelShuffle(Module):
    """(N, C r^2, H, W) -> (N, C, H r, W r): channel c r^2 + i r + j of cell (y, x) goes to cell
    (y r + i, x r + j) of channel c, PyTorch's `PixelShuffle` (ONNX DepthToSpace, mode CRD).

    Args:
        upscale_factor: r.

    Shape:
        input (N, C r^2, H, W) or unbatched (C r^2, H, W); output (N, C, H r, W r). No parameters.
    """

    def __init__(self, upscale_factor):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return batched(x, 2, lambda x: apply(R.pixel_shuffle, x, upscale_factor=self.upscale_factor))

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


@register(dict(downscale_factor=count()), torch=TorchTwin("PixelUnshuffle"))
class PixelUnshuffle(Module):
    """(N, C, H r, W r) -> (N, C r^2, H, W), the inverse of PixelShuffle, PyTorch's `PixelUnshuffle`.

    Args:
        downscale_factor: r, dividing H and W.

    Shape:
        input (N, C, H r, W r) or unbatched (C, H r, W r); output (N, C r^2, H, W). No parameters.
    """

    def __init__(self, downscale_factor):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return batched(x, 2, lambda x: apply(R.pixel_unshuffle, x, downscale_factor=self.downscale_factor))

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
