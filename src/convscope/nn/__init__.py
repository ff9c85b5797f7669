"""Layers, containers, losses and functions of Tensors, with PyTorch's names."""
from . import functional, init, registry
from .containers import Concat, Residual, Sequential
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .layers import (BatchNorm1d, BatchNorm2d, Dropout, Flatten, Identity, LeakyReLU, Linear, ReLU, Sigmoid, Softmax,
                     Tanh)
from .loss import CrossEntropyLoss, MSELoss
from .module import Module, Parameter
from .pooling import (AvgPool1d, AvgPool2d, AvgPool3d, GlobalAvgPool, GlobalMaxPool, KMaxPool, MaxPool1d, MaxPool2d,
                      MaxPool3d)
# registered after the classic layers above, so registry listings keep the classic ones first
from .activations import GELU, Hardsigmoid, Hardswish, Hardtanh, Mish, ReLU6, SiLU  # noqa: E402
from .normalization import GroupNorm, LayerNorm  # noqa: E402
from .adaptive import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,  # noqa: E402
                       AdaptiveMaxPool2d, AdaptiveMaxPool3d)
from .resize import Upsample  # noqa: E402
from .stochastic_depth import StochasticDepth  # noqa: E402
from .layers import BatchNorm3d, Dropout2d, Dropout3d  # noqa: E402
from .activations import CELU, ELU, PReLU, SELU  # noqa: E402
from .normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d  # noqa: E402
from .pooling import LPPool1d, LPPool2d, LPPool3d  # noqa: E402
from .rearrange import PixelShuffle, PixelUnshuffle  # noqa: E402

LAYERS = {name: decl.cls for name, decl in registry.declarations().items()}  # every built-in layer and block

__all__ = ["Module", "Parameter", "functional", "init", "registry", "LAYERS", "CrossEntropyLoss", "MSELoss", *LAYERS]
