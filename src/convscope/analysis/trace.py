"""Trace a model shape-only: an interpreter that runs every op's shape rule instead of its forward.

Any model works, not only Sequential/Residual/Concat: functional calls, `+`, concatenations and
reshapes written in a custom `forward` are all registered ops applied to Tensors, and each is
recorded with the stack of modules that was running. No op computes, so tracing is instant even
for big networks, and parameters may be shape-only themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ops import registry
from ..ops.registry import Aval
from ..tensor import Tensor, meta, no_grad


@dataclass
class Node:
    index: int
    op: str  # "input", "conv", "add", ...
    parents: tuple  # indices of the traced nodes it reads (parameters and constants are not nodes)
    shape: tuple
    dtype: np.dtype
    attrs: dict = field(default_factory=dict)
    modules: tuple = ()  # the module calls running when it was made, outermost first
    consts: tuple = ()  # values of the inputs that are not traced nodes (weights, constants), in order
    args: tuple = ()  # per input, in order: its node index, or None for the next of `consts`
    in_avals: tuple = ()  # shape and dtype of every input, in order
    call: int = 0  # which module call made it (numbered in order; a module called twice has two)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def out_aval(self) -> Aval:
        return Aval(self.shape, self.dtype)

    @property
    def opdef(self):
        """The registered op (None for the graph's input)."""
        return None if self.op == "input" else registry.get(self.op)

    @property
    def rf(self):
        """The op's receptive-field rule for this node: a kind or a `Window`."""
        return self.opdef.rf_kind(self.in_avals, self.attrs)

    @property
    def geometry(self):
        """Kernel, stride, dilation and pads of a window op, from its input shapes and attributes."""
        return self.rf.geometry(self.in_avals, self.out_aval, self.attrs)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one sample through this node (the op's MACs rule)."""
        return 0 if self.op == "input" else int(self.opdef.macs(self.in_avals, self.out_aval, self.attrs))

    @property
    def saved_bytes(self) -> int:
        """Bytes the op's backward keeps (its rule, for this node's shapes)."""
        return 0 if self.op == "input" else int(self.opdef.saved(self.in_avals, self.out_aval, self.attrs))


@dataclass
class Graph:
    model: object
    nodes: list
    outputs: list  # node indices of the model's outputs
    names: dict  # id(module) -> qualified name

    @property
    def input(self) -> Node:
        return self.nodes[0]

    @property
    def output(self) -> Node:
        return self.nodes[self.outputs[0]]

    def module_output(self, module) -> Node:
        """The last node made inside a call of `module`."""
        made = [n for n in self.nodes if any(m is module for m in n.modules)]
        if not made:
            raise ValueError(f"module {self.names.get(id(module), type(module).__name__)} made no op in the trace")
        return made[-1]


class Tracer:
    """The shape interpreter: `apply` runs an op's shape rule and records a Node."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.index: dict[int, int] = {}  # id(tensor) -> node index
        self.alive: list[Tensor] = []  # keeps traced tensors alive so their ids stay unique
        self.stack: list = []
        self.calls: list = [0]  # numbers of the module calls running, innermost last
        self.count = 0

    def add(self, aval: Aval, inputs, op: str, attrs: dict) -> Tensor:
        out = Tensor(meta(aval.shape, aval.dtype))
        args = tuple(self.index.get(id(t)) for t in inputs)
        consts = tuple(t.data for t, a in zip(inputs, args) if a is None)
        in_avals = tuple(Aval(tuple(t.shape), t.dtype) for t in inputs)
        node = Node(len(self.nodes), op, tuple(a for a in args if a is not None), tuple(aval.shape),
                    np.dtype(aval.dtype), attrs, tuple(self.stack), consts, args, in_avals, self.calls[-1])
        self.nodes.append(node)
        self.index[id(out)] = node.index
        self.alive.append(out)
        return out

    def apply(self, op, inputs, attrs) -> Tensor:
        attrs = {**op.defaults, **attrs}
        aval = op.shape(*(Aval(tuple(t.shape), t.dtype) for t in inputs), **attrs)
        return self.add(aval, inputs, op.name, attrs)

    def call_module(self, module, args):
        self.stack.append(module)
        self.count += 1
        self.calls.append(self.count)
        try:
            return module.forward(*args)
        finally:
            self.stack.pop()
            self.calls.pop()


def trace(model, input_shape, batch_size: int = 1, dtype="float32") -> Graph:
    """Record the ops of one forward pass of `model` on a (batch_size, *input_shape) input.

    The model runs in eval mode (no running statistics change) and is put back as it was.
    """
    input_shape = tuple(int(s) for s in input_shape)
    tracer = Tracer()
    x = tracer.add(Aval((batch_size, *input_shape), np.dtype(dtype)), (), "input", {})
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with registry.interpreting(tracer), no_grad():
            out = model(x)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    outs = _leaves(out)
    names = {}
    for name, m in model.named_modules():
        names.setdefault(id(m), getattr(m, "display_name", None) or name or type(model).__name__)  # ONNX node names
    return Graph(model, tracer.nodes, [tracer.index[id(o)] for o in outs if id(o) in tracer.index], names)


def _leaves(out) -> list:
    """The tensors of a model's output, in order: one tensor, or nested tuples, lists and dicts
    (segmentation models return {"out": ..., "aux": ...})."""
    if isinstance(out, dict):
        return [t for v in out.values() for t in _leaves(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _leaves(v)]
    return [out] if isinstance(out, Tensor) else []
