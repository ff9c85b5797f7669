"""convscope: convolutional neural networks from first principles — exact, fast, explainable."""
from . import analysis, data, experiments, nn, ops, optim, zoo
from .analysis import compare, receptive_field, receptive_region, saliency, summary
from .bridges import from_onnx, from_torch, to_onnx, to_torch
from .io import load, save
from .modelfile import load_model, to_yaml
from .random import manual_seed
from .runs import load_run
from .specs import resolve_model
from .tensor import Tensor, concat, is_grad_enabled, no_grad, stack, tensor
from .train import History, TrainingDiverged, evaluate, fit

__version__ = "0.1.0"
__all__ = ["ops", "nn", "optim", "data", "analysis", "zoo", "experiments", "summary", "receptive_field", "receptive_region", "saliency",
           "compare", "from_torch", "to_torch", "to_onnx", "from_onnx", "Tensor", "tensor", "concat", "stack", "no_grad", "is_grad_enabled",
           "manual_seed", "resolve_model", "load_run", "save", "load", "load_model", "to_yaml", "fit", "evaluate", "History",
           "TrainingDiverged", "__version__"]
