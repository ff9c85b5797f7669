"""Layers with a fixed number of spatial axes take a batch (N, C, *S) or, as PyTorch's do, one
unbatched sample (C, *S): the layer adds the batch axis, runs, and removes it again."""
from __future__ import annotations

AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


def batched(x, n: int, run):
    """run(x) on (N, C, *S); on (C, *S), run(x[None]) without its batch axis."""
    if x.ndim == n + 2:
        return run(x)
    if x.ndim == n + 1:
        y = run(x.reshape(1, *x.shape))  # (1, C, *S)
        return y.reshape(*y.shape[1:])
    raise ValueError(f"expected input (N, C, {AXES[n]}) or unbatched (C, {AXES[n]}) with {n} spatial "
                     f"ax{'is' if n == 1 else 'es'}, got shape {tuple(x.shape)} ({x.ndim} axes)")
