"""ONNX bridge: write a convscope model as an ONNX graph (from its trace), and read ONNX files from
any framework into convscope (onnx_import), so `convscope summary model.onnx` analyses them.
Needs `onnx` (and `onnxruntime` to run the files): pip install convscope[onnx].
"""
from __future__ import annotations

import numpy as np

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

from .onnx_import import from_onnx  # noqa: E402,F401  (the import lives in its own modules)
