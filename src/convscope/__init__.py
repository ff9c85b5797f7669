"""convscope: convolutional neural networks from first principles — exact, fast, explainable."""
from . import nn, ops, optim
from .random import manual_seed
from .tensor import Tensor, concat, is_grad_enabled, no_grad, stack, tensor

__version__ = "0.1.0"
__all__ = ["ops", "nn", "optim", "Tensor", "tensor", "concat", "stack", "no_grad", "is_grad_enabled",
           "manual_seed", "__version__"]
