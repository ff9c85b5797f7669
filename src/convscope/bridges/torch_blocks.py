"""PyTorch modules for the convscope blocks PyTorch has no single layer for (used by to_torch)."""
from __future__ import annotations

import torch
import torch.nn.functional as tf

from ..ops.geometry import resolve_padding, torch_pad_list


class Residual(torch.nn.Module):
    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class Concat(torch.nn.Module):
    def __init__(self, branches, dim=1):
        super().__init__()
        for i, b in enumerate(branches):
            self.add_module(str(i), b)
        self.dim = dim

    def forward(self, x):
        return torch.cat([b(x) for b in self.children()], self.dim)


class GlobalPool(torch.nn.Module):
    def __init__(self, reduction):
        super().__init__()
        self.reduction = reduction

    def forward(self, x):
        flat = x.flatten(2)
        return flat.mean(-1) if self.reduction == "avg" else flat.amax(-1)


class KMax(torch.nn.Module):
    def __init__(self, k, axis=-1):
        super().__init__()
        self.k, self.axis = k, axis

    def forward(self, x):
        idx = torch.topk(x, self.k, dim=self.axis).indices.sort(dim=self.axis).values
        return torch.gather(x, self.axis, idx)


def padded_conv(base, padding):
    """A subclass of a torch Conv layer that pads by convscope's rule ('same' as TensorFlow, 'full',
    (lo, hi) pairs) before convolving, so parameter names stay those of the base layer."""

    class PaddedConv(base):
        convscope_padding = padding

        def forward(self, x):
            pads = resolve_padding(padding, tuple(x.shape[2:]), self.kernel_size, self.stride, self.dilation, "conv")
            return self._conv_forward(tf.pad(x, list(torch_pad_list(pads))), self.weight, self.bias)

    PaddedConv.__name__ = f"Padded{base.__name__}"
    return PaddedConv
