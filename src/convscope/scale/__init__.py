"""Scale-out: `cs.fit`'s loop with its steps on PyTorch (a GPU, or many processes with
DistributedDataParallel), with the same data, checkpoints and run folder as the NumPy engine.
torch is imported only when used."""
from .torch_fit import TorchEngine, fit_torch

__all__ = ["TorchEngine", "fit_torch"]
