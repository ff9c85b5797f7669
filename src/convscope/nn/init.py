"""PyTorch's default initialisation: Kaiming-uniform weights (a = sqrt(5)), uniform biases."""
from __future__ import annotations

import math

import numpy as np

from .. import random


def fan_in(shape) -> int:
    """Inputs feeding one output unit: in_features, or in_channels/groups * prod(kernel)."""
    return int(np.prod(shape[1:]))


def kaiming_uniform(shape, dtype=np.float32, a=math.sqrt(5)) -> np.ndarray:
    """U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)); with a = sqrt(5), b = 1/sqrt(fan_in)."""
    gain = math.sqrt(2.0 / (1 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in(shape))
    return random.generator().uniform(-bound, bound, shape).astype(dtype)


def bias_uniform(n: int, fan: int, dtype=np.float32) -> np.ndarray:
    bound = 1.0 / math.sqrt(fan) if fan > 0 else 0.0
    return random.generator().uniform(-bound, bound, n).astype(dtype)
