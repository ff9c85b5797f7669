"""Trace a model shape-only: run its forward on placeholder arrays and record every op.

Any model works, not only Sequential/Residual/Concat: functional calls, `+`, concatenations and
reshapes written in a custom `forward` are all ops of the Tensor and are recorded, each with the
stack of modules that was running. Heavy ops (convolution, pooling, matmul) compute only their
output shape, so tracing is instant even for big networks.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from ..tensor import Tensor, meta, no_grad, set_tracer


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

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


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
    def __init__(self):
        self.nodes: list[Node] = []
        self.index: dict[int, int] = {}  # id(tensor) -> node index
        self.alive: list[Tensor] = []  # keeps traced tensors alive so their ids stay unique
        self.stack: list = []

    def add(self, data: np.ndarray, parents, op: str, attrs: dict) -> Tensor:
        out = Tensor(meta(data.shape, data.dtype))
        idx = tuple(self.index[id(p)] for p in parents if id(p) in self.index)
        consts = tuple(p.data for p in parents if id(p) not in self.index)
        node = Node(len(self.nodes), op, idx, tuple(data.shape), data.dtype, attrs, tuple(self.stack), consts)
        self.nodes.append(node)
        self.index[id(out)] = node.index
        self.alive.append(out)
        return out

    record = add

    def call(self, module, args):
        self.stack.append(module)
        try:
            return module.forward(*args)
        finally:
            self.stack.pop()


@contextlib.contextmanager
def _tracing(tracer: Tracer):
    set_tracer(tracer)
    try:
        with no_grad():
            yield
    finally:
        set_tracer(None)


def trace(model, input_shape, batch_size: int = 1, dtype="float32") -> Graph:
    """Record the ops of one forward pass of `model` on a (batch_size, *input_shape) input.

    The model runs in eval mode (no running statistics change) and is put back as it was.
    """
    input_shape = tuple(int(s) for s in input_shape)
    tracer = Tracer()
    x = tracer.add(meta((batch_size, *input_shape), np.dtype(dtype)), (), "input", {})
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with _tracing(tracer):
            out = model(x)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    names = {}
    for name, m in model.named_modules():
        names.setdefault(id(m), name or type(model).__name__)
    return Graph(model, tracer.nodes, [tracer.index[id(o)] for o in outs], names)
