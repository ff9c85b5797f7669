"""The optional compiled kernels: numba's, when it is installed and `tuning.current().compiled`.

numba is an optional dependency (`pip install 'convscope[fast]'`); without it every op runs its
NumPy path. The kernels are imported on first use, so `import convscope` never loads numba.
"""
from __future__ import annotations

import functools

import numpy as np

from .tuning import current

DTYPES = ("float32", "float64")  # the dtypes the kernels are compiled for


def kernels(dtype):
    """The depthwise kernels module for arrays of `dtype`, or None (NumPy path)."""
    if not current().compiled or np.dtype(dtype).name not in DTYPES:
        return None
    return _load()


@functools.cache
def _load():
    try:
        from . import depthwise_kernels
    except ImportError:  # numba is not installed
        return None
    return depthwise_kernels
