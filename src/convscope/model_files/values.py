"""Small values a user writes, read and shown back: a shape like `1x28x28`, and any value cut to a
few dozen characters for an error message (whatever its size)."""
from __future__ import annotations

from ..messages import excerpt


def parse_shape(text, what: str = "shape") -> tuple:
    """A shape of positive ints from `'1x28x28'`, a list or a tuple; a ValueError naming `what` otherwise."""
    parts = text.lower().split("x") if isinstance(text, str) else text
    try:
        shape = tuple(int(v) for v in parts)
        ok = all(v >= 1 and float(v) == float(p) for v, p in zip(shape, parts))
    except (TypeError, ValueError):
        ok = False
    if not ok or not shape:
        raise ValueError(f"{what} {excerpt(text)} must be positive sizes like 1x28x28 (channels x spatial sizes)")
    return shape
