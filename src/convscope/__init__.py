"""convscope: convolutional neural networks from first principles — exact, fast, explainable."""
from . import analysis, data, lecture, nn, ops, optim
from .analysis import compare, receptive_field, receptive_region, saliency
from .bridges import from_onnx, from_torch, to_onnx, to_torch
from .io import load, save
from .model_files import load_model, load_run, resolve_model, summary, to_yaml, zoo
from .random import manual_seed
from .tensor import Tensor, concat, is_grad_enabled, no_grad, stack, tensor
from .train import History, TrainingDiverged, TrainingInterrupted, evaluate, fit

__version__ = "0.1.0"
__all__ = ["ops", "nn", "optim", "data", "analysis", "zoo", "experiments", "viz", "summary", "receptive_field",
           "receptive_region", "saliency", "compare", "from_torch", "to_torch", "to_onnx", "from_onnx", "Tensor",
           "tensor", "concat", "stack", "no_grad", "is_grad_enabled", "manual_seed", "resolve_model", "load_run",
           "save", "load", "load_model", "to_yaml", "fit", "evaluate", "History",
           "TrainingDiverged", "TrainingInterrupted", "__version__"]

# Pictures and experiments need matplotlib, which costs a second to import: load them on first use.
_LAZY = ("experiments", "viz")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'convscope' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
