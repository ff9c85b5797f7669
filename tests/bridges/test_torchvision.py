"""Every torchvision CNN family through from_torch, against PyTorch: outputs, parameter counts,
MACs counted independently from the torch modules, receptive fields and the summary.

Small inputs (64x64; Inception v3 needs 75x75), batch 1, weights=None with BatchNorm running
statistics randomised, eval mode. Each model is built and converted once (module-scoped fixture).
"""
import numpy as np
import pytest
import torch

import convscope as cs
from tests.bridges.torchvision_models import build

CLASSIFIERS = ["alexnet", "vgg11", "vgg11_bn", "resnet18", "resnext50_32x4d", "wide_resnet50_2", "googlenet",
               "inception_v3", "densenet121", "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small",
               "shufflenet_v2_x0_5", "mnasnet0_5", "efficientnet_b0", "regnet_x_400mf", "convnext_tiny"]
SEGMENTATION = ["fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]


def conv_linear_macs(module, x) -> int:
    """Multiply-accumulates of the convolutions and linear layers of one sample, from torch's own
    modules and the output shapes forward hooks see."""
    total = []

    def hook(m, inputs, out):
        per_output = m.in_features if isinstance(m, torch.nn.Linear) else \
            m.in_channels // m.groups * int(np.prod(m.kernel_size))
        total.append(out[0].numel() * per_output)

    kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            module(x[:1])
    finally:
        for h in handles:
            h.remove()
    return sum(total)


def tensors(out) -> list:
    if isinstance(out, dict):
        return [t for v in out.values() for t in tensors(v)]
    return [out]


@pytest.fixture(scope="module", params=CLASSIFIERS + SEGMENTATION)
def reference(request):
    """(name, torch module in eval mode, one sample's shape, a batch-1 input, torch's output)."""
    name = request.param
    torch.manual_seed(0)
    module = build(name)  # eval mode, BatchNorm running statistics drawn non-trivially
    shape = (3, 75, 75) if name == "inception_v3" else (3, 64, 64)
    x = torch.randn(1, *shape)
    with torch.no_grad():
        expected = module(x)
    return name, module, shape, x, expected


@pytest.fixture(scope="module")
def converted(reference):
    name, module, shape, _, _ = reference
    return cs.from_torch(module, shape)


@pytest.fixture(scope="module")
def summary(reference, converted):
    return cs.summary(converted, reference[2])


def test_outputs_equal_pytorchs(reference, converted):
    name, _, _, x, expected = reference
    with cs.no_grad():
        got = converted(cs.Tensor(x.numpy()))
    assert isinstance(got, dict) == isinstance(expected, dict)  # segmentation models return {"out": ...}
    if isinstance(expected, dict):
        assert list(got) == list(expected)
    for g, e in zip(tensors(got), tensors(expected), strict=True):
        e = e.numpy()
        assert g.shape == e.shape
        assert np.abs(g.data - e).max() / np.abs(e).max() <= 1e-4, name


def test_parameter_counts_and_macs_equal(reference, converted, summary):
    name, module, shape, x, _ = reference
    s = summary
    params = sum(p.numel() for p in module.parameters())
    assert sum(p.data.size for p in converted.parameters()) == params
    assert s.totals["params"] + s.totals["non_trainable"] == params
    assert s.totals["macs"] == conv_linear_macs(module, x), name
    assert not s.totals["not_counted"]


def test_receptive_field_is_computed(reference, converted, summary):
    name, module, shape, _, _ = reference
    rows = [r for r in summary.rows if r.rf_size and r.rf_size[0] is not None]
    first_name, first = next((n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.Conv2d))
    stem = next(r for r in rows if r.name == first_name)
    assert stem.rf_size == first.kernel_size and stem.rf_jump == first.stride  # one conv: its own window
    # the last layer still spatial sees at least that much (ConvNeXt's channels-last blocks included:
    # the analysis follows positions through permutes)
    assert all(isinstance(v, int) and v >= k for v, k in zip(rows[-1].rf_size, first.kernel_size)), name
    output = cs.receptive_field(converted, shape)  # classifiers: the whole input; segmentation: a window
    assert output.whole or all(v >= k for v, k in zip(output.size, first.kernel_size))


def test_summary_of_the_torch_module_itself(reference):
    """The top-level summary takes the torch module as it is, and never fails on an op convscope
    cannot run: parameters and MACs still equal torch's."""
    name, module, shape, x, _ = reference
    s = cs.summary(module, shape)
    assert s.totals["params"] + s.totals["non_trainable"] == sum(p.numel() for p in module.parameters())
    assert s.totals["macs"] == conv_linear_macs(module, x), name
    named = dict(module.named_modules())
    assert all(r.name in named for r in s.rows if r.kind in ("Conv2d", "Linear", "BatchNorm2d"))


def test_saved_as_a_model_file_and_reopened(reference, converted, tmp_path):
    """The converted graph writes as a model file (graph form) plus safetensors weights and reopens
    with cs.load_model to the same outputs and the same summary."""
    name, _, shape, x, _ = reference
    path = tmp_path / f"{name}.yaml"
    path.write_text(cs.to_yaml(converted, name=name, input_shape=shape))
    cs.save(converted, tmp_path / f"{name}.safetensors")
    back = cs.load_model(path)
    back.load_state_dict(cs.load(tmp_path / f"{name}.safetensors"))
    back.eval()
    with cs.no_grad():
        for g, e in zip(tensors(back(cs.Tensor(x.numpy()))), tensors(converted(cs.Tensor(x.numpy()))), strict=True):
            np.testing.assert_array_equal(g.data, e.data)
    assert cs.summary(cs.load_model(path, meta=True), shape).totals == cs.summary(converted, shape).totals


def test_to_onnx_agrees_with_onnxruntime(reference, converted, tmp_path):
    import onnxruntime as ort

    name, _, shape, x, _ = reference
    path = tmp_path / f"{name}.onnx"
    cs.to_onnx(converted, shape, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with cs.no_grad():
        want = tensors(converted(cs.Tensor(x.numpy())))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.abs(g - w.data).max() / np.abs(w.data).max() <= 1e-4, name
