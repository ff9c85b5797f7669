"""Argument types of the layers of modern CNNs (beyond registry's counts, flags and reals): a choice
among strings, a shape of positive ints, and a per-axis size where None keeps the input's size."""
from __future__ import annotations

import numpy as np

from ..messages import excerpt
from ..ops.geometry import _check_int, ntuple
from .registry import ArgType


def choice(*values: str) -> ArgType:
    """One of `values` (GELU's approximate, Upsample's mode, a conv's padding_mode)."""
    def check(layer, name, v, n):
        if v not in values:
            raise ValueError(f"{layer}: {name} must be one of {', '.join(map(repr, values))}, got {excerpt(v)}")
        return v
    return ArgType(" | ".join(map(repr, values)), check, draw=lambda rnd, n: rnd.choice(values))


def shape() -> ArgType:
    """An int >= 1 or a tuple of them (LayerNorm's normalized_shape), normalised to a tuple."""
    def check(layer, name, v, n):
        items = (v,) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else tuple(v) \
            if isinstance(v, (tuple, list)) else None
        if not items:
            raise TypeError(f"{layer}: {name} must be an int or a non-empty tuple of ints, got {excerpt(v)}")
        return tuple(_check_int(name, e, 1, layer, None) for e in items)
    return ArgType("int >= 1 or a tuple of them", check, draw=lambda rnd, n: rnd.randint(1, 4))


def sizes(allow_none: bool = True, minimum: int = 1) -> ArgType:
    """An int repeated over the spatial axes or one per axis; None entries (when allowed) keep that
    axis's input size, as PyTorch's adaptive pools do."""
    def check(layer, name, v, n):
        per = ntuple(v, n, name, layer)
        return tuple(None if e is None and allow_none else _check_int(name, e, minimum, layer, a)
                     for a, e in enumerate(per))
    def draw(rnd, n):
        one = lambda: None if allow_none and rnd.random() < 0.2 else rnd.randint(minimum, minimum + 3)  # noqa: E731
        return one() if n is None or rnd.random() < 0.5 else tuple(one() for _ in range(n))
    return ArgType(f"int >= {minimum}{' or None' if allow_none else ''}, or one per axis", check, draw=draw)


def one_or_per_axis(arg_type: ArgType) -> ArgType:
    """A value of `arg_type`, or a tuple of them (one per spatial axis, for layers of any dimensionality
    such as Upsample): kept as given, an int stays an int."""
    def check(layer, name, v, n):
        if isinstance(v, (tuple, list)):
            if not v:
                raise ValueError(f"{layer}: {name} must not be empty")
            return tuple(arg_type.check(layer, f"{name}[{a}]", e, n) for a, e in enumerate(v))
        return arg_type.check(layer, name, v, n)
    return ArgType(f"{arg_type.text}, or a tuple of them", check, draw=arg_type.draw)
