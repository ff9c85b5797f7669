"""Shape ops, reductions and products: reshape, transpose, indexing, concat, stack, sum, max,
softmax, log-softmax and the matrix product."""
from __future__ import annotations

import numpy as np

from ...messages import excerpt
from ..registry import ELEMENTWISE, GLOBAL, RESHAPE, Aval, AxisMap, define, keeps_axes, keeps_input, keeps_output
from .elementwise import unbroadcast


def _meta(a: Aval) -> np.ndarray:
    """A zero-byte stand-in with the aval's shape, for shape rules that index or reshape."""
    return np.broadcast_to(np.zeros((), a.dtype), a.shape)


def _target(in_shape, shape) -> tuple:
    """The shape `reshape` gives (NumPy's rule: one -1 takes what the others leave), or a ValueError
    naming both shapes when their sizes differ."""
    try:
        return np.broadcast_to(np.zeros((), np.int8), in_shape).reshape(shape).shape  # the rule, on no data
    except (ValueError, TypeError):
        raise ValueError(f"reshape: {tuple(in_shape)} ({int(np.prod(in_shape)):,} values) cannot become "
                         f"{excerpt(shape)}") from None


def _reshape_shape(x, *, shape):
    return Aval(_target(x.shape, shape), x.dtype)


def _reshape_onnx(e, node):
    # 0 copies the input's first axis (the batch, any size); a reshape that changes the first axis
    # (a weight given axes of size 1, as a layer scale is) writes it out
    keeps = len(e.in_avals[0].shape) > 0 and e.in_avals[0].shape[0] == node.shape[0]
    first = [0] if keeps else [node.shape[0]]
    e.emit("Reshape", [e.inputs[0], e.const(np.array([*first, *node.shape[1:]], np.int64))], e.output)


@define("reshape", lambda ins, a: AxisMap(keeps_axes), shape=_reshape_shape, torch=("reshape", "view"), onnx=_reshape_onnx)
def reshape(x, *, shape):
    return x.reshape(_target(x.shape, shape)), lambda g: (g.reshape(x.shape),)


def _transpose_shape(x, *, perm):
    return Aval(tuple(x.shape[a] for a in perm), x.dtype)


def _transpose_onnx(e, node):
    e.emit("Transpose", e.inputs, e.output, perm=list(node.attrs["perm"]))


def _permuted(perm):
    def moves(in_shape, out_shape, axes):
        rank = len(in_shape)
        return tuple(list(perm).index(rank + a) - rank for a in axes)
    return moves


@define("transpose", lambda ins, a: AxisMap(_permuted(a["perm"])), shape=_transpose_shape, onnx=_transpose_onnx)
def transpose(x, *, perm):
    inverse = tuple(np.argsort(perm))
    return x.transpose(perm), lambda g: (g.transpose(inverse),)


def _index_shape(x, *, index):
    return Aval(_meta(x)[index].shape, x.dtype)


def _basic_index(index, rank: int) -> tuple | None:
    """A basic index (ints, slices, at most one Ellipsis) as one int or slice per axis of a rank-`rank`
    array; None for anything else (new axes, fancy indices)."""
    index = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (rank - len(index) + 1) + index[at + 1:]
    index = index + (slice(None),) * (rank - len(index))
    is_int = lambda i: isinstance(i, (int, np.integer)) and not isinstance(i, bool)  # noqa: E731
    return index if len(index) == rank and all(isinstance(i, slice) or is_int(i) for i in index) else None


def _index_onnx(e, node):
    """Basic indexing (ints, slices, an Ellipsis) is one Slice, then a Squeeze of the int axes."""
    shape = node.in_avals[0].shape
    index = _basic_index(node.attrs["index"], len(shape))
    if index is None:
        raise ValueError(f"index {node.attrs['index']!r}: only ints, slices and ... have an ONNX export here")
    starts, ends, axes, steps, dropped = [], [], [], [], []
    for axis, i in enumerate(index):
        if not isinstance(i, slice):  # an int: a slice of one, its axis squeezed
            i, _ = slice(int(i) % shape[axis], int(i) % shape[axis] + 1), dropped.append(axis)
        start, stop, step = i.indices(shape[axis])
        if (start, stop, step) == (0, shape[axis], 1):
            continue
        if step < 0 and stop < 0:
            stop = -shape[axis] - 1  # ONNX clamps: this end reaches past the first cell
        starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
    y = e.inputs[0]
    if axes:
        consts = [e.const(np.array(v, np.int64)) for v in (starts, ends, axes, steps)]
        y = e.emit("Slice", [y, *consts])
    if dropped:
        y = e.emit("Squeeze", [y, e.const(np.array(dropped, np.int64))])
    e.emit("Identity", [y], e.output)


def _index_rf(ins, a):
    """An index that takes whole spatial axes (ShuffleNet's chunk of channels) keeps positions."""
    rank = len(ins[0].shape)
    index = _basic_index(a["index"], rank)
    if index is None:
        return RESHAPE  # new axes or fancy indices
    kept = [p for p, i in enumerate(index) if isinstance(i, slice)]

    def moves(in_shape, out_shape, axes):
        positions = [rank + x for x in axes]
        if any(index[p] != slice(None) and index[p].indices(in_shape[p]) != (0, in_shape[p], 1) for p in positions):
            return None
        return tuple(kept.index(p) - len(kept) for p in positions)
    return AxisMap(moves)


@define("index", _index_rf, shape=_index_shape, onnx=_index_onnx)
def index(x, *, index):
    def backward(g):
        full = np.zeros(x.shape, g.dtype)
        np.add.at(full, index, g)  # repeated fancy indices add up
        return (full,)
    return x[index], backward


def _concat_shape(*xs, axis):
    shape = list(xs[0].shape)
    shape[axis] = sum(a.shape[axis] for a in xs)
    return Aval(tuple(shape), xs[0].dtype)


def _concat_onnx(e, node):
    e.emit("Concat", e.inputs, e.output, axis=int(node.attrs["axis"]))


@define("concat", lambda ins, a: ELEMENTWISE if a["axis"] == 1 else GLOBAL, shape=_concat_shape, torch=("cat",),
        onnx=_concat_onnx)
def concat(*xs, axis):
    """Join along an existing axis (normalised, >= 0); each input gets back its slice of the gradient."""
    sizes = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return np.concatenate(xs, axis=axis), lambda g: tuple(np.split(g, sizes, axis=axis))


def _stack_shape(*xs, axis):
    shape = list(xs[0].shape)
    shape.insert(axis, len(xs))
    return Aval(tuple(shape), xs[0].dtype)


def _stack_onnx(e, node):
    axis = e.const(np.array([node.attrs["axis"]], np.int64))
    e.emit("Concat", [e.emit("Unsqueeze", [x, axis]) for x in e.inputs], e.output, axis=int(node.attrs["axis"]))


@define("stack", GLOBAL, shape=_stack_shape, onnx=_stack_onnx)  # aten.stack: the graph function (a list of tensors)
def stack(*xs, axis):
    """Join along a new axis (normalised, >= 0); each input gets back its slice of the gradient
    (ONNX: an Unsqueeze of each, then Concat)."""
    return np.stack(xs, axis=axis), lambda g: tuple(np.moveaxis(g, axis, 0))


def _reduce_shape(x, *, axis, keepdims):
    return Aval(np.sum(_meta(x), axis=axis, keepdims=keepdims).shape, x.dtype)


def _reduce_onnx(kind):
    def export(e, node):
        a = node.attrs
        axes = list(range(len(e.in_avals[0].shape))) if a["axis"] is None else list(np.atleast_1d(a["axis"]))
        axes = e.const(np.array(axes, np.int64))
        e.emit(kind, [e.inputs[0], axes], e.output, keepdims=int(a["keepdims"]))
    return export


def _kept_axes(g, axis, keepdims):
    """A reduction's gradient with its reduced axes back (size 1), to broadcast over the input."""
    return np.expand_dims(g, axis) if not keepdims and axis is not None else g


@define("sum", GLOBAL, shape=_reduce_shape, onnx=_reduce_onnx("ReduceSum"))
def reduce_sum(x, *, axis=None, keepdims=False):
    # every summed cell gets the upstream gradient of its sum
    def backward(g):
        return (np.broadcast_to(_kept_axes(g, axis, keepdims), x.shape).copy(),)
    return x.sum(axis=axis, keepdims=keepdims), backward


@define("max", GLOBAL, shape=_reduce_shape, saved=keeps_output(8))
def reduce_max(x, *, axis=None, keepdims=False):
    """Maximum; the gradient is shared equally by tied maxima (like torch.amax); the maximum over
    no cells is -inf (ONNX's ReduceMax)."""
    y = x.max(axis=axis, keepdims=True, initial=-np.inf)
    mask = x == y
    share = mask / mask.sum(axis=axis, keepdims=True)

    def backward(g):
        return (share * _kept_axes(g, axis, keepdims),)
    return (y if keepdims else (y.reshape(()) if axis is None else np.squeeze(y, axis))), backward


def _over_space(ins, a) -> str:
    """Softmax over a spatial axis mixes positions; over channels or classes it is position-wise."""
    return GLOBAL if a["axis"] >= 2 else ELEMENTWISE


def _softmax_onnx(kind):
    def export(e, node):
        e.emit(kind, e.inputs, e.output, axis=int(node.attrs["axis"]))
    return export


@define("softmax", _over_space, saved=keeps_output(), onnx=_softmax_onnx("Softmax"))
def softmax(x, *, axis):
    # d p = p * (g - sum(g p)) along the axis
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    return p, lambda g: (p * (g - (g * p).sum(axis=axis, keepdims=True)),)


@define("log_softmax", _over_space, saved=keeps_output(), onnx=_softmax_onnx("LogSoftmax"))
def log_softmax(x, *, axis):
    """x - logsumexp(x), computed after subtracting the max (stable for large logits)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    p = np.exp(y)
    return y, lambda g: (g - p * g.sum(axis=axis, keepdims=True),)


def _matmul_shape(x, y):
    if len(x.shape) < 1 or len(y.shape) < 1:
        raise ValueError(f"matmul: both operands need at least 1 axis, got {x.shape} and {y.shape}")
    xs = (1, *x.shape) if len(x.shape) == 1 else tuple(x.shape)  # a 1-D left operand is a row, a right one a column
    ys = (*y.shape, 1) if len(y.shape) == 1 else tuple(y.shape)
    if xs[-1] != ys[-2]:
        raise ValueError(f"matmul: inner sizes differ: {x.shape} @ {y.shape}")
    out = (*np.broadcast_shapes(xs[:-2], ys[:-2]), *xs[-2:-1][:len(x.shape) - 1], *ys[-1:][:len(y.shape) - 1])
    return Aval(out, x.dtype)


def _matmul_macs(ins, out, attrs) -> int:
    return int(np.prod(out.shape[1:])) * ins[0].shape[-1]


@define("matmul", GLOBAL, macs=_matmul_macs, shape=_matmul_shape, saved=keeps_input, torch=("matmul",), aten=("matmul", "mm", "bmm"), from_aten=lambda a, name: (tuple(a.values()), {}),
        onnx="MatMul", grad_mask=True)
def matmul(x, y):
    """x @ y by NumPy's rule (ONNX's MatMul, torch.matmul): leading axes broadcast, a 1-D left operand
    is a row and a 1-D right operand a column, their axis dropped from the product."""
    _matmul_shape(Aval(x.shape, x.dtype), Aval(y.shape, y.dtype))
    x2 = x.reshape(1, -1) if x.ndim == 1 else x
    y2 = y.reshape(-1, 1) if y.ndim == 1 else y
    out = x2 @ y2
    full = out.shape

    def backward(g, needs):
        # d(x y) = dx y + x dy, on the operands made matrices, then given back their own shapes
        g = g.reshape(full)
        return (unbroadcast(g @ np.swapaxes(y2, -1, -2), x2.shape).reshape(x.shape) if needs[0] else None,
                unbroadcast(np.swapaxes(x2, -1, -2) @ g, y2.shape).reshape(y.shape) if needs[1] else None)
    return out.reshape(_matmul_shape(Aval(x.shape, x.dtype), Aval(y.shape, y.dtype)).shape), backward
