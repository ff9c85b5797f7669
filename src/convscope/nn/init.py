"""Parameter initialisation: PyTorch's defaults (Kaiming-uniform weights with a = sqrt(5), uniform
biases), drawn directly in the parameter's dtype; shape-only ("meta") parameters for analysing
models of any size; and a check, before allocating, that an array fits in this machine's memory.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .. import random
from ..machine import too_big
from ..tensor import meta as _meta_array

_building = [False]  # inside `meta()`: layers get shape-only parameters


@contextlib.contextmanager
def meta(enabled: bool = True):
    """Layers built inside this block get shape-only parameters and buffers: the right shapes and
    dtypes, no data (each is one shared zero broadcast to its shape: 0 bytes). Enough for
    summary, receptive fields and export of the architecture; running or training such a layer
    raises. `enabled=False` builds ordinary layers (so callers can pass a flag through).

    >>> from convscope.nn import Conv2d
    >>> with meta():
    ...     conv = Conv2d(100_000, 100_000, 3)    # 90 billion weights, no memory
    >>> conv.weight.shape, conv.weight.data.nbytes > 0, is_meta(conv.weight.data)
    ((100000, 100000, 3, 3), True, True)
    """
    before = _building[0]
    _building[0] = bool(enabled)
    try:
        yield
    finally:
        _building[0] = before


def building_meta() -> bool:
    return _building[0]


def is_meta(array) -> bool:
    """A shape-only array: every element the same zero, no memory of its own."""
    array = np.asarray(array)
    return array.ndim > 0 and array.size > 0 and not any(array.strides)


class TooBig(MemoryError, ValueError):
    """An array this machine cannot hold (a ValueError too, so command lines report it in one line)."""


def require_memory(nbytes: int, what: str) -> None:
    """Refuse, before allocating, an array larger than the memory available now. Linux overcommits,
    so a too-large allocation may succeed and the process be killed later: decide from the size."""
    free = too_big(nbytes)
    if free is not None:
        raise TooBig(f"{what} needs {_gb(nbytes)} ({nbytes:,} bytes) but this machine has {_gb(free)} of memory "
                     "available; analyse it shape-only instead: load_model(..., meta=True), zoo.load(..., meta=True) "
                     "or build it inside `with convscope.nn.init.meta():`")


def _gb(nbytes: int) -> str:
    return f"{nbytes / 1e9:.1f} GB"


def _allocate(shape, dtype, what: str):
    """A meta array inside `meta()`; else None after checking that the array fits."""
    shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
    if _building[0]:
        return _meta_array(shape, dtype)
    require_memory(math.prod(shape) * dtype.itemsize, f"{what} {shape} {dtype}")
    return None


def fan_in(shape) -> int:
    """Inputs feeding one output unit: in_features, or in_channels/groups * prod(kernel)."""
    return int(np.prod(shape[1:]))


def uniform(shape, bound: float, dtype=np.float32, what: str = "parameter") -> np.ndarray:
    """U(-bound, bound) drawn in `dtype` (float32 draws float32: half the memory and time of float64),
    as PyTorch's `uniform_`: -bound + 2 bound * U[0, 1)."""
    out = _allocate(shape, dtype, what)
    if out is not None:
        return out
    draw = random.generator().random(tuple(shape), dtype=np.dtype(dtype).type)
    draw *= 2 * bound
    draw -= bound
    return draw


def kaiming_uniform(shape, dtype=np.float32, a=math.sqrt(5), what: str = "weight") -> np.ndarray:
    """U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)); with a = sqrt(5), b = 1/sqrt(fan_in)."""
    gain = math.sqrt(2.0 / (1 + a * a))
    return uniform(shape, gain * math.sqrt(3.0 / fan_in(shape)), dtype, what)


def bias_uniform(n: int, fan: int, dtype=np.float32, what: str = "bias") -> np.ndarray:
    """U(-1/sqrt(fan), 1/sqrt(fan)), PyTorch's default bias (zero when fan is 0)."""
    return uniform((n,), 1.0 / math.sqrt(fan) if fan > 0 else 0.0, dtype, what)


def constant(shape, value: float, dtype=np.float32, what: str = "buffer") -> np.ndarray:
    """`value` everywhere (BatchNorm's ones and zeros); shape-only inside `meta()`."""
    out = _allocate(shape, dtype, what)
    return np.full(tuple(shape), value, dtype) if out is None else out
