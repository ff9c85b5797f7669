"""Reading an ONNX file fast: the graph, its constants and the static shape of every value.

The checker and ONNX's shape inference serialise the model they are given, so they run on a light
copy of the graph whose large float initializers are replaced by typed graph inputs (their shapes
kept, their bytes dropped): checking and inferring a 550 MB VGG then takes milliseconds, not seconds.

Shape-only reading (`meta=True`) never turns a large float initializer into an array: it stands in
as a zero-strided view of one zero (`ShapeOnly`), whose arithmetic stays shape-only, so a file of
any size is described without allocating its weights. (Weights stored inside the .onnx file are
still parsed by protobuf, outside Python's allocator; weights in external data files, as every
file over 2 GB has them, are never read.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SMALL = 64  # float constants up to this many elements are always read (scales, clip bounds, eps)


class ShapeOnly(np.ndarray):
    """A shape-only array: one shared zero broadcast to its shape. Views (transpose, reshape of
    zero strides) stay shape-only, and so does element-wise arithmetic: the result is a new
    shape-only array of the broadcast shape, never an allocation of that size."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        arrays = [np.asarray(v) for v in inputs]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        dtype = ufunc(*(np.zeros((), a.dtype) for a in arrays)).dtype
        return shape_only(shape, dtype)


def shape_only(shape, dtype) -> np.ndarray:
    return np.broadcast_to(np.zeros((), dtype), tuple(int(s) for s in shape)).view(ShapeOnly)


def is_shape_only(value) -> bool:
    return isinstance(value, np.ndarray) and value.size > 0 and not any(value.strides) and value.ndim > 0


@dataclass
class OnnxFile:
    graph: object  # the GraphProto (initializer bytes included unless shape-only)
    opset: int
    consts: dict  # value name -> np.ndarray (initializers; shape-only when large and meta)
    initializers: set  # names of graph initializers (a model's parameters, unlike Constant nodes)
    shapes: dict = field(default_factory=dict)  # value name -> list of dims (None when unknown)
    dtypes: dict = field(default_factory=dict)  # value name -> np.dtype

    def static_shape(self, name: str):
        dims = self.shapes.get(name)
        return None if dims is None or None in dims else tuple(dims)


def read(path, meta: bool = False) -> OnnxFile:
    """The graph of an ONNX file, checked, with shapes inferred; a ValueError for a damaged file."""
    import onnx
    from onnx import shape_inference

    try:
        proto = _parse(path)
        light = _light(proto)
        onnx.checker.check_model(light)
        light = shape_inference.infer_shapes(light, data_prop=True)  # shapes through Shape -> Concat -> Resize too
    except Exception as err:  # onnx raises its own types for every kind of damage
        raise ValueError(f"{path}: not a valid ONNX model: {str(err).splitlines()[0]}") from None
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 1)
    g, base = proto.graph, str(Path(path).resolve().parent)
    consts = {t.name: _initializer(t, meta, base, path) for t in g.initializer}
    out = OnnxFile(g, opset, consts, set(consts))
    for v in list(light.graph.value_info) + list(light.graph.input) + list(light.graph.output):
        t = v.type.tensor_type
        out.shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim] \
            if t.HasField("shape") else None
        out.dtypes[v.name] = _np_dtype(t.elem_type)
    for t in g.initializer:
        out.shapes[t.name], out.dtypes[t.name] = list(t.dims), _np_dtype(t.data_type)
    return out


def _large_float(t) -> bool:
    from onnx import TensorProto

    return t.data_type in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16) \
        and int(np.prod(t.dims, dtype=np.int64)) > SMALL


def _light(proto):
    """The model without the bytes of its large float initializers: each becomes a graph input of
    the same type and shape, which is all the checker and shape inference read of it."""
    from onnx import ModelProto, helper

    light = ModelProto()
    for name in ("ir_version", "producer_name", "producer_version", "domain", "model_version"):
        setattr(light, name, getattr(proto, name))
    light.opset_import.extend(proto.opset_import)
    light.functions.extend(proto.functions)
    g, lg = proto.graph, light.graph
    lg.name = g.name
    lg.node.extend(g.node)
    lg.input.extend(g.input)
    lg.output.extend(g.output)
    lg.value_info.extend(g.value_info)
    listed = {v.name for v in g.input}
    for t in g.initializer:
        if not _large_float(t):
            lg.initializer.append(t)
        elif t.name not in listed:
            lg.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    if light.ir_version < 4:  # initializers had to be inputs then; moving them is allowed from IR 4
        light.ir_version = 4
    return light


def _parse(path):
    """The ModelProto, parsed straight from the mapped file: no Python copy of its bytes (onnx.load
    reads them all into one). Weights in external data files stay there until asked for."""
    import mmap

    from onnx import ModelProto

    proto = ModelProto()
    with open(path, "rb") as f:
        if Path(path).stat().st_size == 0:
            raise ValueError("the file is empty")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                proto.ParseFromString(view)
            finally:
                view.release()
    return proto


def _initializer(t, meta: bool, base: str, path) -> np.ndarray:
    from onnx import numpy_helper

    if meta and _large_float(t):
        return shape_only(t.dims, _np_dtype(t.data_type))
    try:
        return numpy_helper.to_array(t, base)  # reads external data from beside the file
    except Exception as err:  # noqa: BLE001 - onnx's own types: an unknown data_type, dims against data, a missing file
        why = "its data does not fill its dims" if "reshape" in str(err) else \
            "its data_type is not one ONNX defines" if _np_dtype(t.data_type) is None else \
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        raise ValueError(f"{path}: initializer {t.name!r} (data_type {t.data_type}, dims {list(t.dims)}) cannot be "
                         f"read: {why}") from None


def _np_dtype(elem_type: int):
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        return None
