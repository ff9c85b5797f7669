"""ONNX bridge: write a convscope model as an ONNX graph (from its trace), and read ONNX files from
any framework into convscope, so `convscope summary model.onnx` analyses them.
Needs `onnx` (and `onnxruntime` to run the files): pip install convscope[onnx].
"""
from __future__ import annotations

import numpy as np

from ..nn import functional as F
from ..nn import registry
from ..ops.geometry import output_size, resolve_padding
from ..tensor import Tensor, concat
from .graph import GraphModel, Ref, keepdims_pool

OPSET = 17
ELEMENTWISE = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log"}
BINARY = {"add": "Add", "mul": "Mul"}


# ------------------------------------------------------------------------------ export

def to_onnx(model, input_shape, path, batch_size: int | str = "batch"):
    """Write `model` as ONNX (opset 17) built from its shape-only trace; checked with onnx.checker.

    The batch dimension is symbolic ("batch") unless an int is given. Returns the ModelProto.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ..analysis import trace

    graph = trace(model, input_shape)
    nodes, inits, problems = [], [], []
    name = lambda i: "input" if i == 0 else f"t{i}"  # noqa: E731

    def const(arr, hint, dtype=np.float32):
        key = f"{hint}_{len(inits)}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(np.asarray(arr, dtype)), key))
        return key

    for node in graph.nodes[1:]:
        ins = [name(p) for p in node.parents]
        out, op, a = name(node.index), node.op, node.attrs
        if op in ("conv", "conv_transpose"):
            geo = a["geometry"]
            kw = dict(kernel_shape=list(geo.kernel), strides=list(geo.stride), dilations=list(geo.dilation),
                      group=geo.groups, pads=[p[0] for p in geo.pads] + [p[1] for p in geo.pads])
            args = ins + [const(c, op) for c in node.consts]
            if op == "conv_transpose":
                # ONNX's ConvTranspose output: (i-1)s + d(k-1) + 1 - pads + output_padding; pads here are
                # the transposed op's own, geo describes the conv from its output back to its input
                produced = tuple((i - 1) * s + d * (k - 1) + 1 - lo - hi for i, s, d, k, (lo, hi) in
                                 zip(geo.out_size, geo.stride, geo.dilation, geo.kernel, geo.pads))
                kw["output_padding"] = [o - p for o, p in zip(geo.in_size, produced)]
            nodes.append(helper.make_node("Conv" if op == "conv" else "ConvTranspose", args, [out], **kw))
        elif op in ("max_pool", "avg_pool"):
            geo = a["geometry"]
            ceil = int(any(p[1] != u[1] for p, u in zip(geo.pads, geo.user_pads)))
            kw = dict(kernel_shape=list(geo.kernel), strides=list(geo.stride), ceil_mode=ceil,
                      pads=[p[0] for p in geo.user_pads] + [p[1] for p in geo.user_pads])
            if op == "max_pool":
                kw["dilations"] = list(geo.dilation)
            nodes.append(helper.make_node("MaxPool" if op == "max_pool" else "AveragePool", ins, [out], **kw))
        elif op in ("global_avg_pool", "global_max_pool"):
            kind = "GlobalAveragePool" if op == "global_avg_pool" else "GlobalMaxPool"
            nodes += [helper.make_node(kind, ins, [out + "_4d"]), helper.make_node("Flatten", [out + "_4d"], [out], axis=1)]
        elif op in ELEMENTWISE:
            nodes.append(helper.make_node(ELEMENTWISE[op], ins, [out]))
        elif op == "leaky_relu":
            nodes.append(helper.make_node("LeakyRelu", ins, [out], alpha=float(a["negative_slope"])))
        elif op == "softmax":
            nodes.append(helper.make_node("Softmax", ins, [out], axis=int(a["axis"])))
        elif op == "batch_norm":
            c = node.shape[1]
            consts = list(node.consts)
            scale = consts.pop(0) if a["affine"][0] else np.ones(c)
            shift = consts.pop(0) if a["affine"][1] else np.zeros(c)
            args = ins + [const(v, k) for v, k in ((scale, "scale"), (shift, "shift"), (a["running_mean"], "mean"),
                                                      (a["running_var"], "var"))]
            nodes.append(helper.make_node("BatchNormalization", args, [out], epsilon=float(a["eps"])))
        elif op == "linear":
            args = ins + [const(c, "linear") for c in node.consts]
            nodes.append(helper.make_node("Gemm", args, [out], transB=1))
        elif op in BINARY and len(ins) + len(node.consts) == 2:
            nodes.append(helper.make_node(BINARY[op], ins + [const(c, op) for c in node.consts], [out]))
        elif op == "concat":
            nodes.append(helper.make_node("Concat", ins, [out], axis=int(a["axis"])))
        elif op == "reshape":
            shape = const([0, *node.shape[1:]], "shape", np.int64)
            nodes.append(helper.make_node("Reshape", ins + [shape], [out]))
        elif op == "transpose" and ins:
            nodes.append(helper.make_node("Transpose", ins, [out], perm=list(a["perm"])))
        elif op == "pad":
            geo = a["geometry"]
            pads = const([0, 0, *[p[0] for p in geo.pads], 0, 0, *[p[1] for p in geo.pads]], "pads", np.int64)
            nodes.append(helper.make_node("Pad", ins + [pads], [out]))
        else:
            problems.append(f"{op} (node {node.index}, in {graph.names.get(id(node.modules[-1]), '-') if node.modules else '-'})")
    if problems:
        raise ValueError("to_onnx: no ONNX export for: " + "; ".join(problems))
    batch = batch_size
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, *input_shape])
    y = helper.make_tensor_value_info(name(graph.outputs[0]), TensorProto.FLOAT, [batch, *graph.output.shape[1:]])
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
    unary = {"Relu": F.relu, "Sigmoid": F.sigmoid, "Tanh": F.tanh, "Identity": lambda x: x, "Dropout": lambda x: x,
             "LeakyRelu": lambda x: F.leaky_relu(x, a.get("alpha", 0.01)),
             "Softmax": lambda x: F.softmax(x, a.get("axis", -1)),
             "Flatten": lambda x: x.reshape(int(np.prod(x.shape[:a.get("axis", 1)])), -1)}
    if op in unary:
        return unary[op], (Ref(ins[0]),), None
    binary = {"Add": lambda p, q: p + q, "Mul": lambda p, q: p * q, "Sub": lambda p, q: p - q, "Div": lambda p, q: p / q}
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
    return None
