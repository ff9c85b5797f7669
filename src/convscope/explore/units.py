"""The exact numbers behind one unit, for the page's "arithmetic of a unit": each convolution,
pooling and dense layer's input, weights, bias, rule (stride, padding, dilation, groups) and output,
as float32, and the element-wise activation that follows it. The page recomputes the unit from
these and shows that its sum equals convscope's value."""
from __future__ import annotations

import numpy as np

from ..nn.conv import _ConvNd
from ..nn.layers import Linear
from ..nn.pooling import _PoolNd
from ..ops.geometry import resolve_padding
from .pack import exact

EXACT_BUDGET = 250_000  # float32 values a page may carry for the arithmetic (1 MB)
# element-wise activations the page applies itself (activations.js knows their formulas and derivatives),
# with the attributes each one's formula reads
ACTIVATIONS = {"ReLU": (), "LeakyReLU": ("negative_slope",), "ReLU6": (), "Sigmoid": (), "Tanh": (),
               "Hardtanh": ("min_val", "max_val"), "Hardswish": (), "Hardsigmoid": (), "SiLU": (),
               "GELU": ("approximate",), "Mish": (), "ELU": ("alpha",), "SELU": (), "CELU": ("alpha",)}


def activation(m) -> dict:
    """{"kind", and the attributes its formula reads} of an element-wise activation layer."""
    kind = type(m).__name__
    return {"kind": kind, **{a: getattr(m, a) for a in ACTIVATIONS[kind]}}


def capture(model, x) -> list:
    """[(name, module, input, output)] of every leaf module in the order they ran on one sample."""
    from ..tensor import Tensor

    ran = []
    leaves = [(n, m) for n, m in model.named_modules() if n and not m._modules]

    def wrap(name, m, forward):
        def run(*args):
            out = forward(*args)
            if len(args) == 1 and hasattr(args[0], "data"):
                ran.append((name, m, np.asarray(args[0].data)[0], np.asarray(out.data)[0]))
            return out
        return run

    was_training = model.training
    model.eval()
    for name, m in leaves:
        m.forward = wrap(name, m, m.forward)
    try:
        model(Tensor(x[None]))   # with gradients on: the execution plan (eval + no_grad) skips the layers
    finally:
        for _, m in leaves:
            del m.forward        # the instance attribute goes; the class's forward is back
        model.train(was_training)
    return ran


def rule(module, in_shape) -> dict | None:
    """How the layer computes one unit, or None for a layer the page cannot redo exactly."""
    if isinstance(module, Linear):
        return {"op": "linear"}
    size = tuple(in_shape[1:])
    if isinstance(module, _ConvNd):
        if module.transposed or module.padding_mode != "zeros":
            return None
        k, s, d = module.kernel_size, module.stride, module.dilation
        return {"op": "conv", "kernel": list(k), "stride": list(s), "dilation": list(d), "groups": module.groups,
                "pads": [list(p) for p in resolve_padding(module.padding, size, k, s, d, type(module).__name__)]}
    if isinstance(module, _PoolNd):
        if module.reduction == "avg" and (module.ceil_mode or module.divisor_override):
            return None
        k = module.kernel_size
        s = module.stride if module.stride is not None else k
        d = module.dilation
        return {"op": module.reduction, "kernel": list(k), "stride": list(s), "dilation": list(d),
                "pads": [list(p) for p in resolve_padding(module.padding, size, k, s, d, type(module).__name__)],
                "count_include_pad": bool(module.count_include_pad)}
    return None


class Store:
    """Arrays the page holds once each, by reference (a layer's input is usually the previous output)."""

    def __init__(self, budget: int):
        self.arrays, self.index, self.left = [], {}, budget

    def add(self, a) -> int:
        a = np.asarray(a, dtype=np.float32)
        key = (a.shape, a.tobytes())
        if key not in self.index:
            self.index[key] = len(self.arrays)
            self.arrays.append(exact(a))
            self.left -= a.size
        return self.index[key]

    def fits(self, *arrays) -> bool:
        return sum(np.size(a) for a in arrays if a is not None) <= self.left


def _after(ran, k) -> dict | None:
    """The element-wise activation run next on exactly this layer's output, if any."""
    if k + 1 >= len(ran):
        return None
    name, m, inp, out = ran[k + 1]
    kind = type(m).__name__
    if kind not in ACTIVATIONS or inp.shape != ran[k][3].shape or not np.array_equal(inp, ran[k][3]):
        return None
    return {"name": name, **activation(m), "output": out}


def unit_data(model, x, store: Store) -> dict:
    """{layer name: its rule and references to its arrays in `store`} for the layers that fit."""
    ran = capture(model, x)
    layers = {}
    for k, (name, m, inp, out) in enumerate(ran):
        r = rule(m, inp.shape)
        if r is None or name in layers:
            continue
        w = None if r["op"] in ("max", "avg") else np.asarray(m.weight.data)
        b = None if w is None or m.bias is None else np.asarray(m.bias.data)
        after = _after(ran, k)
        if not store.fits(inp, out, w, b, None if after is None else after["output"]):
            continue
        entry = {"rule": r, "input": store.add(inp), "output": store.add(out),
                 "weight": None if w is None else store.add(w), "bias": None if b is None else store.add(b)}
        if after is not None:
            entry["after"] = {**after, "output": store.add(after["output"])}
        layers[name] = entry
    return layers
