"""An ONNX file with ops convscope cannot run: conversion refuses with one line per op type and its
count, while the analysis (meta=True, the summary command) still shows every node as a row, named by
the ONNX node, the unknown ones shaped by ONNX's shape inference and flagged "not counted"."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import convscope as cs
from convscope import cli


@pytest.fixture(scope="module")
def unknown_ops(tmp_path_factory):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((4, 8, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array([2], np.int64), "k")]
    nodes = [helper.make_node("Conv", ["input", "w1"], ["a"], name="/stem/conv.0/Conv", pads=[1] * 4),
             helper.make_node("Sin", ["a"], ["b"], name="/stem/act.0/Sin"),
             helper.make_node("Conv", ["b", "w2"], ["c"], name="/stem/conv.1/Conv", strides=[2, 2]),
             helper.make_node("Sin", ["c"], ["d"], name="/stem/act.1/Sin"),
             helper.make_node("Cos", ["d"], ["e"], name="/head/Cos"),
             helper.make_node("TopK", ["e", "k"], ["f", "idx"], name="/head/TopK", axis=3),
             helper.make_node("Relu", ["f"], ["out"], name="/head/Relu")]
    graph = helper.make_graph(nodes, "unknown", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 12, 12])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 5, 2])], inits)
    path = tmp_path_factory.mktemp("graceful") / "unknown.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_conversion_refuses_with_one_line_per_op_type(unknown_ops):
    with pytest.raises(ValueError) as err:
        cs.from_onnx(unknown_ops)
    lines = str(err.value).splitlines()
    assert "cannot convert 4 node(s) of 3 op type(s)" in lines[0] and "meta=True" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["Sin x2", "Cos x1", "TopK x1"]
    assert "first: node 1 '/stem/act.0/Sin' (Sin)" in lines[1]


def test_summary_shows_every_node_with_unknown_ops_not_counted(unknown_ops):
    s = cs.summary(cs.from_onnx(unknown_ops, meta=True), (3, 12, 12))
    names = [n.name for n in onnx.load(str(unknown_ops)).graph.node]
    assert [r.name for r in s.rows] == names
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["/stem/act.1/Sin"] == (4, 5, 5) and shapes["/head/TopK"] == (4, 5, 2)
    for r in s.rows:
        opaque = r.kind in ("Sin", "Cos", "TopK")
        assert any("not counted" in n for n in r.notes) == opaque, r
    assert s.totals["params"] == 8 * 3 * 9 + 4 * 8 * 9
    assert s.totals["macs"] == 8 * 27 * 144 + 4 * 72 * 25  # the two convolutions; the unknown ops count nothing


def test_summary_command_prints_the_rows(unknown_ops, capsys):
    assert cli.main(["summary", str(unknown_ops), "--wide"]) == 0
    out = capsys.readouterr().out
    assert "/head/TopK" in out and "/stem/act.0/Sin" in out and "not counted" in out


def test_unknown_ops_are_shaped_for_the_files_input_size_only(unknown_ops):
    model = cs.from_onnx(unknown_ops, meta=True)
    with pytest.raises(ValueError, match=r"'/stem/act.0/Sin' \(Sin\) is known by its shape only.*\(8, 12, 12\).*"
                                         r"\(8, 16, 16\)"):
        cs.summary(model, (3, 16, 16))


def test_module_names_are_sanitised_display_names_are_kept(unknown_ops):
    model = cs.from_onnx(unknown_ops, meta=True)
    attrs = [name for name, _ in model.named_modules() if name]
    assert attrs == ["stem_conv_0_Conv", "stem_act_0_Sin", "stem_conv_1_Conv", "stem_act_1_Sin", "head_Cos",
                     "head_TopK", "head_Relu"]
    assert model.get("stem_conv_1_Conv").display_name == "/stem/conv.1/Conv"
    assert set(model.state_dict()) == {"stem_conv_0_Conv.weight", "stem_conv_1_Conv.weight"}
