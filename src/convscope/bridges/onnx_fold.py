"""Constant folding at import: a node whose inputs are all constants is evaluated once, so the
shape subgraphs exporters write (Shape -> Gather -> Unsqueeze -> Concat -> Reshape for a flatten
or a channel shuffle, Shape -> Slice -> Concat for a Resize's sizes) become plain constants.

`Shape` (and `Size`) folds whenever its input's shape is static, whatever the input's values.
The ONNX ops below are computed with NumPy, with ONNX's semantics; any other all-constant node is
run through its conversion (the op registry's forwards) by the importer.
"""
from __future__ import annotations

import numpy as np

from .onnx_load import is_shape_only, shape_only

VARIABLE = object()  # an input computed by the graph (not a constant)


def _axes(v, rank):
    return tuple(int(a) % rank for a in np.atleast_1d(v))


def _slice(x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else _axes(axes, x.ndim)
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[a] = _onnx_span(int(s), int(e), int(st), x.shape[a])
    return x[tuple(index)]


def _onnx_span(start: int, end: int, step: int, dim: int) -> slice:
    """ONNX's Slice bounds as a Python slice: negatives count from the end once, then clamp to
    [0, dim] (step > 0) or start to [0, dim - 1] and end to [-1, dim - 1] (step < 0), where -1
    means "past the first element" (Python's None), not "the last"."""
    start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return slice(start, None if end == -1 else end, step)


def _unsqueeze(x, axes):
    out = x
    for a in sorted(_axes(axes, x.ndim + len(np.atleast_1d(axes)))):
        out = np.expand_dims(out, a)
    return out


def _reshape(x, shape, allowzero=0):
    shape = [x.shape[i] if s == 0 and not allowzero else int(s) for i, s in enumerate(shape)]
    return x.reshape(shape)


def _div(p, q):
    if p.dtype.kind in "iu" and q.dtype.kind in "iu":
        return (np.trunc(p / q)).astype(np.result_type(p, q))  # ONNX integer division truncates
    return p / q


def _cast(x, to):
    from onnx import helper

    return x.astype(helper.tensor_dtype_to_np_dtype(to))


def _constant_of_shape(shape, value):
    """ONNX's ConstantOfShape: `value` (a one-element TensorProto; float 0 when absent) everywhere."""
    from onnx import numpy_helper

    one = np.zeros(1, np.float32) if value is None else numpy_helper.to_array(value).reshape(-1)
    return np.full(tuple(int(s) for s in np.atleast_1d(shape)), one[0], one.dtype)


# op type -> f(attrs, *inputs) with inputs as NumPy arrays (None for an absent optional input)
TABLE = {
    "Identity": lambda a, x: x,
    "Cast": lambda a, x: _cast(x, a["to"]),
    "Neg": lambda a, x: -x,
    "Sqrt": lambda a, x: np.sqrt(x),
    "Floor": lambda a, x: np.floor(x),
    "Ceil": lambda a, x: np.ceil(x),
    "Add": lambda a, p, q: p + q,
    "Sub": lambda a, p, q: p - q,
    "Mul": lambda a, p, q: p * q,
    "Div": lambda a, p, q: _div(p, q),
    "Pow": lambda a, p, q: np.power(p, q).astype(p.dtype),
    "Equal": lambda a, p, q: np.equal(p, q),
    "Less": lambda a, p, q: np.less(p, q),
    "Greater": lambda a, p, q: np.greater(p, q),
    "Not": lambda a, x: np.logical_not(x),
    "Where": lambda a, c, p, q: np.where(c, p, q),
    "Min": lambda a, *xs: np.minimum.reduce(xs),
    "Max": lambda a, *xs: np.maximum.reduce(xs),
    "Gather": lambda a, x, i: np.take(x, i, axis=a.get("axis", 0)),
    "Concat": lambda a, *xs: np.concatenate([np.atleast_1d(x) for x in xs], axis=a["axis"]),
    "Unsqueeze": lambda a, x, axes=None: _unsqueeze(x, a["axes"] if axes is None else axes),
    "Squeeze": lambda a, x, axes=None: np.squeeze(x, axis=None if axes is None and "axes" not in a else
                                                  _axes(a["axes"] if axes is None else axes, x.ndim)),
    "Slice": lambda a, x, starts, ends, axes=None, steps=None: _slice(x, starts, ends, axes, steps),
    "Reshape": lambda a, x, shape: _reshape(x, shape, a.get("allowzero", 0)),
    "Transpose": lambda a, x: np.transpose(x, a.get("perm")),
    "Range": lambda a, start, limit, delta: np.arange(start, limit, delta).astype(np.result_type(start)),
    "ConstantOfShape": lambda a, shape: _constant_of_shape(shape, a.get("value")),
    "Expand": lambda a, x, shape: x * np.ones(tuple(int(s) for s in shape), x.dtype),
    "ReduceProd": lambda a, x, axes=None: np.prod(x, axis=None if axes is None and "axes" not in a else
                                                  _axes(a["axes"] if axes is None else axes, x.ndim),
                                                  keepdims=bool(a.get("keepdims", 1))),
}


def fold(op: str, attrs: dict, inputs: list, in_shapes: list, out_shapes: list):
    """The outputs of one node when they are known at import, else None.

    inputs: per node input, its constant value, None when absent, or VARIABLE (a graph value);
    in_shapes: the static shape of each input or None; out_shapes: each output's, or None.
    """
    if op == "Shape" and in_shapes[0] is not None:
        start, end = attrs.get("start", 0), attrs.get("end", None)
        return [np.array(in_shapes[0][start:end], np.int64)]
    if op == "Size" and in_shapes[0] is not None:
        return [np.array(int(np.prod(in_shapes[0])), np.int64)]
    if op not in TABLE or any(v is VARIABLE for v in inputs):
        return None
    if any(is_shape_only(v) for v in inputs if v is not None):  # weights not read: the result is shape-only too
        if out_shapes[0] is None:
            return None
        return [shape_only(out_shapes[0], next(v.dtype for v in inputs if is_shape_only(v)))]
    return [np.asarray(TABLE[op](attrs, *inputs))]
