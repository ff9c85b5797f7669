"""StochasticDepth (Huang et al. 2016), torchvision.ops.StochasticDepth: residual branches dropped
whole in training, as in ConvNeXt, EfficientNet and Swin."""
from __future__ import annotations

import functools

from . import functional as F
from .arg_types import choice
from .module import Module
from .registry import TorchTwin, bind, real, register


@functools.cache
def torch_stand_in():
    """A torch module computing torchvision.ops.StochasticDepth, for machines whose torchvision
    cannot be imported (the twin then converts to and from it)."""
    import torch

    class StochasticDepth(torch.nn.Module):
        def __init__(self, p, mode):
            super().__init__()
            self.p, self.mode = p, mode

        def forward(self, x):
            if not self.training or self.p == 0:
                return x
            shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
            keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - self.p)
            return x * (keep / (1 - self.p) if self.p < 1 else keep)
    return StochasticDepth


@register(dict(p=real(0, 1), mode=choice("batch", "row")),
          torch=TorchTwin("torchvision.ops.StochasticDepth", fallback=torch_stand_in))
class StochasticDepth(Module):
    """In training, zeroes the whole input of a sample ('row') or of the batch ('batch') with
    probability p and scales what survives by 1/(1-p); the identity in eval mode. Placed on a
    residual branch, it drops that block for the chosen samples. Draws from convscope's generator
    (`cs.manual_seed`), so the same seed drops the same samples.

    Args:
        p: probability of dropping, in [0, 1].
        mode: 'row' (each sample on its own) or 'batch' (all samples together).

    Shape:
        output shape = input shape, (N, *) with N the batch. No parameters.
    """

    def __init__(self, p, mode):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.stochastic_depth(x, self.p, self.mode, self.training)

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode!r}"
