"""PyTorch bridge: analyse any torch.nn.Module in convscope (torch.fx), and hand convscope models to
PyTorch to scale out. torch is imported only here, only when called (`pip install convscope[torch]`).

A traced torch graph becomes a GraphModel whose steps name what they run: a converted layer (one per
torch module, however often it is called), a registered op (matched by its declared torch names),
or a graph function (FUNCTIONS in graph.py: arithmetic, indexing and PyTorch's shape functions).
"""
from __future__ import annotations

import inspect
import operator
import sys

import numpy as np

from ..nn import registry
from ..nn.module import Module, Parameter
from ..ops import registry as op_registry
from ..tensor import apply
from ..nn.containers import GraphModel
from ..nn.graph import FUNCTIONS, OPS, Ref

__all__ = ["GraphModel", "from_torch", "to_torch", "analysis_model"]

# torch keyword arguments that change nothing convscope computes when they have this value
IGNORED = {"inplace": None, "return_indices": False, "divisor_override": None, "memory_format": None, "dtype": None}


def _one_input_ops() -> dict:
    """Registered ops with one tensor input, by each of their torch names: torch's positional
    arguments after the input are the op's attributes, in order."""
    def one_input(op) -> bool:
        kinds = [p.kind for p in inspect.signature(op.forward).parameters.values() if p.kind is not p.KEYWORD_ONLY]
        return kinds == [inspect.Parameter.POSITIONAL_OR_KEYWORD]
    return {name: op for op in op_registry.all_ops() if op.torch and one_input(op) for name in op.torch}


def _keep(key: str, value) -> bool:
    """Whether a torch keyword argument matters (inplace=True only saves memory in torch; private
    ones such as softmax's _stacklevel only steer torch's warnings)."""
    if key.startswith("_"):
        return False
    return key not in IGNORED or (key != "inplace" and value != IGNORED[key])


def _step(name: str, args: tuple, kwargs: dict, ops: dict):
    """(kind, target, args, kwargs) of the step computing torch's function or method `name`, or None.

    The graph function of that name wins (it takes torch's arguments; those that need a registered op
    only once it is registered); then a registered op declaring the torch name. In-place
    variants (`relu_`, `add_`) compute the same value here, so they map to their plain form.
    """
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]
    kwargs = {k: v for k, v in kwargs.items() if _keep(k, v)}
    if name in FUNCTIONS:
        needs = OPS.get(name)
        return ("function", name, args, kwargs) if needs is None or needs in {op.name for op in op_registry.all_ops()} else None
    op = ops.get(name)
    if op is not None:
        x, *rest = args
        attrs = {**dict(zip(op.attrs, rest)), **kwargs}
        if len(rest) > len(op.attrs) or any(k not in op.attrs for k in attrs):
            return None
        return "op", op.name, (x,), attrs
    return None


def _snake(name: str) -> str:
    return name.replace("_", "").lower()


class OpLayer(Module):
    """A torch module whose functional form is a registered op (nn.Hardswish is F.hardswish): the op
    with the module's attributes. Subclassed per torch class, so summaries show torch's name."""

    def __init__(self, op_name: str, **attrs):
        super().__init__()
        self.op_name, self.attrs = op_name, attrs

    def forward(self, x):
        return apply(op_registry.get(self.op_name), x, **self.attrs)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())


_OP_LAYERS: dict = {}


def _op_layer(m, ops: dict):
    """OpLayer for a parameterless torch module named like a one-input op (SiLU -> silu), or None."""
    if any(True for _ in m.parameters()) or any(_keep(k, getattr(m, k)) for k in IGNORED if hasattr(m, k)):
        return None  # weights need a registered layer; return_indices=True is not the op's output
    op = next((op for name, op in ops.items() if _snake(name) == _snake(type(m).__name__)), None)
    if op is None:
        return None
    cls = _OP_LAYERS.setdefault(type(m).__name__, type(type(m).__name__, (OpLayer,), {}))
    return cls(op.name, **{a: getattr(m, a) for a in op.attrs if hasattr(m, a)})


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


def supported() -> str:
    """What converts, in words (the end of the refusal message)."""
    return (f"layers {', '.join(registry.torch_names())} and modules named like a one-input op; functions and "
            f"methods {', '.join(sorted(_one_input_ops()))} (registered ops) and "
            f"{', '.join(sorted(FUNCTIONS))} (graph functions)")


def __getattr__(name: str):
    if name == "SUPPORTED":  # computed when read, so layers and ops registered later are in it
        return supported()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------ tracing

def _graph_module(module):
    """torch.fx's graph of `module`: torch's layers and the torch layers convscope has a layer for are
    leaves (traced as one call each); torchvision's stochastic_depth stays one call."""
    import torch.fx

    from . import torch_blocks as tb

    twins = {name.rsplit(".", 1)[-1] for name in registry.torch_names()}  # layers, not containers

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):  # to_torch's own layers and every registered twin are leaves too
            return isinstance(m, (tb.GlobalPool, tb.KMax)) or hasattr(m, "convscope_padding") or \
                type(m).__name__ in twins or super().is_leaf_module(m, qualname)

    wrapped = sys.modules.get("torchvision.ops.stochastic_depth")  # only when the model's package loaded it
    tracer = Tracer(autowrap_functions=(wrapped.stochastic_depth,) if wrapped else ())
    return torch.fx.GraphModule(module, tracer.trace(module))


def _plain(value):
    """fx's immutable containers as plain tuples, lists and dicts (a step's arguments are data)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _convert(graph_module, opaque=None) -> GraphModel:
    """The GraphModel of a traced module. A node nothing converts is refused (one line per kind, with
    its count), or, given `opaque(node, model) -> step`, replaced by the step it returns."""
    import torch.fx

    ops = _one_input_ops()
    model, layers, reasons = GraphModel(), {}, {}
    problems: dict = {}
    for node in graph_module.graph.nodes:
        args = _plain(torch.fx.node.map_arg(node.args, lambda n: Ref(n.name)))
        kwargs = _plain(torch.fx.node.map_arg(node.kwargs, lambda n: Ref(n.name)))
        step, what = None, None
        if node.op == "placeholder":
            step = ("input", None, (), {})
        elif node.op == "output":
            object.__setattr__(model, "output_ref", args[0])
            continue
        elif node.op == "call_module":
            if node.target not in layers:  # a module called again is the same layer: its weights stay tied
                sub = graph_module.get_submodule(node.target)
                try:
                    layers[node.target] = _module_of(sub) or _op_layer(sub, ops)
                except ValueError as err:  # a setting convscope refuses: listed, or unknown to the analysis
                    layers[node.target], reasons[node.target] = None, str(err).split(": ", 1)[-1]
                if layers[node.target] is not None:
                    model.place(node.target, layers[node.target])
            step = ("module", node.target, args, kwargs) if layers[node.target] is not None else None
            what = f"module {type(graph_module.get_submodule(node.target)).__name__}" + \
                (f" with {reasons[node.target]}" if node.target in reasons else "")
        elif node.op == "get_attr":
            if node.target not in layers:
                value = operator.attrgetter(node.target)(graph_module)  # a parameter or a buffer
                layers[node.target] = Parameter(value.detach().numpy().copy())
                model.place(node.target, layers[node.target])
            step = ("const", node.target, (), {})
        else:
            name = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
            step = _step(name, args, kwargs, ops)
            what = f"method .{name}()" if node.op == "call_method" else f"function {name}"
        if step is None and opaque is not None:
            step = opaque(node, model)
        if step is None:
            problems.setdefault(what, []).append(node.target if node.op == "call_module" else node.name)
            continue
        model.steps.append((node.name, *step))
    if problems:
        lines = [f"{what} x{len(places)} ({', '.join(places[:3])}{', ...' if len(places) > 3 else ''})"
                 for what, places in problems.items()]
        raise ValueError("from_torch: unsupported operations:\n  " + "\n  ".join(lines) + f"\nsupported: {supported()}")
    return model


def from_torch(module, input_shape=None) -> GraphModel:
    """A convscope model with the structure and weights of a torch.nn.Module, through torch.fx, so
    functional calls in a custom forward are kept. Parameters keep their PyTorch names; a module
    called several times is one layer; the forward returns what the torch module returns (a tensor,
    or tuples and dicts of them).

    `input_shape` (one sample, channels first), if given, is used to check that both give the same
    output shapes. Unsupported operations raise one ValueError, one line per kind with its count.
    """
    model = _convert(_graph_module(module))
    model.train(module.training)
    if input_shape is not None and not module.training:
        _check_shapes(module, model, input_shape)
    return model


def _check_shapes(module, model, input_shape) -> None:
    import torch

    from ..analysis import trace

    with torch.no_grad():
        ref = module(torch.zeros(1, *input_shape))
    want = [tuple(t.shape) for t in _tensors(ref)]
    graph = trace(model, input_shape)
    got = [graph.nodes[i].shape for i in graph.outputs]
    if got != want:
        raise ValueError(f"from_torch: output shapes {got} differ from PyTorch's {want}")


def _tensors(value) -> list:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return [value] if hasattr(value, "shape") else []


# ------------------------------------------------------------------------------ analysis of any module

def _opaque_op(name: str):
    """The registry's opaque op `torch.<name>` (registered on first use): known by shape only."""
    return op_registry.opaque_op(f"torch.{name}", _given_shape)


def _given_shape(*ins, out_shape=None):
    """Pass-through (the first input's shape) unless torch's shape propagation gave another one."""
    shape = ins[0].shape if out_shape is None else (ins[0].shape[0], *out_shape)
    return op_registry.Aval(tuple(shape), ins[0].dtype)


class OpaqueLayer(Module):
    """A torch layer convscope cannot run, kept for the analysis: its parameters (counted) and its
    output shape from torch's shape propagation. Subclassed per torch class, so summaries show its name."""

    def __init__(self, op_name: str, parameters: dict, attrs: dict):
        super().__init__()
        self.op_name, self.attrs = op_name, attrs
        for name, value in parameters.items():
            setattr(self, name.replace(".", "_"), Parameter(value))

    def forward(self, *xs):
        return apply(op_registry.get(self.op_name), *xs, **self.attrs)


def _propagate(graph_module, module, input_shape) -> None:
    """torch.fx's shape propagation on one zero sample in eval mode (modes put back); torch's error
    for an input the module cannot take becomes a ValueError naming the module and the shape."""
    import contextlib
    import io

    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    modes = [(m, m.training) for m in module.modules()]
    try:  # ShapeProp prints the traceback of a failing node before raising: keep it off the terminal
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(graph_module.eval()).propagate(torch.zeros(1, *input_shape))
    except Exception as err:  # noqa: BLE001 - any torch error here is the input's or the module's
        cause = err.__cause__ or err
        raise ValueError(f"{type(module).__name__}: PyTorch cannot run it on one sample of shape "
                         f"{'x'.join(map(str, input_shape))}: {type(cause).__name__}: {cause}") from None
    finally:
        for m, mode in modes:
            m.training = mode


def analysis_model(module, input_shape) -> GraphModel:
    """The model the analysis reads: from_torch's, except that an operation convscope cannot run is an
    opaque step (its shape from torch.fx's shape propagation, counted as nothing and flagged) instead
    of an error. Its forward cannot run those steps: it is for `trace` and `summary`."""
    import torch

    graph_module = _graph_module(module)
    nodes = {n.name: n for n in graph_module.graph.nodes}
    propagated, placed = [], {}

    def opaque(node, model):
        if not propagated:  # torch runs the module once, only when something is unknown
            _propagate(graph_module, module, input_shape)
            propagated.append(True)
        meta = node.meta.get("tensor_meta")
        ins = [a for a in node.args if isinstance(a, torch.fx.Node) and hasattr(a.meta.get("tensor_meta"), "shape")]
        if not hasattr(meta, "shape") or not ins:
            return None  # not one tensor out of tensors in: nothing the analysis can stand for
        refs = tuple(Ref(a.name) for a in ins)
        shape = tuple(meta.shape)
        attrs = {} if shape == tuple(nodes[ins[0].name].meta["tensor_meta"].shape) else {"out_shape": shape[1:]}
        if node.op != "call_module":
            name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
            return "op", _opaque_op(name).name, refs, attrs
        if node.target not in placed:
            sub = graph_module.get_submodule(node.target)
            kind = type(sub).__name__
            cls = type(kind, (OpaqueLayer,), {})
            params = {k: v.detach().numpy().copy() for k, v in sub.named_parameters()}
            placed[node.target] = cls(_opaque_op(kind).name, params, attrs)  # the shape of its first call
            model.place(node.target, placed[node.target])
        return "module", node.target, refs, {}

    model = _convert(graph_module, opaque)
    return model.eval()
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
