"""ONNX's variadic Max, Min, Sum and Mean (any number of inputs, broadcast together), and nodes whose
settings the graph computes, imported from files with several graph inputs: values and the gradient
of every input against PyTorch (a stack of the broadcast inputs reduced, ties sharing equally as
torch.amax does) and onnxruntime."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

import convscope as cs

SHAPES = [[(2, 3, 4)], [(2, 3, 4), (3, 1)], [(2, 1, 4), (1, 3, 1), (4,)], [(3, 4), (3, 4), (3, 4), (1, 4)]]
TORCH = {"Max": lambda s: s.amax(0), "Min": lambda s: s.amin(0), "Sum": lambda s: s.sum(0), "Mean": lambda s: s.mean(0)}


def save(graph, path):
    """The graph with its outputs typed by ONNX's shape inference (the checker wants them typed)."""
    onnx.save(onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])),
              str(path))


def variadic_file(tmp_path, op, shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    g = helper.make_graph([helper.make_node(op, names, ["y"], name=f"/{op}")], "variadic",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in zip(names, shapes)],
                          [helper.make_empty_tensor_value_info("y")])
    path = tmp_path / f"{op}.onnx"
    save(g, path)
    return path


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("op", list(TORCH))
def test_variadic_ops_equal_torch_with_gradients_and_onnxruntime(tmp_path, op, shapes):
    rng = np.random.default_rng(len(shapes))
    xs = [rng.integers(-2, 3, s).astype(np.float32) for s in shapes]  # ties everywhere, exact sums
    path = variadic_file(tmp_path, op, shapes)
    ts = [cs.Tensor(x, requires_grad=True) for x in xs]
    y = cs.from_onnx(path)(*ts)
    tt = [torch.tensor(x, requires_grad=True) for x in xs]
    z = TORCH[op](torch.stack(torch.broadcast_tensors(*tt)))
    np.testing.assert_array_equal(y.data, z.detach().numpy())
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {f"x{i}": x for i, x in enumerate(xs)})[0]
    np.testing.assert_allclose(y.data, want, rtol=1e-6)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    z.backward(torch.tensor(g))
    for a, b in zip(ts, tt):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_a_conv_whose_weight_and_pads_the_graph_computes_runs_and_its_input_gets_the_gradient(tmp_path):
    """The weight is an input times 2 and the pads a Concat of inputs: converted when the node runs."""
    nodes = [helper.make_node("Mul", ["w", "two"], ["w2"]),
             helper.make_node("Concat", ["lo", "hi"], ["pads"], axis=0),
             helper.make_node("Pad", ["x", "pads"], ["xp"]),
             helper.make_node("Conv", ["xp", "w2"], ["y"], name="/conv")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5]),
              helper.make_tensor_value_info("w", TensorProto.FLOAT, [3, 2, 3, 3]),
              helper.make_tensor_value_info("lo", TensorProto.INT64, [4]),
              helper.make_tensor_value_info("hi", TensorProto.INT64, [4])]
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    g = helper.make_graph(nodes, "computed", inputs, [helper.make_empty_tensor_value_info("y")], [two])
    path = tmp_path / "computed.onnx"
    save(g, path)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 5, 5)).astype(np.float32), rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    lo, hi = np.array([0, 0, 1, 0], np.int64), np.array([0, 0, 1, 2], np.int64)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x, "w": w, "lo": lo, "hi": hi})[0]
    a = cs.Tensor(x, requires_grad=True)
    y = cs.from_onnx(path)(a, cs.Tensor(w), lo, hi)
    np.testing.assert_allclose(y.data, want, rtol=1e-5, atol=1e-5)
    y.sum().backward()
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.conv2d(torch.nn.functional.pad(t, (0, 2, 1, 1)), torch.tensor(w * 2)).sum().backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-5, atol=1e-5)
