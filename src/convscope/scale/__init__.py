"""Scale-out: the same training on PyTorch (a GPU, or many processes with DistributedDataParallel),
with the same data, checkpoints and run folder as the NumPy engine. torch is imported only when used."""
from .torch_fit import fit_torch

__all__ = ["fit_torch"]
