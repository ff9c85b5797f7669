"""The op registry: every primitive op is declared once, with everything convscope knows about it.

An `Op` carries its NumPy forward (which also returns the local backward, micrograd's template), its
shape rule (output shape and dtype from input shapes and attributes, without computing), its MACs
rule, its receptive-field rule, the bytes its backward keeps, and optionally its PyTorch, ATen (the
names a captured PyTorch graph holds it under) and ONNX names. `Tensor` applies ops through `apply`
(in tensor.py), the shape-only tracer is an interpreter that runs shape rules instead of forwards, and the analysis reads these properties, never op names.

Rule arguments are `(ins, out, attrs)`: the input `Aval`s (shape and dtype of every input, weights
included, in order), the output `Aval` and the op's keyword attributes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np


class Aval(NamedTuple):
    """An abstract value: what a shape rule knows of an array."""
    shape: tuple
    dtype: np.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


# ------------------------------------------------------------------------------ receptive-field kinds

ELEMENTWISE = "elementwise"  # each output cell sees the same cell of its inputs (after broadcasting)
GLOBAL = "global"  # each output sees the whole input (global pooling, linear, reductions over space)
RESHAPE = "reshape"  # positions are rearranged: the field is the whole input
OPAQUE = "opaque"  # known by shape only: not run, not counted, flagged by the analysis
KINDS = (ELEMENTWISE, GLOBAL, RESHAPE, OPAQUE)


@dataclass(frozen=True)
class Window:
    """A sliding window: `geometry(ins, out, attrs)` gives kernel, stride, dilation and pads per axis
    (a `geometry.WindowGeometry`). `transposed` windows map input cells to output windows
    (transposed convolution); `learned` windows have a kernel weight as their second input."""
    geometry: Callable
    transposed: bool = False
    learned: bool = False


@dataclass(frozen=True)
class AxisMap:
    """Positions moved, not mixed (a permute, a reshape or an index that leaves the spatial axes
    whole, a Linear over channels-last data): `moves(in_shape, out_shape, axes)` says where the
    input's spatial axes (negative indices, in the network input's order) are in the output, or
    None when the op mixes them (then the field is the whole input)."""
    moves: Callable


def keeps_axes(in_shape, out_shape, axes):
    """For ops that change only axes before the spatial ones (a reshape of the channels, an index
    of whole channels): the spatial axes stay where they are, counted from the end."""
    first = min(axes)
    return axes if tuple(in_shape[first:]) == tuple(out_shape[first:]) else None


# ------------------------------------------------------------------------------ rule helpers

def no_macs(ins, out, attrs) -> int:
    """For ops without multiply-accumulates (element-wise, pooling, shape ops)."""
    return 0


def keeps_nothing(ins, out, attrs) -> int:
    return 0


def keeps_input(ins, out, attrs) -> int:
    """The backward keeps the first input (products, convolutions, normalisation)."""
    return ins[0].nbytes


def keeps_output(width: int | None = None):
    """The backward keeps something the size of the output: its values, or `width` bytes an element
    (a mask, an index)."""
    def rule(ins, out, attrs) -> int:
        return out.size * (width or np.dtype(out.dtype).itemsize)
    return rule


def onnx_pads(pads) -> list:
    """ONNX's `pads` attribute from (lo, hi) pairs, one per axis: every low pad, then every high one."""
    return [lo for lo, _ in pads] + [hi for _, hi in pads]


def same_shape(*ins, **attrs) -> Aval:
    """Shape rule of element-wise ops: the broadcast of the inputs, in the first input's dtype."""
    return Aval(tuple(np.broadcast_shapes(*(a.shape for a in ins))), ins[0].dtype)


# ------------------------------------------------------------------------------ the declaration

@dataclass(frozen=True)
class Op:
    """One primitive op. `forward(*arrays, **attrs) -> (out, backward)` where `backward(g)` returns
    one gradient per input (None where there is none); ops with `grad_mask` get a second argument,
    the tuple of which inputs need a gradient, so expensive unused gradients are skipped."""
    name: str
    forward: Callable
    shape: Callable
    macs: Callable
    rf: object  # one of KINDS, a Window, or a function (ins, attrs) -> either
    saved: Callable = keeps_nothing
    torch: tuple = ()  # names in torch, torch.nn.functional and Tensor methods
    aten: tuple = ()  # ATen op names (overload packets: "conv2d" for aten.conv2d.default) in captured graphs
    from_aten: Callable | None = None  # (ATen arguments by name, ATen name) -> (inputs, attrs), or None: refused
    onnx: object = None  # an ONNX op type (str), or export(emitter, node) for anything richer
    activation: bool = False  # a non-linearity between layers (counted as depth)
    epilogue: str | None = None  # "relu" or "add": the engine applies it to an output chunk in cache
    grad_mask: bool = False
    attrs: tuple = field(default=(), compare=False)  # keyword attribute names, in order, from forward
    defaults: dict = field(default_factory=dict, compare=False)  # their default values

    def rf_kind(self, ins, attrs: dict):
        """The receptive-field rule for these input avals and attributes (a kind or a Window)."""
        return self.rf(ins, attrs) if callable(self.rf) and not isinstance(self.rf, Window) else self.rf

    def __repr__(self):
        return f"Op({self.name!r})"


_REGISTRY: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add an op; incomplete declarations are refused here, not found later as silent zeros."""
    if not op.name or not isinstance(op.name, str):
        raise ValueError(f"register: an op needs a name, got {op.name!r}")
    if op.name in _REGISTRY:
        raise ValueError(f"register: op {op.name!r} is already registered")
    for rule in ("forward", "shape", "macs", "saved"):
        if not callable(getattr(op, rule)):
            raise ValueError(f"register: op {op.name!r} needs a {rule} rule (a function), got {getattr(op, rule)!r}")
    if not (op.rf in KINDS or isinstance(op.rf, Window) or callable(op.rf)):
        raise ValueError(f"register: op {op.name!r} needs a receptive-field rule: one of {', '.join(KINDS)}, "
                         f"a Window, or a function of the inputs and attributes; got {op.rf!r}")
    params = [p for p in inspect.signature(op.forward).parameters.values() if p.kind is p.KEYWORD_ONLY]
    op = dataclasses.replace(op, attrs=tuple(p.name for p in params),
                             defaults={p.name: p.default for p in params if p.default is not p.empty})
    _REGISTRY[op.name] = op
    return op


def unregister(name: str) -> None:
    _REGISTRY.pop(name)


def get(name: str) -> Op:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"no op named {name!r} is registered; known ops: {', '.join(sorted(_REGISTRY))}") from None


def all_ops() -> list[Op]:
    return list(_REGISTRY.values())


def define(name: str, rf, macs=no_macs, shape=same_shape, **kw):
    """Decorator form of `register` for a forward function: `@define("relu", ELEMENTWISE, ...)`."""
    def wrap(forward) -> Op:
        return register(Op(name, forward, shape, macs, rf, **kw))
    return wrap


def opaque(name: str, shape: Callable | None = None, **kw) -> Op:
    """An op the analysis knows only by shape (pass-through unless `shape` is given): it cannot run,
    counts no MACs, and the summary flags it as not counted."""
    def forward(*arrays, **attrs):
        raise ValueError(f"{name}: this op is known by its shape only and cannot be run")
    return Op(name, forward, shape or same_shape, no_macs, OPAQUE, **kw)


def opaque_op(name: str, shape: Callable) -> Op:
    """The registered opaque op of this name, registered on first use (the bridges make one per
    foreign op type they cannot run: `torch.ReLU6`, `onnx.Sin`)."""
    try:
        return get(name)
    except ValueError:
        return register(opaque(name, shape))


# ------------------------------------------------------------------------------ interpreters

_interpreters: list = []


def current_interpreter():
    """The innermost active interpreter (e.g. the shape-only tracer), or None: ops then run eagerly."""
    return _interpreters[-1] if _interpreters else None


@contextlib.contextmanager
def interpreting(interpreter):
    """Within this block ops and module calls are handed to `interpreter.apply` / `.call_module`."""
    _interpreters.append(interpreter)
    try:
        yield interpreter
    finally:
        _interpreters.pop()
