"""How each ONNX op becomes convscope: one rule per op type that is not a registered layer.

A rule reads a `NodeView` (attributes, constant inputs, static shapes) and returns a `Conversion`:
a function of the values of some of the node's inputs (`used`), built from registered ops. Layers
(Conv, Gemm, BatchNormalization, ...) are not here: the layer registry's `OnnxImport`s build them.
More rules are in onnx_rules_extended, which the importer loads with this module.
An op type without a rule, whose ONNX twin is a registered op (`Op.onnx`), applies that op.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..nn import functional as F
from ..ops import registry as op_registry
from ..ops.geometry import pool_geometry, resolve_padding
from ..tensor import apply, concat
from ..nn.graph import keepdims_pool
from .onnx_fold import _slice


@dataclass
class Conversion:
    fn: Callable  # called with the values of the `used` inputs, in order
    used: tuple = (0,)  # indices of the node inputs fn takes (constants among them are passed too)
    outputs: int = 1  # fn returns a tuple when the node has several outputs


class NodeView:
    """What a rule (or a layer's ONNX import rule, `nn.registry.OnnxImport`) sees of one node."""

    def __init__(self, op, name, inputs, outputs, attrs, file, where):
        self.op, self.name, self.inputs, self.outputs, self.attrs = op, name, inputs, outputs, attrs
        self.file, self.where, self.opset = file, where, file.opset
        x_shape = file.shapes.get(inputs[0]) if inputs and inputs[0] else None
        self.rank = len(x_shape) if x_shape else None
        self.spatial = tuple(x_shape[2:]) if x_shape and len(x_shape) > 2 and None not in x_shape[2:] else None
        auto = attrs.get("auto_pad", b"NOTSET")
        self.auto_pad = auto.decode() if isinstance(auto, bytes) else auto

    @property
    def init(self) -> dict:
        return self.file.consts

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] != ""

    def is_const(self, i: int) -> bool:
        return self.has(i) and self.inputs[i] in self.file.consts

    def const(self, i: int):
        """Constant input i (an initializer or Constant), None when absent; a graph value is refused."""
        if not self.has(i):
            return None
        if self.inputs[i] not in self.file.consts:
            raise ValueError(f"input {i} '{self.inputs[i]}' must be a constant (an initializer)")
        return self.file.consts[self.inputs[i]]

    def ints(self, i: int | None, attr: str | None = None):
        """A list of ints from constant input i, else from attribute `attr`; None when neither is given."""
        if i is not None and self.has(i):
            return [int(v) for v in np.atleast_1d(self.const(i))]
        return None if attr is None or attr not in self.attrs else [int(v) for v in self.attrs[attr]]

    def shape(self, i: int = 0):
        return self.file.static_shape(self.inputs[i]) if self.has(i) else None

    def pads(self, kernel, stride, dilation):
        """ONNX padding (pads or auto_pad) as convscope's per-axis (lo, hi)."""
        n = len(kernel)
        if self.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if self.spatial is None:
                raise ValueError(f"auto_pad {self.auto_pad} needs the input's spatial size (shape inference failed)")
            pads = resolve_padding("same", self.spatial, kernel, stride, dilation, self.where)  # extra cell high
            return pads if self.auto_pad == "SAME_UPPER" else tuple((hi, lo) for lo, hi in pads)
        if self.auto_pad == "VALID":
            return ((0, 0),) * n
        p = list(self.attrs.get("pads", [0] * 2 * n))
        return tuple((p[a], p[a + n]) for a in range(n))


RULES: dict[str, Callable] = {}


def rule(*ops):
    def declare(f):
        for op in ops:
            RULES[op] = f
        return f
    return declare


def conversion(v: NodeView) -> Conversion | None:
    """The conversion of a node that builds no layer; None when convscope has no such op."""
    if v.op in RULES:
        return RULES[v.op](v)
    same = next((op for op in op_registry.all_ops() if op.onnx == v.op), None)
    if same is None:
        return None
    return Conversion(lambda *xs: apply(same, *xs), tuple(range(len(v.inputs))))


def _all(v):
    return tuple(i for i in range(len(v.inputs)) if v.has(i))


# ------------------------------------------------------------------------------ windows

@rule("MaxPool", "AveragePool", "LpPool")
def _pool(v):
    """ONNX's pools onto the registered pool ops, with ONNX's padding rule (any padding leaving an
    input cell in every window) and dilations."""
    a = v.attrs
    if len(v.outputs) > 1 and v.outputs[1]:
        raise ValueError("MaxPool's indices output is not supported")
    kernel = tuple(a["kernel_shape"])
    n = len(kernel)
    stride, dilation = tuple(a.get("strides", [1] * n)), tuple(a.get("dilations", [1] * n))
    pads, ceil = v.pads(kernel, stride, dilation), bool(a.get("ceil_mode", 0))
    if v.spatial:  # fail now, with the node named, rather than at the first forward
        pool_geometry((1, 1, *v.spatial), kernel, stride, pads, dilation, ceil, v.op, any_padding=True)
    kw = dict(kernel_size=kernel, stride=stride, padding=pads, dilation=dilation, ceil_mode=ceil, any_padding=True)
    if v.op == "MaxPool":
        op = op_registry.get("max_pool")
    elif v.op == "AveragePool":
        op, kw["count_include_pad"] = op_registry.get("avg_pool"), bool(a.get("count_include_pad", 0))
    else:
        op = op_registry.get("lp_pool")
        kw.update(norm_type=a.get("p", 2), absolute=True)
    return Conversion(lambda x: apply(op, x, **kw))


@rule("GlobalAveragePool", "GlobalMaxPool")
def _global(v):
    return Conversion(keepdims_pool("avg" if v.op == "GlobalAveragePool" else "max"))


@rule("Pad")
def _pad(v):
    mode = v.attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    p = v.ints(1, "pads")
    value = v.const(2)
    value = 0.0 if value is None or value.size == 0 else float(value)
    given = v.ints(3)  # pads for these axes only (opset 18)
    rank = v.rank if given and v.rank else len(p) // 2
    if given and not v.rank:
        raise ValueError("Pad with axes needs the input's rank (shape inference failed)")
    axes = [a % rank for a in (given or range(rank))]
    full = [0] * 2 * rank
    for j, a in enumerate(axes):
        full[a], full[a + rank] = p[j], p[j + len(axes)]
    if any(full[:2]) or any(full[rank:rank + 2]):
        raise ValueError(f"padding of the batch or channel axis is not supported (pads {p})")
    pads = tuple((full[i], full[i + rank]) for i in range(2, rank))
    if mode == "constant":  # zeros, plus the value on the border: pad(x) + value * (1 - pad(ones))
        if value == 0:
            return Conversion(lambda x: F.pad(x, pads))
        shape = v.shape(0)
        if shape is None:
            raise ValueError(f"Pad with value {value} needs the input's static shape")
        inside = np.pad(np.ones((1, *shape[1:]), np.float32), ((0, 0), (0, 0), *pads))
        border = (value * (1 - inside)).astype(np.float32)
        return Conversion(lambda x: F.pad(x, pads) + border)
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    if torch_mode is None or "mode" not in inspect.signature(F.pad).parameters:
        raise ValueError(f"Pad mode {mode!r} with value {value} is not supported (zero constant padding is)")
    return Conversion(lambda x: F.pad(x, pads, mode=torch_mode, value=value))


# ------------------------------------------------------------------------------ element-wise

@rule("Identity", "Dropout", "Cast")
def _identity(v):
    training = v.attrs.get("training_mode") or (v.has(2) and (not v.is_const(2) or v.const(2)))
    no_ratio = v.is_const(1) and float(np.reshape(v.const(1), ())) == 0  # training drops nothing
    if v.op == "Dropout" and training and not no_ratio:
        raise ValueError("Dropout in training mode (random masks) is not supported; it is the identity in inference")
    if v.op == "Dropout" and len(v.outputs) > 1 and v.outputs[1]:
        raise ValueError("Dropout's mask output is not supported")
    if v.op == "Cast" and v.file.dtypes.get(v.outputs[0]) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"Cast of a graph value to {v.file.dtypes.get(v.outputs[0])} is not supported")
    return Conversion(lambda x: x)


@rule("Sub", "Div")
def _binary(v):
    return Conversion((lambda p, q: p - q) if v.op == "Sub" else (lambda p, q: p / q), (0, 1))


@rule("Neg", "Sqrt", "Reciprocal", "Pow")
def _power(v):
    if v.op == "Neg":
        return Conversion(lambda x: x * -1.0)
    e = {"Sqrt": 0.5, "Reciprocal": -1.0}.get(v.op)
    if e is None:
        if not v.is_const(1) or v.const(1).size != 1:  # a tensor exponent: the power of two tensors
            return Conversion(lambda x, y: apply(op_registry.get("power"), x, y), (0, 1))
        e = float(v.const(1).reshape(()))
    return Conversion(lambda x: x ** e)


@rule("LeakyRelu")
def _leaky(v):
    slope = v.attrs.get("alpha", 0.01)
    return Conversion(lambda x: F.leaky_relu(x, slope))


@rule("Clip")
def _clip(v):
    lo, hi = (v.const(1), v.const(2)) if v.opset >= 11 else (v.attrs.get("min"), v.attrs.get("max"))
    lo, hi = (None if b is None or np.size(b) == 0 else float(np.reshape(b, ())) for b in (lo, hi))
    return Conversion(lambda x: F.clamp(x, lo, hi))


@rule("HardSigmoid")
def _hardsigmoid(v):
    alpha, beta = v.attrs.get("alpha", 0.2), v.attrs.get("beta", 0.5)
    if np.isclose(alpha, 1 / 6) and beta == 0.5:  # PyTorch's hardsigmoid
        return Conversion(F.hardsigmoid)
    return Conversion(lambda x: F.clamp(x * alpha + beta, 0.0, 1.0))


@rule("Gelu")  # opset 20, or the Erf pattern fused at import
def _gelu(v):
    approximate = v.attrs.get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    return Conversion(lambda x: F.gelu(x, approximate))


@rule("Softmax", "LogSoftmax")
def _softmax(v):
    if v.opset < 13 and v.rank not in (None, 2):
        raise ValueError(f"{v.op} before opset 13 (coerced to 2-D) on a rank-{v.rank} input is not supported")
    axis = v.attrs.get("axis", -1 if v.opset >= 13 else 1)
    f = F.softmax if v.op == "Softmax" else F.log_softmax
    return Conversion(lambda x: f(x, axis))


@rule("LayerNormalization")
def _layer_norm(v):
    axis, eps = v.attrs.get("axis", -1), v.attrs.get("epsilon", 1e-5)
    if v.attrs.get("stash_type", 1) != 1:
        raise ValueError(f"LayerNormalization with stash_type {v.attrs['stash_type']} is not supported (1: float)")
    has_bias, outputs = v.has(2), len(v.outputs)

    def norm(x, w, b=None):
        shape = x.shape[axis % x.ndim:]
        w = w if tuple(w.shape) == tuple(shape) else w + np.zeros(shape, np.float32)  # ONNX broadcasts them
        b = b if b is None or tuple(b.shape) == tuple(shape) else b + np.zeros(shape, np.float32)
        y = F.layer_norm(x, shape, w, b, eps)
        if outputs == 1:
            return y
        axes = tuple(range(axis % x.ndim, x.ndim))  # the statistics, kept as axes of size 1
        mean = x.mean(axes, True)
        centred = x - mean
        inv = ((centred * centred).mean(axes, True) + eps) ** -0.5
        return (y, mean, inv)[:outputs]
    return Conversion(norm, (0, 1, 2) if has_bias else (0, 1), outputs)


# ------------------------------------------------------------------------------ shapes and reductions

@rule("Flatten")
def _flatten(v):
    axis = v.attrs.get("axis", 1)  # in [-rank, rank]: a negative axis counts from the end once

    def run(x):
        lead = int(np.prod(x.shape[:axis + x.ndim if axis < 0 else axis]))
        return x.reshape(lead, int(np.prod(x.shape)) // lead if lead else 0)
    return Conversion(run)


def _int_list(value) -> list:
    """Ints from a constant (a Tensor) or a shape computed at run time (a NumPy array)."""
    return [int(e) for e in np.atleast_1d(np.asarray(getattr(value, "data", value)))]


@rule("Reshape")  # the target shape: a constant, or computed at run time from shapes (dynamic batch)
def _reshape(v):
    keep = not v.attrs.get("allowzero", 0)

    def run(x, target):
        return x.reshape(*[x.shape[i] if t == 0 and keep else t for i, t in enumerate(_int_list(target))])
    return Conversion(run, (0, 1))


@rule("Squeeze", "Unsqueeze")
def _squeeze(v):
    axes = v.ints(1, "axes")

    def run(x):
        shape = list(x.shape)
        if v.op == "Unsqueeze":
            for a in sorted(b % (x.ndim + len(axes)) for b in axes):
                shape.insert(a, 1)
        else:
            drop = {b % x.ndim for b in axes} if axes is not None else {a for a, s in enumerate(shape) if s == 1}
            shape = [s for a, s in enumerate(shape) if a not in drop]
        return x.reshape(*shape)
    return Conversion(run)


@rule("Transpose")
def _transpose(v):
    perm = v.attrs.get("perm")
    return Conversion(lambda x: x.transpose(*(perm if perm is not None else reversed(range(x.ndim)))))


@rule("Concat")
def _concat(v):
    axis = v.attrs["axis"]
    return Conversion(lambda *ts: concat(list(ts), axis=axis), _all(v))


@rule("Split")
def _split(v):
    axis, n = v.attrs.get("axis", 0), len(v.outputs)
    sizes = v.ints(1, "split") if v.opset >= 13 else v.ints(None, "split")

    def run(x):
        size = x.shape[axis % x.ndim]
        parts = sizes or [-(-size // n)] * (n - 1) + [size - (n - 1) * -(-size // n)]
        ends = np.cumsum(parts)
        return tuple(_slice(x, [e - p], [e], [axis]) for p, e in zip(parts, ends))
    return Conversion(run, outputs=n)


@rule("Slice")
def _slice_rule(v):
    if v.opset < 10:
        starts, ends, axes, steps = v.attrs["starts"], v.attrs["ends"], v.attrs.get("axes"), None
        return Conversion(lambda x: _slice(x, starts, ends, axes, steps))
    present = tuple(i for i in range(1, 5) if v.has(i))  # bounds may be computed at run time (dynamic batch)

    def run(x, *bounds):
        given = dict(zip(present, (_int_list(b) for b in bounds)))
        return _slice(x, given[1], given[2], given.get(3), given.get(4))
    return Conversion(run, (0, *present))


@rule("Gather")
def _gather(v):
    axis, index = v.attrs.get("axis", 0), np.asarray(v.const(1), np.int64)
    return Conversion(lambda x: x[(slice(None),) * (axis % x.ndim) + (index,)])


@rule("ReduceMean", "ReduceSum", "ReduceMax")
def _reduce(v):
    axes = v.ints(1, None) if v.opset >= 18 or (v.op == "ReduceSum" and v.opset >= 13) else v.ints(None, "axes")
    keep = bool(v.attrs.get("keepdims", 1))
    axes = axes or None  # no axes, or an empty list of them: every axis
    if axes is None and v.attrs.get("noop_with_empty_axes", 0):
        return Conversion(lambda x: x)

    def run(x):
        ax = tuple(sorted(a % x.ndim for a in axes)) if axes is not None else tuple(range(x.ndim))
        if v.op == "ReduceMean" and x.ndim > 2 and ax == tuple(range(2, x.ndim)):  # global average pooling
            y = F.global_avg_pool(x)
            return y.reshape(*y.shape, *([1] * (x.ndim - 2))) if keep else y
        if v.op == "ReduceMean":
            return x.mean(ax, keep)
        return x.sum(ax, keep) if v.op == "ReduceSum" else x.max(ax, keep)
    return Conversion(run)
