"""PyTorch bridge: analyse any torch.nn.Module in convscope (torch.fx), and hand convscope models to
PyTorch to scale out. torch is imported only here, only when called (`pip install convscope[torch]`).
"""
from __future__ import annotations

import inspect
import operator
from collections import OrderedDict

import numpy as np

from .. import nn
from ..nn import functional as F
from ..nn.module import Module, Parameter
from ..ops import registry
from ..tensor import Tensor, apply, concat


class _Ref:
    """A reference to the value of an earlier graph node."""

    def __init__(self, name: str):
        self.name = name


class GraphModel(Module):
    """A model converted from a graph (torch.fx or ONNX): submodules keep their original names, and
    forward replays the graph's steps with convscope layers and functions."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "steps", [])
        object.__setattr__(self, "output_ref", None)

    def place(self, path: str, module: Module) -> None:
        """Attach `module` at a dotted path, making plain container modules on the way."""
        *parents, last = path.split(".")
        owner = self
        for name in parents:
            if name not in owner._modules:
                setattr(owner, name, Module())
            owner = owner._modules[name]
        setattr(owner, last, module)

    def get(self, path: str):
        owner = self
        for name in path.split("."):
            owner = owner._modules[name] if name in owner._modules else owner._parameters[name]
        return owner

    def forward(self, *inputs):
        env = {}
        fetch = lambda v: env[v.name] if isinstance(v, _Ref) else (  # noqa: E731
            type(v)(fetch(a) for a in v) if isinstance(v, (list, tuple)) else v)
        feed = iter(inputs)
        for name, kind, fn, args, kwargs in self.steps:
            if kind == "input":
                env[name] = next(feed)
            else:
                env[name] = fn(*(fetch(a) for a in args), **{k: fetch(v) for k, v in kwargs.items()})
        return fetch(self.output_ref)


def _keepdims_pool(kind):
    def pool(x, output_size=1):
        size = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * (x.ndim - 2)
        if all(s == 1 for s in size):
            y = F.global_avg_pool(x) if kind == "avg" else F.global_max_pool(x)
            return y.reshape(*y.shape, *([1] * (x.ndim - 2)))
        if tuple(size) == tuple(x.shape[2:]):
            return x
        raise ValueError(f"adaptive_{kind}_pool to {tuple(size)} from {tuple(x.shape[2:])}: only output 1 "
                         "(global pooling) or the input size is supported")
    return pool


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
             tf.adaptive_avg_pool2d: _keepdims_pool("avg"), tf.adaptive_max_pool2d: _keepdims_pool("max"),
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
    return [op for op in registry.all_ops() if op.torch and one_input(op)]


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


def _module_of(m):
    """The convscope layer for a torch layer, with the same arguments and weights."""
    import torch.nn as t

    from . import torch_blocks as tb

    name = type(m).__name__
    if isinstance(m, tb.GlobalPool):
        return nn.GlobalAvgPool() if m.kind == "avg" else nn.GlobalMaxPool()
    if isinstance(m, tb.KMax):
        return nn.KMaxPool(m.k, m.axis)
    padding = getattr(m, "convscope_padding", None)  # to_torch's padded convolutions
    if padding is not None:
        name = type(m).__mro__[1].__name__
    arr = lambda p: p.detach().cpu().numpy().copy()  # noqa: E731
    if isinstance(m, (t.Conv1d, t.Conv2d, t.Conv3d, t.ConvTranspose1d, t.ConvTranspose2d, t.ConvTranspose3d)):
        if m.padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode {m.padding_mode!r} (only zero padding is supported)")
        cls = getattr(nn, name)
        kw = dict(stride=m.stride, padding=m.padding if padding is None else padding, dilation=m.dilation,
                  groups=m.groups, bias=m.bias is not None)
        if "Transpose" in name:
            kw["output_padding"] = m.output_padding
        out = cls(m.in_channels, m.out_channels, m.kernel_size, **kw)
    elif isinstance(m, (t.MaxPool1d, t.MaxPool2d, t.MaxPool3d)):
        if m.return_indices:
            raise ValueError(f"{name}: return_indices=True is not supported")
        out = getattr(nn, name)(m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
    elif isinstance(m, (t.AvgPool1d, t.AvgPool2d, t.AvgPool3d)):
        out = getattr(nn, name)(m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad)
    elif isinstance(m, t.Linear):
        out = nn.Linear(m.in_features, m.out_features, m.bias is not None)
    elif isinstance(m, (t.BatchNorm1d, t.BatchNorm2d)):
        out = getattr(nn, name)(m.num_features, m.eps, m.momentum if m.momentum is not None else 0.1, m.affine)
        out.running_mean[...] = arr(m.running_mean)
        out.running_var[...] = arr(m.running_var)
    elif isinstance(m, t.LeakyReLU):
        out = nn.LeakyReLU(m.negative_slope)
    elif isinstance(m, t.Softmax):
        out = nn.Softmax(m.dim if m.dim is not None else -1)
    elif isinstance(m, t.Flatten):
        out = nn.Flatten(m.start_dim)
    elif isinstance(m, t.Dropout):
        out = nn.Dropout(m.p)
    elif isinstance(m, (t.ReLU, t.Tanh, t.Sigmoid, t.Identity)):
        out = getattr(nn, name)()
    elif isinstance(m, (t.AdaptiveAvgPool2d, t.AdaptiveMaxPool2d, t.AdaptiveAvgPool1d)):
        return _Adaptive("avg" if "Avg" in name else "max", m.output_size)
    else:
        return None
    for pname, p in m.named_parameters(recurse=False):
        getattr(out, pname).data = arr(p).astype(np.float32)
    out.train(m.training)
    return out


class _Adaptive(Module):
    def __init__(self, kind, output_size):
        super().__init__()
        self.kind, self.output_size = kind, output_size

    def forward(self, x):
        return _keepdims_pool(self.kind)(x, self.output_size)


SUPPORTED = ("Conv1d/2d/3d, ConvTranspose1d/2d/3d, MaxPool*, AvgPool*, AdaptiveAvg/MaxPool to 1, Linear, "
             "BatchNorm1d/2d, ReLU, LeakyReLU, Tanh, Sigmoid, Softmax, Flatten, Dropout, Identity; functions "
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

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):  # to_torch's own layers are leaves too
            return isinstance(m, (tb.GlobalPool, tb.KMax)) or hasattr(m, "convscope_padding") or \
                super().is_leaf_module(m, qualname)

    graph_module = torch.fx.GraphModule(module, Tracer().trace(module))
    functions, methods = _functions(), _methods()
    model = GraphModel()
    problems = []
    for node in graph_module.graph.nodes:
        args = torch.fx.node.map_arg(node.args, lambda n: _Ref(n.name))
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: _Ref(n.name))
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
    import torch.nn as t

    from . import torch_blocks as tb

    name = type(m).__name__
    cfg = m.config()
    if isinstance(m, nn.Sequential):
        return t.Sequential(OrderedDict((k, _torch_of(c)) for k, c in m._modules.items()))
    if isinstance(m, nn.Residual):
        return tb.Residual(_torch_of(m.body), None if m.shortcut is None else _torch_of(m.shortcut))
    if isinstance(m, nn.Concat):
        return tb.Concat([_torch_of(c) for c in m._modules.values()], m.dim)
    if name.startswith(("Conv", "ConvTranspose")):
        kw = dict(stride=m.stride, dilation=m.dilation, groups=m.groups, bias=m.bias is not None)
        if m.transposed:
            if any(isinstance(p, tuple) for p in m.padding):
                raise ValueError(f"to_torch: {name} with (lo, hi) padding has no PyTorch equivalent")
            return getattr(t, name)(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding,
                                    output_padding=m.output_padding, **kw)
        if isinstance(m.padding, tuple) and all(isinstance(p, int) for p in m.padding):
            return getattr(t, name)(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, **kw)
        return tb.padded_conv(getattr(t, name), m.padding)(m.in_channels, m.out_channels, m.kernel_size, **kw)
    simple = {"MaxPool": lambda: getattr(t, name)(m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode),
              "AvgPool": lambda: getattr(t, name)(m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad),
              "Linear": lambda: t.Linear(m.in_features, m.out_features, m.bias is not None),
              "BatchNorm": lambda: getattr(t, name)(m.num_features, m.eps, m.momentum, m.affine),
              "GlobalAvgPool": lambda: tb.GlobalPool("avg"), "GlobalMaxPool": lambda: tb.GlobalPool("max"),
              "KMaxPool": lambda: tb.KMax(m.k, m.axis), "LeakyReLU": lambda: t.LeakyReLU(m.negative_slope),
              "Softmax": lambda: t.Softmax(m.dim), "Flatten": lambda: t.Flatten(m.start_dim),
              "Dropout": lambda: t.Dropout(m.p)}
    for prefix, build in simple.items():
        if name.startswith(prefix):
            return build()
    if name in ("ReLU", "Tanh", "Sigmoid", "Identity"):
        return getattr(t, name)()
    raise ValueError(f"to_torch: {name} is not a built-in convscope layer or block (custom modules need a "
                     f"hand-written PyTorch twin); config: {cfg}")
