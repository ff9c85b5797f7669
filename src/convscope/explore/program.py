"""The model as a program the page can run itself (forward.js): for a small chain of layers it knows
(convolutions, max and average pooling, dense layers, element-wise activations, Flatten, Dropout
and Identity), the steps with their rules and float32 weights, and embedded test samples to switch
between. With it the page runs a drawn digit or another sample through the model and every view
follows; saliency stays convscope's, for the input the page was written with."""
from __future__ import annotations

import numpy as np

from .units import ACTIVATIONS, Store, capture, rule

MAX_MACS = 50_000_000     # the page runs models up to this many MACs per sample in JavaScript
PASS_THROUGH = {"Flatten", "Dropout", "Identity"}   # in eval mode, reshapes or the identity
SAMPLES_PER_CLASS = 2


def _step(name, m, inp, store) -> dict | None:
    kind = type(m).__name__
    if kind in PASS_THROUGH:
        return {"name": name, "op": "reshape"}
    if kind in ACTIVATIONS:
        return {"name": name, "op": "act", "kind": kind,
                **({"slope": float(m.negative_slope)} if kind == "LeakyReLU" else {})}
    r = rule(m, inp.shape)
    if r is None:
        return None
    step = {"name": name, **r}
    if r["op"] in ("conv", "linear"):
        step["weight"] = store.add(m.weight.data)
        step["bias"] = None if m.bias is None else store.add(m.bias.data)
    return step


def program(model, x, macs: int, store: Store) -> list | None:
    """The chain's steps with each step's output shape, or None when the page cannot run the model
    (too many MACs, a layer it does not know, a branch, or weights past the store's budget)."""
    if macs > MAX_MACS:
        return None
    ran = capture(model, x)
    steps, previous = [], np.asarray(x, np.float32)
    for name, m, inp, out in ran:
        if inp.shape != previous.shape or not np.array_equal(inp, previous):
            return None       # not a chain: a residual, a concat, an op between layers
        step = _step(name, m, inp, store)
        if step is None or store.left < 0:
            return None
        steps.append({**step, "shape": list(out.shape)})
        previous = out
    return steps or None


def samples(dataset: str, input_shape, per_class: int = SAMPLES_PER_CLASS) -> list:
    """The first `per_class` test samples of each class of a bundled data set, as exact arrays."""
    from .. import data
    from .pack import exact

    _, _, x_test, y_test = data.DATASETS[dataset]()
    if tuple(x_test.shape[1:]) != tuple(input_shape):
        return []
    chosen = []
    for label in np.unique(y_test):
        for index in np.flatnonzero(y_test == label)[:per_class]:
            chosen.append({"index": int(index), "label": int(label), "input": exact(x_test[index])})
    return chosen
