"""Upsample: resizing the spatial axes (nearest, nearest-exact, linear, bilinear, trilinear), a thin
shell over F.interpolate with PyTorch's arguments and twin."""
from __future__ import annotations

from ..ops.primitives.resize import LINEAR, MODES
from . import functional as F
from .arg_types import choice, one_or_per_axis
from .module import Module
from .registry import TorchTwin, bind, count, flag, optional, real, register


def _size_or_scale(layer, a):
    if (a["size"] is None) == (a["scale_factor"] is None):
        raise ValueError(f"{layer}: give exactly one of size and scale_factor, got size={a['size']} and "
                         f"scale_factor={a['scale_factor']}")
    if a["recompute_scale_factor"] and a["size"] is not None:
        raise ValueError(f"{layer}: recompute_scale_factor is for scale_factor only, not with size (as in PyTorch)")
    if a["align_corners"] is not None and a["mode"] not in LINEAR:
        raise ValueError(f"{layer}: align_corners is for the linear modes only, not {a['mode']!r}; leave it None")


@register(dict(size=optional(one_or_per_axis(count())), scale_factor=optional(one_or_per_axis(real(0, low_open=True))),
               mode=choice(*MODES), align_corners=optional(flag()), recompute_scale_factor=optional(flag())),
          checks=(_size_or_scale,), torch=TorchTwin("Upsample"))
class Upsample(Module):
    """Resizes the spatial axes, PyTorch's `Upsample` (and F.interpolate): to `size`, or by
    `scale_factor` (output floor(i * scale_factor)).

    Args:
        size: the output's spatial size, an int or one per axis.
        scale_factor: the factor, a float or one per axis; its inverse sets the sampling positions
            unless recompute_scale_factor (then i / o does, as with size).
        mode: 'nearest' (cell floor(d i/o); default), 'nearest-exact' (floor((d + 0.5) i/o)), or
            'linear' / 'bilinear' / 'trilinear' for 1 / 2 / 3 spatial axes.
        align_corners: linear modes only: True maps the corner cells' centres onto each other
            (x = d (i - 1)/(o - 1)); False (the default) uses half-pixel centres.
        recompute_scale_factor: compute the sampling scale from the sizes, not scale_factor.

    Shape:
        input (N, C, *S) with 1 to 3 spatial axes; output (N, C, *size) or (N, C, *floor(S * scale_factor)).
        No parameters.
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return what + f", mode={self.mode!r}" + ("" if self.align_corners is None else
                                                 f", align_corners={self.align_corners}")
