"""Containers: chains (Sequential), branches (Residual, Concat), declared in the layer registry so
that model files and the PyTorch bridge handle them like any layer, and converted graphs
(GraphModel). Each describes itself once, as a graph (`graph()`: steps of `nn.graph`), which the
one interpreter replays, or, in eval mode under no_grad, the execution plan runs with every nested
container's graph inlined (so a convolution in a Residual's body joins the Residual's add)."""
from __future__ import annotations

from collections import OrderedDict

from ..messages import excerpt
from . import plan
from .graph import Ref, interpret
from .module import Module
from .registry import TorchTwin, axis, bind, module, optional, register


def _sequential_to_torch(layer, args, convert, t, blocks):
    return t.Sequential(OrderedDict((k, convert(c)) for k, c in layer._modules.items()))


def _residual_to_torch(layer, args, convert, t, blocks):
    return blocks.Residual(convert(layer.body), None if layer.shortcut is None else convert(layer.shortcut))


def _concat_to_torch(layer, args, convert, t, blocks):
    return blocks.Concat([convert(c) for c in layer._modules.values()], layer.dim)


INPUT = ".input"  # the name of a container's input value: no layer's name has a dot


class Container(Module):
    """A module whose forward is its graph: interpreted step by step, or run from the plan."""

    def graph(self):
        """(steps, output): how the forward computes, as steps of `nn.graph` over named values."""
        raise NotImplementedError

    def forward(self, *inputs):
        if plan.applies(self):  # eval + no_grad: the execution plan (convscope.nn.plan)
            return plan.run(self, inputs)
        return interpret(self, *self.graph(), inputs)
    forward.runs_graph = True  # the plan may inline the graph in an enclosing one (a subclass's forward may not)


def _module(name, *args):
    return (name, "module", name, tuple(Ref(a) for a in args), {})


@register(dict(layers=module()), torch=TorchTwin("Sequential", build=_sequential_to_torch))
class Sequential(Container):
    """Layers applied in order, PyTorch's `Sequential`.

    Args:
        *layers: the layers, named "0", "1", ...; or one OrderedDict of named layers.

    Shape:
        input: the first layer's; output: the last layer's.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            items = list(layers[0].items())
        else:
            items = [(str(i), layer) for i, layer in enumerate(layers)]
        for name, layer in items:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {excerpt(name)} is a {type(layer).__name__}, not a Module")
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"Sequential: layer name {excerpt(name)} must be a non-empty name without '.' "
                                 "(dots join the names of a path, as in PyTorch)")
            setattr(self, name, layer)

    def graph(self):
        """Each layer takes the value of the one before."""
        names = list(self._modules)
        steps = [(INPUT, "input", None, (), {})] + [_module(name, prev) for prev, name in zip([INPUT, *names], names)]
        return steps, Ref(names[-1] if names else INPUT)

    def __getitem__(self, index):
        layers = list(self._modules.values())
        return Sequential(*layers[index]) if isinstance(index, slice) else layers[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


@register(dict(body=module(), shortcut=optional(module())),
          torch=TorchTwin("blocks.Residual", build=_residual_to_torch))
class Residual(Container):
    """y = body(x) + shortcut(x), the identity being the default shortcut (He et al. 2016).

    Args:
        body: the residual branch (a layer or a Sequential).
        shortcut: the skip branch (default None: the identity), e.g. a 1x1 Conv with the body's
            stride when the body changes the shape.

    Shape:
        output: the body's, which must equal the shortcut's.
    """

    def __init__(self, body, shortcut=None):
        super().__init__()
        bind(self, locals())
        self.body = body
        self.shortcut = shortcut

    def graph(self):
        """body(x) + shortcut(x): two branches from the input, added by `residual_add` (same shapes only)."""
        steps = [(INPUT, "input", None, (), {}), _module("body", INPUT)]
        if self.shortcut is not None:
            steps.append(_module("shortcut", INPUT))
        add = (".sum", "function", "residual_add", (Ref("body"), Ref("shortcut" if self.shortcut else INPUT)), {})
        return steps + [add], Ref(".sum")


@register(dict(branches=module(), dim=axis()), torch=TorchTwin("blocks.Concat", build=_concat_to_torch))
class Concat(Container):
    """Branches applied to the same input, their outputs joined along `dim` (Inception, U-Net skips).

    Args:
        *branches: the layers (or Sequentials) applied to the input, named "0", "1", ...
        dim: the axis the outputs are joined along (default 1: channels).

    Shape:
        outputs must agree on every axis but dim; output dim is the sum of theirs.
    """

    def __init__(self, *branches, dim=1):
        super().__init__()
        bind(self, locals())
        if not branches:
            raise ValueError("Concat: give at least one branch")
        for i, branch in enumerate(branches):
            setattr(self, str(i), branch)

    def graph(self):
        """Each branch from the input, joined along dim by `concat_branches` (same shapes elsewhere)."""
        names = list(self._modules)
        join = (".joined", "function", "concat_branches", ([Ref(n) for n in names], self.dim), {})
        return [(INPUT, "input", None, (), {})] + [_module(n, INPUT) for n in names] + [join], Ref(".joined")

    def extra_repr(self):
        return f"dim={self.dim}" if self.dim != 1 else ""


class GraphModel(Container):
    """A model converted from a graph (torch.fx or ONNX): submodules keep their original names, and
    forward replays the graph's steps (their kinds: `convscope.nn.graph`).

    steps: (name, kind, target, args, kwargs) in order.
    output_ref: a Ref, or tuples, lists and dicts of them (the structure the forward returns).
    """

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

    def graph(self):
        return self.steps, self.output_ref
