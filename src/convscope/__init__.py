"""convscope: convolutional neural networks from first principles — exact, fast, explainable."""
from . import data, nn, ops, optim
from .io import load, save
from .modelfile import load_model, to_yaml
from .random import manual_seed
from .tensor import Tensor, concat, is_grad_enabled, no_grad, stack, tensor
from .train import History, TrainingDiverged, evaluate, fit

__version__ = "0.1.0"
__all__ = ["ops", "nn", "optim", "data", "Tensor", "tensor", "concat", "stack", "no_grad", "is_grad_enabled",
           "manual_seed", "save", "load", "load_model", "to_yaml", "fit", "evaluate", "History",
           "TrainingDiverged", "__version__"]
