"""The model as a program the page can run itself (forward.js) and differentiate (backward.js): for a
small model, its graph flattened into steps over named values (Sequential chains, Residual and Concat
blocks and converted graph models inlined; their adds and concatenations as steps), each step with
its rule and float32 weights, and embedded test samples to switch between.

`PAGE_LAYERS` is the one list of the layers the page computes: `program` returns None for a model
with any other (and for a setting of a listed layer the page does not redo, such as a transposed or
3-D convolution), and the browser tests draw every listed layer from the layer registry."""
from __future__ import annotations

import numpy as np

from ..nn.containers import INPUT, Container
from ..nn.graph import refs, resolve, target
from ..tensor import Tensor, no_grad
from .units import Store, activation, rule

MAX_MACS = 50_000_000     # the page runs models up to this many MACs per sample in JavaScript
SAMPLES_PER_CLASS = 2
MODEL_INPUT = ".input"    # the program's name for the model's input (no layer's name starts with a dot)


def _windowed(name, m, shape, store):
    r = rule(m, shape)
    if r is None or len(r.get("kernel", ())) > 2 or r["op"] == "linear" and len(shape) != 1:
        return None           # the page's windows are 1-D and 2-D, its dense layers read vectors
    if r["op"] in ("conv", "linear"):
        r["weight"] = store.add(m.weight.data)
        r["bias"] = None if m.bias is None else store.add(m.bias.data)
    return r


def _act(name, m, shape, store):
    return {"op": "act", **activation(m)}


def _prelu(name, m, shape, store):
    return {"op": "prelu", "weight": store.add(m.weight.data)}


def _batch_norm(name, m, shape, store):
    return {"op": "bn", "eps": float(m.eps), "mean": store.add(m.running_mean), "var": store.add(m.running_var),
            "weight": None if m.weight is None else store.add(m.weight.data),
            "bias": None if m.bias is None else store.add(m.bias.data)}


def _norm(block, per, m, store) -> dict:
    """Normalisation over consecutive blocks of `block` cells (each sample's statistics), then an
    affine per channel or per element of the block."""
    return {"op": "norm", "block": int(block), "per": per, "eps": float(m.eps),
            "weight": None if m.weight is None else store.add(m.weight.data),
            "bias": None if m.bias is None else store.add(m.bias.data)}


def _layer_norm(name, m, shape, store):
    return _norm(np.prod(m.normalized_shape), "element", m, store)


def _group_norm(name, m, shape, store):
    return _norm(np.prod(shape) // m.num_groups, "channel", m, store)


def _instance_norm(name, m, shape, store):
    return _norm(np.prod(shape[1:]), "channel", m, store)


def _global(name, m, shape, store):
    return {"op": "pool_all", "reduce": "avg" if type(m).__name__ == "GlobalAvgPool" else "max"} \
        if len(shape) in (2, 3) else None


def _adaptive(name, m, shape, store):
    return {"op": "adaptive", "reduce": m.reduction}


def _same(name, m, shape, store):
    return {"op": "reshape"}


def _flatten(name, m, shape, store):
    return {"op": "reshape"} if m.start_dim % (len(shape) + 1) >= 1 else None   # the batch axis stays


def _softmax(name, m, shape, store):
    return {"op": "softmax"} if len(shape) == 1 and m.dim % 2 == 1 else None    # over a vector's classes


# layer class -> how the page computes it: (name, module, per-sample input shape, store) -> the step's
# rule, or None for a setting the page does not redo
PAGE_LAYERS = {
    **{f"Conv{n}d": _windowed for n in (1, 2)}, **{f"{k}Pool{n}d": _windowed for k in ("Max", "Avg") for n in (1, 2)},
    "Linear": _windowed, "PReLU": _prelu, "BatchNorm1d": _batch_norm, "BatchNorm2d": _batch_norm,
    "LayerNorm": _layer_norm, "GroupNorm": _group_norm, "InstanceNorm1d": _instance_norm,
    "InstanceNorm2d": _instance_norm,
    **{k: _act for k in ("ReLU", "LeakyReLU", "ReLU6", "Sigmoid", "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid",
                         "SiLU", "GELU", "Mish", "ELU", "SELU", "CELU")},
    "GlobalAvgPool": _global, "GlobalMaxPool": _global,
    **{f"Adaptive{k}Pool{n}d": _adaptive for k in ("Avg", "Max") for n in (1, 2)},
    **{k: _same for k in ("Identity", "Dropout", "Dropout2d", "Dropout3d", "StochasticDepth")},
    "Flatten": _flatten, "Softmax": _softmax,
}
# graph functions (converted models, blocks) the page computes: adds, concatenations, reshapes
PAGE_FUNCTIONS = {"residual_add": "add", "add": "add", "iadd": "add", "concat_branches": "concat", "cat": "concat",
                  "concat": "concat", "flatten": "reshape", "reshape": "reshape", "view": "reshape",
                  "contiguous": "reshape", "clone": "reshape"}


class _Discard:
    """A store that keeps nothing: `flow` needs the steps' names and edges, not their weights."""
    left = 0

    def add(self, a):
        return None


class _Unsupported(Exception):
    """A step the page cannot compute: the model keeps the page's one input."""


def _inlined(m) -> bool:
    return isinstance(m, Container) and getattr(type(m).forward, "runs_graph", False)


class _Walk:
    """Runs the model's graph step by step (eval, no gradients) and writes the page's steps."""

    def __init__(self, store: Store, strict: bool = True):
        self.store, self.steps, self.values, self.strict = store, [], {}, strict

    def emit(self, name, step, inputs, out):
        if name in self.values and self.strict:
            raise _Unsupported(f"{name} runs twice")
        self.values[name] = out
        self.steps.append({"name": name, **(step or {"op": None}), "inputs": inputs, "shape": list(out.shape[1:])})
        return (name, out)

    def leaf(self, name, m, value):
        build = PAGE_LAYERS.get(type(m).__name__)
        vname, x = value
        step = build(name, m, tuple(x.shape[1:]), self.store) if build else None
        if step is None and self.strict:
            raise _Unsupported(name)
        return self.emit(name, step, [vname], m(x))

    def function(self, name, path, args, kwargs, env):
        """A graph function: an add, a concatenation or a reshape of tensors; arithmetic on sizes is
        run and kept for the steps that read it."""
        values = [env[r] for r in refs((args, kwargs))]
        tensors = [v for v in values if v[0] is not None]
        raw = {k: v[1] for k, v in env.items()}
        out = target(None, "function", path)(*resolve(args, raw), **resolve(kwargs, raw))
        op = PAGE_FUNCTIONS.get(path)
        if not isinstance(out, Tensor):
            if tensors and op is None and path not in ("size", "getitem", "getattr"):
                raise _Unsupported(path)
            return (None, out)         # sizes (x.size(0) of a converted graph): not a step of the page
        if (op is None or not self._fits(op, tensors, out, kwargs)) and self.strict:
            raise _Unsupported(path)
        return self.emit(name, {"op": op}, [n for n, _ in tensors], out)

    @staticmethod
    def _fits(op, tensors, out, kwargs) -> bool:
        shapes = [tuple(v.shape) for _, v in tensors]
        if op == "add":
            return len(tensors) == 2 and shapes[0] == shapes[1] == tuple(out.shape) and kwargs.get("alpha", 1) == 1
        if op == "concat":   # along the channels, every other axis equal
            return len({s[:1] + s[2:] for s in shapes}) == 1 and out.shape[1] == sum(s[1] for s in shapes) \
                and len(out.shape) == len(shapes[0])
        return len(tensors) == 1 and out.shape[0] == 1 and out.size == tensors[0][1].size

    def block(self, model, prefix, inputs):
        """Inline a container's graph: its input values are `inputs` ((name, tensor) pairs); returns
        its output value. The step giving a block's output is named as the block (a Residual's add is
        its path, as the model's forward reports it)."""
        steps, output = model.graph()
        names = refs(output)
        if len(names) != 1:
            raise _Unsupported("output")
        env, feed = {}, iter(inputs)
        for name, kind, path, args, kwargs in steps:
            if kind == "input":
                env[name] = next(feed)
            elif kind == "module":
                m = model.get(path)
                values = [env[r] for r in refs((args, kwargs))]
                if len(values) != 1 or values[0][0] is None:
                    raise _Unsupported(path)
                env[name] = self.block(m, f"{prefix}{path}.", values) if _inlined(m) \
                    else self.leaf(f"{prefix}{path}", m, values[0])
            elif kind == "function":
                full = prefix[:-1] if prefix and name == names[0] else f"{prefix}{name}"
                env[name] = self.function(full, path, args, kwargs, env)
            else:
                raise _Unsupported(f"{kind} {path}")
        return env[names[0]]


def walk(model, x, store: Store, strict: bool = True) -> list | None:
    """The model's steps for the page (each with its inputs' names and its output shape), or None
    when it has a step the page does not compute (`strict=False`: such steps have op None, and only
    a step that is not a layer, function or block gives None). The last step is the model's output."""
    walker = _Walk(store, strict)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            root = model if _inlined(model) else None
            inp = (MODEL_INPUT, Tensor(np.asarray(x, np.float32)[None]))
            out = walker.block(root, "", [inp]) if root is not None else walker.leaf("", model, inp)
    except _Unsupported:
        return None
    finally:
        model.train(was_training)
    if not walker.steps or out[0] != walker.steps[-1]["name"]:
        return None
    return walker.steps


def program(model, x, macs: int, store: Store) -> list | None:
    """The steps the page runs, or None when it cannot run the model (too many MACs, a step it does
    not compute, or weights past the store's budget)."""
    if macs > MAX_MACS:
        return None
    steps = walk(model, x, store)
    return steps if steps and store.left >= 0 else None


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


def flow(model, x) -> list:
    """[{name, op, inputs}] of every step of the model, computed or not: the overview draws the
    edges joining branches from it (for any model that runs, however large)."""
    steps = walk(model, x, _Discard(), strict=False) or []
    return [{"name": s["name"], "op": s["op"], "inputs": s["inputs"]} for s in steps]
