"""ONNX bridge: export checked by onnx.checker and onnxruntime, import of files from PyTorch's exporter
and of files built with the onnx helper API (auto_pad, asymmetric pads, Pad), clear errors."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import convscope as cs
from convscope import cli, zoo
from tests.analysis.torch_zoo import REFERENCES

nn = cs.nn


def run_ort(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def mixed_model():
    cs.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=((0, 1), (1, 0))), nn.BatchNorm2d(4), nn.LeakyReLU(0.1),
        nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), nn.MaxPool2d(2, ceil_mode=True),
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        nn.Residual(nn.Sequential(nn.Conv2d(3, 3, 3, padding="same"), nn.Tanh())),
        nn.Concat(nn.Identity(), nn.Conv2d(3, 2, 1)), nn.Flatten(), nn.Linear(100, 7), nn.Softmax(dim=1))
    model[1].running_mean[...] = np.arange(4)
    model[1].running_var[...] = np.arange(1, 5)
    return model.eval()


def test_round_trip_through_onnx_and_onnxruntime(tmp_path):
    model = mixed_model()
    x = np.random.default_rng(0).standard_normal((2, 1, 9, 10)).astype(np.float32)
    expected = model(cs.Tensor(x)).data
    proto = cs.to_onnx(model, (1, 9, 10), tmp_path / "m.onnx")
    assert proto.opset_import[0].version >= 17
    np.testing.assert_allclose(run_ort(tmp_path / "m.onnx", x), expected, rtol=1e-4, atol=1e-4)
    back = cs.from_onnx(tmp_path / "m.onnx")
    np.testing.assert_allclose(back(cs.Tensor(x)).data, expected, rtol=1e-4, atol=1e-4)
    assert cs.summary(back, (1, 9, 10)).totals["macs"] == cs.summary(model, (1, 9, 10)).totals["macs"]


def test_zoo_resnet18_exports_and_runs(tmp_path):
    model = zoo.load("resnet18").eval()
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    cs.to_onnx(model, (3, 64, 64), tmp_path / "r.onnx")
    np.testing.assert_allclose(run_ort(tmp_path / "r.onnx", x), model(cs.Tensor(x)).data, rtol=1e-4, atol=1e-4)


def test_a_file_from_pytorchs_exporter_is_analysed(tmp_path, capsys):
    reference = REFERENCES["resnet18"]().eval()
    path = tmp_path / "torch_resnet18.onnx"
    torch.onnx.export(reference, torch.zeros(1, 3, 64, 64), str(path), dynamo=False, opset_version=17,
                      input_names=["input"])
    model = cs.from_onnx(path)
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(model(cs.Tensor(x)).data, reference(torch.tensor(x)).numpy(), rtol=1e-4, atol=1e-4)
    # the exporter folds each BatchNorm into its convolution: same MACs, same receptive fields
    ours = cs.summary(model, (3, 64, 64))
    assert ours.totals["macs"] == cs.summary(zoo.load("resnet18"), (3, 64, 64)).totals["macs"]
    assert cli.main(["summary", str(path), "--markdown"]) == 0
    assert "Conv2d" in capsys.readouterr().out


def helper_model(tmp_path):
    """A graph written with the onnx helper API: SAME_UPPER, SAME_LOWER, VALID, asymmetric pads, Pad, MatMul."""
    rng = np.random.default_rng(3)
    w = {k: numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k) for k, s in
         [("w1", (2, 1, 3, 3)), ("w2", (2, 2, 2, 2)), ("w3", (2, 2, 3, 3)), ("w4", (2, 2, 3, 2)), ("m", (2 * 3 * 4, 5))]}
    pads = numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "pads")
    shape = numpy_helper.from_array(np.array([0, -1], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["input", "w1"], ["a"], auto_pad="SAME_UPPER", strides=[2, 2]),
             helper.make_node("Conv", ["a", "w2"], ["b"], auto_pad="SAME_LOWER"),
             helper.make_node("Pad", ["b", "pads"], ["c"]),
             helper.make_node("Conv", ["c", "w3"], ["d"], auto_pad="VALID"),
             helper.make_node("Conv", ["d", "w4"], ["e"], pads=[0, 1, 2, 0]),
             helper.make_node("MaxPool", ["e"], ["f"], kernel_shape=[2, 2], auto_pad="SAME_UPPER", strides=[2, 2]),
             helper.make_node("Relu", ["f"], ["g"]),
             helper.make_node("Reshape", ["g", "shape"], ["h"]),
             helper.make_node("MatMul", ["h", "m"], ["out"])]
    graph = helper.make_graph(nodes, "helper_net", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 11, 15])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 5])], list(w.values()) + [pads, shape])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    path = tmp_path / "helper.onnx"
    onnx.save(proto, str(path))
    return path


def test_helper_built_graph_with_auto_pad_and_asymmetric_pads(tmp_path):
    path = helper_model(tmp_path)
    x = np.random.default_rng(4).standard_normal((1, 1, 11, 15)).astype(np.float32)
    model = cs.from_onnx(path)
    np.testing.assert_allclose(model(cs.Tensor(x)).data, run_ort(path, x), rtol=1e-4, atol=1e-4)
    s = cs.summary(model, (1, 11, 15))
    assert [r.kind for r in s.rows][:4] == ["Conv2d", "Conv2d", "Pad", "Conv2d"]


def test_malformed_and_unsupported_files_name_the_problem(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf")
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        cs.from_onnx(bad)
    nodes = [helper.make_node("Sin", ["input"], ["out"], name="my_sin")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "sin.onnx"))
    with pytest.raises(ValueError, match="Sin x1: no convscope op for it \\(first: node 0 'my_sin' \\(Sin\\)\\)"):
        cs.from_onnx(tmp_path / "sin.onnx")
    with pytest.raises(ValueError, match="no ONNX export for: kmax_pool"):
        cs.to_onnx(nn.Sequential(nn.KMaxPool(2)), (2, 6), tmp_path / "k.onnx")
