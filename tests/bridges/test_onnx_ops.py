"""ONNX ops one at a time, in graphs written with the onnx helper API: each imported graph computes
what onnxruntime computes (max|diff| <= 1e-5 relative), random geometries by hypothesis."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import convscope as cs

X = (2, 4, 6, 5)


def graph_file(tmp_path, nodes, consts=None, shape=X, opset=17, out="y", name="g.onnx"):
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (consts or {}).items()]
    g = helper.make_graph(nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_empty_tensor_value_info(o) for o in out.split(",")], inits)
    path = tmp_path / name
    model = onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]))
    onnx.save(model, str(path))  # outputs typed by ONNX's shape inference (the checker wants them typed)
    return path


def check(path, shape=X, seed=0):
    """Outputs of the imported model equal onnxruntime's; returns the model."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 3
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    model = cs.from_onnx(path)
    got = model(cs.Tensor(x))
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g.data, w, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(w).max(initial=0)))
    return model


def node(op, inputs, outputs="y", **attrs):
    return helper.make_node(op, list(inputs), outputs.split(","), name=f"/block/{outputs[0]}/{op}", **attrs)


# ------------------------------------------------------------------------------ reductions

@pytest.mark.parametrize("axes", [[2, 3], [1], [-1], [1, 2, 3]])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_with_axes_as_attribute(tmp_path, axes, keepdims):
    check(graph_file(tmp_path, [node("ReduceMean", ["x"], axes=axes, keepdims=keepdims)]))


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceMax"])
def test_reductions_with_axes_as_input_opset_18(tmp_path, op):
    path = graph_file(tmp_path, [node(op, ["x", "axes"], keepdims=0)], {"axes": np.array([2, 3], np.int64)}, opset=18)
    check(path)


def test_reduce_sum_opset_13_and_spatial_mean_is_a_global_pool(tmp_path):
    check(graph_file(tmp_path, [node("ReduceSum", ["x", "axes"])], {"axes": np.array([1], np.int64)}, opset=13))
    s = cs.summary(cs.from_onnx(graph_file(tmp_path, [node("ReduceMean", ["x"], axes=[2, 3], keepdims=0)],
                                           name="m.onnx")), X[1:])
    assert [(r.name, r.output_shape) for r in s.rows] == [("/block/y/ReduceMean", (4,))]


# ------------------------------------------------------------------------------ shapes

@settings(max_examples=25, deadline=None)
@given(st.permutations(range(4)))
def test_transpose_any_permutation(tmp_path_factory, perm):
    check(graph_file(tmp_path_factory.mktemp("t"), [node("Transpose", ["x"], perm=list(perm))]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-8, 8), st.integers(-8, 8), st.sampled_from([1, 2, -1, -2])),
                min_size=1, max_size=3), st.data())
def test_slice_any_starts_ends_steps(tmp_path_factory, spans, data):
    axes = data.draw(st.lists(st.integers(1, 3), min_size=len(spans), max_size=len(spans), unique=True))
    starts, ends, steps = (np.array([s[k] for s in spans], np.int64) for k in range(3))
    path = graph_file(tmp_path_factory.mktemp("s"), [node("Slice", ["x", "starts", "ends", "axes", "steps"])],
                      {"starts": starts, "ends": ends, "axes": np.array(axes, np.int64), "steps": steps})
    check(path)


@pytest.mark.parametrize("opset,inputs,attrs,outs", [
    (13, ["x", "split"], {"axis": 1}, "a,b"),  # sizes as an input (opset 13+)
    (11, ["x"], {"axis": 1, "split": [1, 3]}, "a,b"),  # sizes as an attribute
    (13, ["x"], {"axis": 2}, "a,b,c"),  # equal parts
    (18, ["x"], {"axis": 3, "num_outputs": 2}, "a,b"),  # 5 into 3 + 2
])
def test_split(tmp_path, opset, inputs, attrs, outs):
    consts = {"split": np.array([3, 1], np.int64)} if "split" in inputs else {}
    check(graph_file(tmp_path, [node("Split", inputs, outs, **attrs)], consts, opset=opset, out=outs))


@pytest.mark.parametrize("index", [np.array(2, np.int64), np.array([3, 0, 0], np.int64), np.array(-1, np.int64)])
def test_gather_with_constant_indices(tmp_path, index):
    check(graph_file(tmp_path, [node("Gather", ["x", "i"], axis=1)], {"i": index}))


def test_squeeze_unsqueeze_flatten(tmp_path):
    nodes = [node("Unsqueeze", ["x", "a"], "u"), node("Flatten", ["u"], "f", axis=3),
             node("Unsqueeze", ["f", "b"], "g"), node("Squeeze", ["g", "b"], "y")]
    check(graph_file(tmp_path, nodes, {"a": np.array([2], np.int64), "b": np.array([0], np.int64)}))


def test_shape_subgraph_folds_to_a_constant(tmp_path):
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape (a flatten written by an exporter): no rows for it."""
    nodes = [node("Shape", ["x"], "s"), node("Gather", ["s", "zero"], "n", axis=0),
             node("Unsqueeze", ["n", "axes"], "n1"), node("Concat", ["n1", "minus1"], "target", axis=0),
             node("Reshape", ["x", "target"], "y")]
    consts = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    model = check(graph_file(tmp_path, nodes, consts))
    assert [r.kind for r in cs.summary(model, X[1:]).rows] == ["Reshape"]


def test_all_constant_nodes_fold_through_the_op_registry(tmp_path):
    """Relu of a constant runs once at import: the graph keeps one Add."""
    nodes = [node("Relu", ["c"], "rc"), node("Add", ["x", "rc"], "y")]
    model = check(graph_file(tmp_path, nodes, {"c": np.linspace(-1, 1, 5).astype(np.float32)}))
    assert [r.kind for r in cs.summary(model, X[1:]).rows] == ["Add"]


# ------------------------------------------------------------------------------ element-wise

@pytest.mark.parametrize("bounds", [(0.0, 6.0), (-1.0, None), (None, 0.5)])
def test_clip(tmp_path, bounds):
    consts = {k: np.array(v, np.float32) for k, v in zip(("lo", "hi"), bounds) if v is not None}
    inputs = ["x", "lo" if bounds[0] is not None else "", "hi" if bounds[1] is not None else ""]
    check(graph_file(tmp_path, [node("Clip", inputs)], consts))


@pytest.mark.parametrize("op,attrs", [("HardSwish", {}), ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
                                      ("HardSigmoid", {}), ("LeakyRelu", {"alpha": 0.2}), ("Sigmoid", {}),
                                      ("Neg", {}), ("Softmax", {"axis": 1})])
def test_activations(tmp_path, op, attrs):
    check(graph_file(tmp_path, [node(op, ["x"], **attrs)]))


def test_arithmetic_with_graph_values_and_constants(tmp_path):
    nodes = [node("Sub", ["x", "c"], "a"), node("Div", ["a", "d"], "b"), node("Mul", ["b", "b"], "m"),
             node("Sqrt", ["m"], "r"), node("Pow", ["r", "e"], "y")]
    consts = {"c": np.float32(0.5), "d": np.full((1, 4, 1, 1), 2.0, np.float32), "e": np.float32(3.0)}
    check(graph_file(tmp_path, nodes, consts))


@pytest.mark.parametrize("right, shape", [("graph", None), ("const", (5, 3)), ("const", (4, 5, 3)), ("const", (1, 1, 5, 2))])
def test_matmul_is_a_linear_only_with_a_constant_matrix(tmp_path, right, shape):
    """MatMul of two graph values or of a batched constant applies the matmul op; with a constant
    matrix (in, out) on the right it builds a Linear without bias."""
    rng = np.random.default_rng(len(shape or ()))
    if right == "graph":
        nodes, consts = [node("Transpose", ["x"], "t", perm=[0, 1, 3, 2]), node("MatMul", ["x", "t"])], {}
    else:
        nodes, consts = [node("MatMul", ["x", "w"])], {"w": rng.standard_normal(shape).astype(np.float32)}
    model = check(graph_file(tmp_path, nodes, consts))
    linears = [m for _, m in model.named_modules() if isinstance(m, cs.nn.Linear)]
    assert [(m.in_features, m.out_features, m.bias) for m in linears] == ([(5, 3, None)] if shape == (5, 3) else [])


def test_erf_form_of_gelu_is_one_gelu_row(tmp_path):
    nodes = [node("Div", ["x", "sqrt2"], "d"), node("Erf", ["d"], "e"), node("Add", ["e", "one"], "a"),
             node("Mul", ["x", "a"], "m"), node("Mul", ["m", "half"], "y")]
    consts = {"sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    model = check(graph_file(tmp_path, nodes, consts))
    rows = cs.summary(model, X[1:]).rows
    assert [(r.kind, r.name) for r in rows] == [("Gelu", "/block/e/Gelu")]  # named after the Erf node's block


@pytest.mark.parametrize("axis,bias", [(-1, True), (1, True), (2, False)])
def test_layer_normalization(tmp_path, axis, bias):
    shape = X[axis:] if axis != -1 else X[-1:]
    consts = {"w": np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape).astype(np.float32)}
    if bias:
        consts["b"] = np.linspace(-1, 1, int(np.prod(shape))).reshape(shape).astype(np.float32)
    model = check(graph_file(tmp_path, [node("LayerNormalization", ["x", "w", "b"][:3 if bias else 2], axis=axis,
                                             epsilon=1e-5)], consts))
    assert cs.summary(model, X[1:]).totals["params"] == sum(v.size for v in consts.values())


# ------------------------------------------------------------------------------ padding and resampling

def test_zero_padding_of_spatial_axes(tmp_path):
    pads = np.array([0, 0, 1, 2, 0, 0, 3, 0], np.int64)
    check(graph_file(tmp_path, [node("Pad", ["x", "pads"])], {"pads": pads}))


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
def test_pad_modes(tmp_path, mode):
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)
    check(graph_file(tmp_path, [node("Pad", ["x", "pads"], mode=mode)], {"pads": pads}, opset=19))


def test_constant_padding_with_a_value(tmp_path):
    pads = np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    check(graph_file(tmp_path, [node("Pad", ["x", "pads", "v"])], {"pads": pads, "v": np.float32(-2.5)}))


@pytest.mark.parametrize("attrs,scales", [
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, [1, 1, 2, 3]),
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, [1, 1, 2, 2]),
    ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, [1, 1, 1.5, 2]),
])
def test_resize(tmp_path, attrs, scales):
    consts = {"scales": np.array(scales, np.float32)}
    check(graph_file(tmp_path, [node("Resize", ["x", "", "scales"], **attrs)], consts))


def test_resize_to_sizes(tmp_path):
    consts = {"sizes": np.array([2, 4, 9, 11], np.int64)}
    check(graph_file(tmp_path, [node("Resize", ["x", "", "", "sizes"], mode="linear",
                                     coordinate_transformation_mode="half_pixel")], consts))


@pytest.mark.parametrize("value", [None, np.array([2.5], np.float32), np.array([3], np.int64)])
def test_constant_of_shape_folds_with_its_value(tmp_path, value):
    kw = {} if value is None else {"value": numpy_helper.from_array(value)}
    nodes = [node("Shape", ["x"], "s"), node("ConstantOfShape", ["s"], "c", **kw), node("Cast", ["c"], "f", to=1),
             node("Add", ["x", "f"])]
    check(graph_file(tmp_path, nodes))


# ------------------------------------------------------------------------------ windows

@pytest.mark.parametrize("attrs, message", [
    (dict(kernel_shape=[7, 3]), r"MaxPool \(spatial axis 0\): kernel 7 \(dilated 7\) > padded input 6"),
    (dict(kernel_shape=[3, 3], strides=[2, 2], dilations=[1, 3]), r"MaxPool \(spatial axis 1\): kernel 3 \(dilated 7\)"),
    (dict(kernel_shape=[2, 3], pads=[1, 3, 1, 0]), r"MaxPool \(spatial axis 1\): padding \(3, 0\) leaves window 0 "
     r"\(kernel 3, dilation 1, stride 1\) with no input cell"),
])
def test_a_pool_that_cannot_run_is_refused_at_import(tmp_path, attrs, message):
    """The pooling window rules (output size, padding leaving an input cell in every window) are checked when the
    file is read, naming the op and the axis, not at the first forward."""
    path = graph_file(tmp_path, [node("MaxPool", ["x"], **attrs)])
    with pytest.raises(ValueError, match=message):
        cs.from_onnx(path)
