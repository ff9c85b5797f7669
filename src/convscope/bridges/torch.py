"""PyTorch bridge: analyse any torch.nn.Module in convscope (torch.fx), and hand convscope models to
PyTorch to scale out. torch is imported only here, only when called (`pip install convscope[torch]`).
"""
from __future__ import annotations

import inspect
import operator

import numpy as np

from ..nn import functional as F
from ..nn import registry
from ..nn.module import Module, Parameter
from ..ops import registry as op_registry
from ..tensor import Tensor, apply, concat
from .graph import GraphModel, Ref, keepdims_pool

__all__ = ["GraphModel", "from_torch", "to_torch"]


def _functions():
    import torch
    import torch.nn.functional as tf

    def pool(kind):
        def run(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, **kw):
            if kind == "max":
                return F.max_pool(x, kernel_size, stride or None, padding, dilation, ceil_mode)
            return F.avg_pool(x, kernel_size, stride or None, padding, ceil_mode, kw.get("count_include_pad", True))
        return run

    add = lambda a, b, alpha=1: a + (b * alpha if alpha != 1 else b)  # noqa: E731
    table = {operator.add: add, operator.iadd: add, torch.add: add, operator.mul: lambda a, b: a * b,
             torch.mul: lambda a, b: a * b, operator.sub: lambda a, b: a - b, operator.truediv: lambda a, b: a / b,
             torch.cat: lambda ts, dim=0: concat(ts, axis=dim), torch.flatten: lambda x, start_dim=0, end_dim=-1: x.flatten(start_dim),
             tf.softmax: lambda x, dim=None, **kw: F.softmax(x, dim if dim is not None else -1),
             operator.getitem: lambda a, i: a[i], getattr: getattr}
    for op in _one_input_ops():  # registered ops that name their torch twin
        for name in op.torch:
            for where in (tf, torch):
                if hasattr(where, name):
                    table[getattr(where, name)] = _caller(op)
    for n in (1, 2, 3):
        for name in (f"max_pool{n}d", f"avg_pool{n}d"):
            kind = "max" if name.startswith("max") else "avg"
            for where in (tf, torch):
                if hasattr(where, name):
                    table[getattr(where, name)] = pool(kind)
    return table


def _one_input_ops() -> list:
    """Registered ops with torch names and one tensor input: torch's positional arguments after the
    input are the op's attributes, in order."""
    def one_input(op) -> bool:
        kinds = [p.kind for p in inspect.signature(op.forward).parameters.values() if p.kind is not p.KEYWORD_ONLY]
        return kinds == [inspect.Parameter.POSITIONAL_OR_KEYWORD]
    return [op for op in op_registry.all_ops() if op.torch and one_input(op)]


def _caller(op):
    def call(x, *args, inplace=False, **kw):
        return apply(op, x if isinstance(x, Tensor) else Tensor(x), **dict(zip(op.attrs, args)), **kw)
    return call


def _methods() -> dict:
    return {**{name: _caller(op) for op in _one_input_ops() for name in op.torch}, **METHODS}


METHODS = {"flatten": lambda x, start_dim=0, end_dim=-1: x.flatten(start_dim),
           "view": lambda x, *shape: x.reshape(*shape), "reshape": lambda x, *shape: x.reshape(*shape),
           "size": lambda x, dim=None: x.shape if dim is None else x.shape[dim], "contiguous": lambda x: x,
           "add": lambda a, b: a + b, "mul": lambda a, b: a * b,
           "mean": lambda x, dim=None, keepdim=False: x.mean(axis=dim, keepdims=keepdim),
           "amax": lambda x, dim=None, keepdim=False: x.max(axis=dim, keepdims=keepdim),
           "softmax": lambda x, dim=-1: F.softmax(x, dim)}


def _twin_class(twin, t, blocks):
    """The torch class a twin names: torch.nn.<Name>, torch_blocks.<Name> or a dotted path."""
    return twin.resolve(t, blocks)


def _module_of(m):
    """The convscope layer for a torch layer, with the same arguments and weights: the registered
    layer whose PyTorch twin is m's class (and whose fixed arguments m has)."""
    import torch.nn as t

    from . import torch_blocks as tb

    cls = type(m).__mro__[1] if hasattr(m, "convscope_padding") else type(m)  # to_torch's padded convolutions
    for decl in registry.torch_twins().get(cls.__name__, []):
        twin = decl.torch
        if _twin_class(twin, t, tb) is not cls or any(getattr(m, k) != v for k, v in twin.fixed.items()):
            continue
        refused = [f"{k}={getattr(m, k)!r} (only {v!r} is supported)" for k, v in twin.refuse.items()
                   if getattr(m, k, v) != v]
        if refused:
            raise ValueError(f"{cls.__name__}: " + ", ".join(refused))
        out = decl.cls(**{a: twin.read[a](m) if a in twin.read else getattr(m, a) for a in decl.args})
        out.load_state_dict({k: v.detach().cpu().numpy() for k, v in m.state_dict().items()
                             if not k.endswith("num_batches_tracked")})
        return out.train(m.training)
    return None


class _Adaptive(Module):
    def __init__(self, kind, output_size):
        super().__init__()
        self.kind, self.output_size = kind, output_size

    def forward(self, x):
        return keepdims_pool(self.kind)(x, self.output_size)


SUPPORTED = (", ".join(registry.torch_names()) + ", AdaptiveAvg/MaxPool to 1; functions "
             "+ - * /, softmax, cat, flatten, max/avg_pool, adaptive pools and every registered op with one "
             "input (relu, sigmoid, tanh, leaky_relu, exp, log, ...); methods view, reshape, flatten, size, mean, "
             "amax, contiguous and the same registered ops")


def from_torch(module, input_shape=None) -> GraphModel:
    """A convscope model with the structure and weights of a torch.nn.Module, through torch.fx, so
    functional calls in a custom forward are kept. Parameters keep their PyTorch names.

    `input_shape` (one sample, channels first), if given, is used to check that both give the same
    output shape. Unsupported ops raise one ValueError listing each of them.
    """
    import torch.fx

    from . import torch_blocks as tb

    twins = {name.rsplit(".", 1)[-1] for name in registry.torch_names()}  # layers, not containers

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):  # to_torch's own layers and every registered twin are leaves too
            return isinstance(m, (tb.GlobalPool, tb.KMax)) or hasattr(m, "convscope_padding") or \
                type(m).__name__ in twins or super().is_leaf_module(m, qualname)

    graph_module = torch.fx.GraphModule(module, Tracer().trace(module))
    functions, methods = _functions(), _methods()
    model = GraphModel()
    problems = []
    for node in graph_module.graph.nodes:
        args = torch.fx.node.map_arg(node.args, lambda n: Ref(n.name))
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: Ref(n.name))
        if node.op == "placeholder":
            model.steps.append((node.name, "input", None, (), {}))
        elif node.op == "output":
            object.__setattr__(model, "output_ref", args[0])
        elif node.op == "call_module":
            sub = graph_module.get_submodule(node.target)
            converted = _module_of(sub)
            if converted is None:
                problems.append(f"{node.name}: module {node.target} ({type(sub).__name__})")
                continue
            model.place(node.target, converted)
            model.steps.append((node.name, "module", converted, args, kwargs))
        elif node.op == "get_attr":
            value = operator.attrgetter(node.target)(graph_module)  # a parameter or a buffer
            model.place(node.target, Parameter(value.detach().numpy().copy()))
            model.steps.append((node.name, "const", model.get, (node.target,), {}))
        elif node.op == "call_function":
            if node.target not in functions:
                problems.append(f"{node.name}: function {getattr(node.target, '__name__', node.target)}")
                continue
            model.steps.append((node.name, "function", functions[node.target], args, kwargs))
        elif node.op == "call_method":
            if node.target not in methods:
                problems.append(f"{node.name}: method .{node.target}()")
                continue
            model.steps.append((node.name, "method", methods[node.target], args, kwargs))
    if problems:
        raise ValueError("from_torch: unsupported operations:\n  " + "\n  ".join(problems) + f"\nsupported: {SUPPORTED}")
    model.train(module.training)
    if input_shape is not None:
        import torch

        with torch.no_grad():
            ref = module.eval()(torch.zeros(1, *input_shape)) if not module.training else None
        if ref is not None:
            from ..analysis import trace

            got = trace(model, input_shape).output.shape
            if tuple(got) != tuple(ref.shape):
                raise ValueError(f"from_torch: output shape {tuple(got)} differs from PyTorch's {tuple(ref.shape)}")
    return model


# ------------------------------------------------------------------------------ to torch

def to_torch(model):
    """A torch.nn.Module computing what `model` computes (built-in layers and blocks), with its
    weights; train it with DistributedDataParallel, export it, run it on a GPU."""
    import torch

    out = _torch_of(model)
    state = {k: torch.tensor(np.ascontiguousarray(v)) for k, v in model.state_dict().items()}
    missing, unexpected = out.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"to_torch: weights do not line up: missing {missing}, unexpected {unexpected}")
    return out.train(model.training)


def _torch_of(m):
    """The torch module for a registered convscope layer: its twin built from the layer's arguments."""
    import torch.nn as t

    from . import torch_blocks as tb

    decl = registry.declaration(m)
    if decl is None:
        raise ValueError(f"to_torch: {type(m).__name__} is not a built-in convscope layer or block (custom modules "
                         f"need a hand-written PyTorch twin); config: {m.config()}")
    if decl.torch is None:
        raise ValueError(f"to_torch: {decl.name} declares no PyTorch twin (register(..., torch=TorchTwin(...)))")
    twin, args = decl.torch, registry.arguments(m)
    if twin.build is not None:
        return twin.build(m, args, _torch_of, t, tb)
    return _twin_class(twin, t, tb)(**args, **twin.fixed)
