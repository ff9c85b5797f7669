"""The one random generator behind initialisation, dropout and shuffling (seed it for repeatable runs)."""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def generator() -> np.random.Generator:
    return _generator


def manual_seed(seed: int) -> np.random.Generator:
    """Make initialisation, dropout and data shuffling repeatable."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def get_state() -> dict:
    return _generator.bit_generator.state


def set_state(state: dict) -> None:
    _generator.bit_generator.state = state
