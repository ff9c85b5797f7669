"""Saliency: the gradient of one unit with respect to the input."""
from __future__ import annotations

import numpy as np

from ..nn.module import observe
from ..tensor import Tensor


def saliency(model, x, index, layer=None) -> np.ndarray:
    """d(unit)/d(input) for one sample x (C, *spatial): which input elements move that unit most.

    Args:
        index: the unit in the output of `layer` for this sample: (channel, *spatial), or (class,).
        layer: a module of the model or its qualified name; None means the model's output.
    """
    x = np.asarray(x)
    layer = model.layer(layer) if layer is not None else None
    captured = []
    inp = Tensor(x[None].astype(x.dtype if x.dtype.kind == "f" else np.float32), requires_grad=True)
    was_training = model.training
    model.eval()
    try:
        with observe(lambda m, out: captured.append(out) if m is layer else None):
            out = model(inp)
    finally:
        model.train(was_training)
    target = out if layer is None else captured[-1]
    index = (index,) if isinstance(index, int) else tuple(index)
    if len(index) != target.ndim - 1:
        raise ValueError(f"saliency: index {index} must address one unit of an output of shape {target.shape[1:]}")
    target[(0, *index)].backward()
    return inp.grad[0]
