"""torchvision's CNN families exported by PyTorch's ONNX exporter (opset 17, 64x64; Inception v3 at
75x75; AlexNet and VGG at 224x224), segmentation heads included, come back through
cs.from_onnx with outputs equal to onnxruntime's (max|diff| / max|ref| <= 1e-4), parameters equal to
the file's, summary rows named by the ONNX nodes, and the same summary shape-only (meta=True)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import convscope as cs
from tests.bridges import torchvision_models

FAMILIES = ["alexnet", "vgg11", "vgg11_bn", "resnet18", "densenet121", "squeezenet1_0", "mobilenet_v2",
            "mobilenet_v3_small", "shufflenet_v2_x0_5",
            "efficientnet_b0", "convnext_tiny", "mnasnet0_5", "regnet_y_400mf", "googlenet", "inception_v3",
            "fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]


FULL_SIZE = ("alexnet", "vgg11", "vgg11_bn")  # below 224x224 their adaptive pooling does not export


def size(name):
    return 224 if name in FULL_SIZE else 75 if name == "inception_v3" else 64


def build(name):
    torch.manual_seed(0)
    return torchvision_models.build(name)


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request, tmp_path_factory):
    name = request.param
    path = tmp_path_factory.mktemp("onnx") / f"{name}.onnx"
    torch.onnx.export(build(name), torch.zeros(1, 3, size(name), size(name)), str(path), opset_version=17,
                      dynamo=False, input_names=["input"])
    x = np.random.default_rng(0).standard_normal((1, 3, size(name), size(name))).astype(np.float32)
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    return name, path, x, ref


def file_parameters(path) -> int:
    """Float values the file's nodes read from initializers (an Identity alias is a weight of its own,
    as PyTorch's exporter writes shared-by-value weights), without BatchNorm's running statistics."""
    g = onnx.load(str(path)).graph
    size = {t.name: int(np.prod(t.dims)) for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT}
    for n in g.node:
        if n.op_type == "Identity" and n.input[0] in size:
            size[n.output[0]] = size[n.input[0]]
    used = {name for n in g.node if n.op_type != "Identity" for i, name in enumerate(n.input)
            if name in size and not (n.op_type == "BatchNormalization" and i >= 3)}
    return sum(size[name] for name in used)


def test_outputs_equal_onnxruntime(exported):
    name, path, x, ref = exported
    model = cs.from_onnx(path)
    out = model(cs.Tensor(x))
    out = out if isinstance(out, tuple) else (out,)
    for ours, theirs in zip(out, ref):
        assert ours.shape == theirs.shape
        assert np.abs(ours.data - theirs).max() / np.abs(theirs).max() <= 1e-4, name


def test_summary_parameters_and_names(exported):
    name, path, x, ref = exported
    full = cs.summary(cs.from_onnx(path), x.shape[1:])
    shape_only = cs.summary(cs.from_onnx(path, meta=True), x.shape[1:])
    assert full.totals["params"] == shape_only.totals["params"] == file_parameters(path)
    assert full.totals["macs"] == shape_only.totals["macs"] > 0
    assert [r.name for r in full.rows] == [r.name for r in shape_only.rows]
    nodes = {n.name for n in onnx.load(str(path)).graph.node}
    convs = [r for r in full.rows if r.kind == "Conv2d"]
    assert convs and all(r.name in nodes and r.name.endswith("/Conv") for r in convs)
    assert full.rows[-1].output_shape == tuple(ref[0].shape[1:])


def test_a_dynamic_batch_axis_runs_shape_computations_with_the_model(tmp_path):
    """ShuffleNet's channel shuffle and split, exported with a symbolic batch, are Shape -> Gather ->
    Div -> Concat -> Reshape/Slice chains that cannot fold: they run at each call, at any batch."""
    path = tmp_path / "shufflenet_dynamic.onnx"
    torch.onnx.export(build("shufflenet_v2_x0_5"), torch.zeros(1, 3, 64, 64), str(path), opset_version=17,
                      dynamo=False, input_names=["input"], output_names=["out"],
                      dynamic_axes={"input": {0: "batch"}, "out": {0: "batch"}})
    model = cs.from_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 64, 64)).astype(np.float32)
        ref = session.run(None, {"input": x})[0]
        assert np.abs(model(cs.Tensor(x)).data - ref).max() / np.abs(ref).max() <= 1e-4
    s = cs.summary(cs.from_onnx(path, meta=True), (3, 64, 64), batch_size=3)
    assert "Shape" not in {r.kind for r in s.rows} and s.totals["params"] == file_parameters(path)
