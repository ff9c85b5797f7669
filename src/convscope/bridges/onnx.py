"""ONNX bridge: write a convscope model as an ONNX graph (from its trace), and read ONNX files from
any framework into convscope, so `convscope summary model.onnx` analyses them.
Needs `onnx` (and `onnxruntime` to run the files): pip install convscope[onnx].
"""
from __future__ import annotations

import numpy as np

from ..nn import functional as F
from ..nn import registry
from ..ops.geometry import output_size, resolve_padding
from ..ops import registry as op_registry
from ..tensor import Tensor, apply, concat
from .graph import GraphModel, Ref, keepdims_pool

OPSET = 17


# ------------------------------------------------------------------------------ export

class _Emitter:
    """What an op's ONNX export rule writes with: names of the node's inputs and output, constants
    as initializers, and `emit` for one ONNX node (intermediate outputs get fresh names)."""

    def __init__(self, graph, nodes: list, inits: list):
        self.graph, self.nodes, self.inits = graph, nodes, inits

    def at(self, node):
        consts = iter(node.consts)
        self.node, self.in_avals = node, node.in_avals
        self.inputs = [_name(a) if a is not None else self.const(next(consts)) for a in node.args]
        self.output = _name(node.index)
        return self

    def const(self, arr, dtype=None) -> str:
        from onnx import numpy_helper

        arr = np.asarray(arr)
        arr = arr.astype(dtype or (np.float32 if arr.dtype.kind == "f" else arr.dtype))
        key = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), key))
        return key

    def emit(self, op_type: str, inputs, output: str | None = None, **attrs) -> str:
        from onnx import helper

        output = output or f"{self.output}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attrs))
        return output


def _name(index: int) -> str:
    return "input" if index == 0 else f"t{index}"


def to_onnx(model, input_shape, path, batch_size: int | str = "batch"):
    """Write `model` as ONNX (opset 17) built from its shape-only trace; checked with onnx.checker.

    Each traced op is written by its registered ONNX rule. The batch dimension is symbolic
    ("batch") unless an int is given. Returns the ModelProto.
    """
    import onnx
    from onnx import TensorProto, helper

    from ..analysis import trace

    graph = trace(model, input_shape)
    nodes, inits, problems = [], [], []
    emitter = _Emitter(graph, nodes, inits)
    for node in graph.nodes[1:]:
        rule = node.opdef.onnx
        if rule is None:
            where = graph.names.get(id(node.modules[-1]), "-") if node.modules else "-"
            problems.append(f"{node.op} (node {node.index}, in {where})")
            continue
        e = emitter.at(node)
        if isinstance(rule, str):
            e.emit(rule, e.inputs, e.output)
        else:
            rule(e, node)
    if problems:
        raise ValueError("to_onnx: no ONNX export for: " + "; ".join(problems))
    batch = batch_size
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, *input_shape])
    y = helper.make_tensor_value_info(_name(graph.outputs[0]), TensorProto.FLOAT, [batch, *graph.output.shape[1:]])
    proto = helper.make_model(helper.make_graph(nodes, getattr(model, "name", "convscope"), [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", OPSET)], producer_name="convscope")
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return proto


# ------------------------------------------------------------------------------ import

def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pads(attrs, n, in_size, kernel, stride, dilation, where):
    """ONNX padding (pads or auto_pad) as convscope's per-axis (lo, hi)."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if in_size is None:
            raise ValueError(f"{where}: auto_pad {auto} needs the input's spatial size (shape inference failed)")
        pads = resolve_padding("same", tuple(in_size), kernel, stride, dilation, where)  # extra cell high
        return pads if auto == "SAME_UPPER" else tuple((hi, lo) for lo, hi in pads)
    if auto == "VALID":
        return ((0, 0),) * n
    p = list(attrs.get("pads", [0] * 2 * n))
    return tuple((p[a], p[a + n]) for a in range(n))


def from_onnx(path) -> GraphModel:
    """A convscope model from an ONNX file: Conv, ConvTranspose, MaxPool, AveragePool,
    GlobalAveragePool, Gemm/MatMul, Relu/Sigmoid/Tanh/LeakyRelu/Softmax, Add/Mul/Sub/Div, Concat,
    Flatten/Reshape, BatchNormalization, Pad, Dropout, Identity, Constant (auto_pad and asymmetric
    pads included).
    Malformed files and unsupported nodes give a ValueError naming them."""
    import onnx
    from onnx import numpy_helper, shape_inference

    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        proto = shape_inference.infer_shapes(proto)
    except Exception as err:  # onnx raises its own types for every kind of damage
        raise ValueError(f"{path}: not a valid ONNX model: {str(err).splitlines()[0]}") from None
    g = proto.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    shapes = {}
    for v in list(g.value_info) + list(g.input) + list(g.output):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
        shapes[v.name] = dims
    model = GraphModel()
    problems = []
    for v in g.input:
        if v.name not in init:
            model.steps.append((v.name, "input", None, (), {}))
    for i, node in enumerate(g.node):
        where = f"node {i} '{node.name or node.op_type}' ({node.op_type})"
        if node.op_type == "Constant":  # exporters often store weights as Constant nodes ...
            init[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
            continue
        if node.op_type == "Identity" and node.input[0] in init:  # ... or share them through Identity
            init[node.output[0]] = init[node.input[0]]
            continue
        try:
            step = _convert(node, init, shapes, where)
        except (ValueError, TypeError, KeyError) as err:
            problems.append(f"{where}: {err}")
            continue
        if step is None:
            problems.append(f"{where}: unsupported op {node.op_type}")
            continue
        fn, args, module = step
        if module is not None:
            model.place(f"{node.op_type.lower()}_{i}", module)
        model.steps.append((node.output[0], "onnx", fn, args, {}))
    if problems:
        raise ValueError(f"from_onnx {path}: " + "; ".join(problems))
    object.__setattr__(model, "output_ref", Ref(g.output[0].name))
    shape = shapes.get(g.input[0].name)
    object.__setattr__(model, "input_shape", tuple(shape[1:]) if shape and None not in shape[1:] else None)
    object.__setattr__(model, "name", g.name or "onnx")
    return model.eval()


def _value(name, init):
    return Tensor(init[name]) if name in init else Ref(name)


class _NodeView:
    """What a layer's ONNX import rule (its `OnnxImport` in the layer registry) sees of one node."""

    def __init__(self, node, attrs, init, x_shape, where):
        self.inputs, self.attrs, self.init, self.where = list(node.input), attrs, init, where
        self.rank = len(x_shape) if x_shape else None
        self.spatial = tuple(x_shape[2:]) if x_shape and len(x_shape) > 2 and None not in x_shape[2:] else None
        auto = attrs.get("auto_pad", b"NOTSET")
        self.auto_pad = auto.decode() if isinstance(auto, bytes) else auto

    def is_const(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] in self.init

    def const(self, i: int):
        """Constant input i (an initializer or Constant), None when absent; a graph value is refused."""
        if i >= len(self.inputs) or self.inputs[i] == "":
            return None
        if self.inputs[i] not in self.init:
            raise ValueError(f"input {i} '{self.inputs[i]}' must be a constant (an initializer)")
        return self.init[self.inputs[i]]

    def pads(self, kernel, stride, dilation):
        return _pads(self.attrs, len(kernel), self.spatial, kernel, stride, dilation, self.where)


def _layer_of(node, a, init, x_shape, where):
    """The registered layer this node builds (Conv, ConvTranspose, Gemm, MatMul with a constant
    weight, BatchNormalization), with its weights; None when no layer's import rule applies."""
    view = _NodeView(node, a, init, x_shape, where)
    for decl, rule in registry.onnx_imports(node.op_type):
        if rule.when(view):
            kwargs, state = rule.build(view)
            layer = decl.cls(**kwargs)
            layer.load_state_dict({k: np.asarray(v, np.float32) for k, v in state.items()})
            return layer
    return None


def _convert(node, init, shapes, where):
    a = _attrs(node)
    op, ins = node.op_type, list(node.input)
    x_shape = shapes.get(ins[0]) if ins else None
    spatial = tuple(x_shape[2:]) if x_shape and len(x_shape) > 2 and None not in x_shape[2:] else None
    layer = _layer_of(node, a, init, x_shape, where)
    if layer is not None:
        return layer, (Ref(ins[0]),), layer
    if op in ("MaxPool", "AveragePool"):
        kernel = tuple(a["kernel_shape"])
        n = len(kernel)
        stride, dilation = tuple(a.get("strides", [1] * n)), tuple(a.get("dilations", [1] * n))
        pads = _pads(a, n, spatial, kernel, stride, dilation, where)
        ceil = bool(a.get("ceil_mode", 0))
        if op == "MaxPool":
            fn = lambda x: F.max_pool(x, kernel, stride, pads, dilation, ceil)  # noqa: E731
        else:
            include = bool(a.get("count_include_pad", 0))
            fn = lambda x: F.avg_pool(x, kernel, stride, pads, ceil, include)  # noqa: E731
        if spatial:  # fail now, with the node named, rather than at the first forward
            for axis, (i, k, s, p, d) in enumerate(zip(spatial, kernel, stride, pads, dilation)):
                output_size(i, k, s, p, d, ceil_mode=ceil, op=op, axis=axis)
        return fn, (Ref(ins[0]),), None
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        return keepdims_pool("avg" if op == "GlobalAveragePool" else "max"), (Ref(ins[0]),), None
    if op == "MatMul":  # of two graph values (a constant weight builds a Linear above)
        return (lambda p, q: p @ q), (Ref(ins[0]), Ref(ins[1])), None
    unary = {"Identity": lambda x: x, "Dropout": lambda x: x,
             "LeakyRelu": lambda x: F.leaky_relu(x, a.get("alpha", 0.01)),
             "Softmax": lambda x: F.softmax(x, a.get("axis", -1)),
             "Flatten": lambda x: x.reshape(int(np.prod(x.shape[:a.get("axis", 1)])), -1)}
    if op in unary:
        return unary[op], (Ref(ins[0]),), None
    binary = {"Sub": lambda p, q: p - q, "Div": lambda p, q: p / q}
    if op in binary:
        return binary[op], tuple(_value(v, init) for v in ins), None
    if op == "Concat":
        return (lambda *ts: concat(list(ts), axis=a["axis"])), tuple(_value(v, init) for v in ins), None
    if op == "Reshape":
        target = [int(v) for v in init[ins[1]]]
        return (lambda x: x.reshape(*[x.shape[i] if t == 0 else t for i, t in enumerate(target)])), (Ref(ins[0]),), None
    if op == "Pad":
        mode = a.get("mode", b"constant")
        if mode not in (b"constant", "constant") or (len(ins) > 2 and ins[2] and float(init[ins[2]]) != 0):
            raise ValueError("only zero constant padding is supported")
        p = [int(v) for v in (init[ins[1]] if len(ins) > 1 else a["pads"])]
        half = len(p) // 2
        if any(p[:2]) or any(p[half:half + 2]):
            raise ValueError("padding of the batch or channel axis is not supported")
        pads = tuple((p[i], p[i + half]) for i in range(2, half))
        return (lambda x: F.pad(x, pads)), (Ref(ins[0]),), None
    same = _same_named_op(op)  # ops whose ONNX twin takes the same inputs and no attributes
    if same is not None:
        return (lambda *xs: apply(same, *xs)), tuple(_value(v, init) for v in ins), None
    return None


def _same_named_op(op_type: str):
    return next((op for op in op_registry.all_ops() if op.onnx == op_type), None)
