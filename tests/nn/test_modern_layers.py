"""The layers of modern CNNs (activations, LayerNorm, GroupNorm, adaptive pools) against their PyTorch
twins: values and gradients of input and parameters in float64, conversion with cs.from_torch, and
export with cs.to_onnx checked by onnxruntime; bad arguments refused with the layer and the rule."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

import convscope as cs
from tests.nn.parity import check_module

nn, tnn = cs.nn, torch.nn
rng = np.random.default_rng(0)

# (ours, PyTorch's, input shape): non-default arguments where there are any
PAIRS = {
    "ReLU6": (lambda: nn.ReLU6(), lambda: tnn.ReLU6(), (2, 3, 5)),
    "Hardtanh": (lambda: nn.Hardtanh(-0.5, 2.5), lambda: tnn.Hardtanh(-0.5, 2.5), (2, 3, 5)),
    "Hardswish": (lambda: nn.Hardswish(), lambda: tnn.Hardswish(), (2, 3, 5)),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), lambda: tnn.Hardsigmoid(), (2, 3, 5)),
    "SiLU": (lambda: nn.SiLU(), lambda: tnn.SiLU(), (2, 3, 5)),
    "GELU": (lambda: nn.GELU(), lambda: tnn.GELU(), (2, 3, 5)),
    "GELU tanh": (lambda: nn.GELU("tanh"), lambda: tnn.GELU("tanh"), (2, 3, 5)),
    "Mish": (lambda: nn.Mish(), lambda: tnn.Mish(), (2, 3, 5)),
    "LayerNorm channels-last": (lambda: nn.LayerNorm(6, eps=1e-6), lambda: tnn.LayerNorm(6, eps=1e-6), (2, 4, 5, 6)),
    "LayerNorm 2 axes no bias": (lambda: nn.LayerNorm((4, 5), bias=False), lambda: tnn.LayerNorm((4, 5), bias=False),
                                 (2, 3, 4, 5)),
    "LayerNorm no affine": (lambda: nn.LayerNorm([5], elementwise_affine=False),
                            lambda: tnn.LayerNorm([5], elementwise_affine=False), (3, 5)),
    "GroupNorm": (lambda: nn.GroupNorm(3, 6), lambda: tnn.GroupNorm(3, 6), (2, 6, 4, 3)),
    "GroupNorm instance 1-D": (lambda: nn.GroupNorm(4, 4, eps=1e-3), lambda: tnn.GroupNorm(4, 4, eps=1e-3), (2, 4, 7)),
    "GroupNorm no affine 3-D": (lambda: nn.GroupNorm(1, 2, affine=False), lambda: tnn.GroupNorm(1, 2, affine=False),
                                (2, 2, 3, 4, 2)),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(4), lambda: tnn.AdaptiveAvgPool1d(4), (2, 3, 10)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((3, None)), lambda: tnn.AdaptiveAvgPool2d((3, None)),
                          (2, 3, 7, 5)),
    "AdaptiveAvgPool2d unbatched": (lambda: nn.AdaptiveAvgPool2d(5), lambda: tnn.AdaptiveAvgPool2d(5), (3, 4, 7)),
    "AdaptiveAvgPool3d": (lambda: nn.AdaptiveAvgPool3d((2, 3, 1)), lambda: tnn.AdaptiveAvgPool3d((2, 3, 1)),
                          (1, 2, 5, 6, 4)),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(3), lambda: tnn.AdaptiveMaxPool1d(3), (2, 3, 7)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((2, 4)), lambda: tnn.AdaptiveMaxPool2d((2, 4)), (2, 3, 5, 9)),
    "AdaptiveMaxPool3d": (lambda: nn.AdaptiveMaxPool3d((None, 2, 2)), lambda: tnn.AdaptiveMaxPool3d((None, 2, 2)),
                          (1, 2, 5, 4, 3)),
}


def _pair(name):
    ours, theirs, shape = PAIRS[name]
    theirs = theirs()
    for p in theirs.parameters():  # not the ones and zeros they start from
        torch.nn.init.normal_(p)
    x = rng.uniform(-5, 5, shape)
    x[np.abs(np.abs(x) - 3) < 1e-3] += 0.01  # off the kinks of the hard activations
    return ours(), theirs, x


@pytest.mark.parametrize("name", PAIRS)
def test_layer_values_and_gradients_equal_torch_in_float64(name):
    ours, theirs, x = _pair(name)
    rtol = 1e-7 if name == "Hardsigmoid" else 1e-9  # PyTorch's hardsigmoid backward uses a float32 1/6
    check_module(ours, theirs, x, rtol=rtol, atol=1e-11)


@pytest.mark.parametrize("name", PAIRS)
def test_from_torch_converts_the_layer_in_a_sequential(name):
    _, theirs, x = _pair(name)
    model = tnn.Sequential(theirs).eval()
    back = cs.from_torch(model)
    assert type(back.get("0")).__name__ == type(theirs).__name__
    x = x.astype(np.float32)
    with torch.no_grad():
        expected = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(back(cs.Tensor(x)).data, expected, rtol=1e-5, atol=1e-5)


# a conv in front gives every layer a batched NCHW (or NCL, NCDHW) input; regular adaptive windows
ONNX = {
    "activations": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU6(), nn.Hardtanh(-2.0, 3.0),
                                          nn.Hardswish(), nn.Hardsigmoid(), nn.SiLU(), nn.GELU(), nn.GELU("tanh"),
                                          nn.Mish()), (2, 6, 6)),
    "norms": (lambda: nn.Sequential(nn.Conv2d(2, 6, 3), nn.GroupNorm(3, 6), nn.LayerNorm((4, 4), eps=1e-4),
                                    nn.LayerNorm(4, bias=False), nn.GroupNorm(2, 6, affine=False)), (2, 6, 6)),
    "adaptive 1-D": (lambda: nn.Sequential(nn.Conv1d(2, 3, 1), nn.AdaptiveAvgPool1d(4), nn.AdaptiveMaxPool1d(2)),
                     (2, 12)),
    "adaptive 2-D": (lambda: nn.Sequential(nn.Conv2d(2, 3, 1), nn.AdaptiveMaxPool2d((3, None)),
                                           nn.AdaptiveAvgPool2d((1, 2))), (2, 9, 8)),
    "adaptive 3-D": (lambda: nn.Sequential(nn.Conv3d(2, 3, 1), nn.AdaptiveAvgPool3d((2, 1, 3)),
                                           nn.AdaptiveMaxPool3d(1)), (2, 4, 4, 6)),
}


@pytest.mark.parametrize("name", ONNX)
def test_layers_export_to_onnx_and_agree_with_onnxruntime(name, tmp_path):
    make, shape = ONNX[name]
    cs.manual_seed(0)
    model = make().eval()
    for m in model.modules():
        if isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
            for p in m.parameters():
                p.data[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    cs.to_onnx(model, shape, tmp_path / "m.onnx")
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model(cs.Tensor(x)).data, rtol=1e-4, atol=1e-5)


BAD = [
    (lambda: nn.GroupNorm(4, 6), ValueError,
     r"GroupNorm: num_channels 6 must be divisible by num_groups 4 \(C % G = 2\)"),
    (lambda: nn.GroupNorm(2, 4)(cs.Tensor(np.ones((1, 6, 3)))), ValueError,
     r"GroupNorm: expected input \(N, 4, \*S\), got shape \(1, 6, 3\)"),
    (lambda: nn.LayerNorm(0), ValueError, r"LayerNorm: normalized_shape must be >= 1, got 0"),
    (lambda: nn.LayerNorm("C"), TypeError, r"LayerNorm: normalized_shape must be an int or a non-empty tuple"),
    (lambda: nn.LayerNorm((3, 4))(cs.Tensor(np.ones((2, 4, 3)))), ValueError,
     r"layer_norm: input of shape \(2, 4, 3\) does not end in normalized_shape \(3, 4\)"),
    (lambda: nn.GELU("fast"), ValueError, r"GELU: approximate must be one of 'none', 'tanh', got 'fast'"),
    (lambda: nn.Hardtanh(1.0, -1.0), ValueError, r"Hardtanh: min_val 1.0 must be below max_val -1.0"),
    (lambda: nn.AdaptiveAvgPool2d((2, 3, 4)), ValueError, r"AdaptiveAvgPool2d: output_size \(2, 3, 4\) has 3 entries"),
    (lambda: nn.AdaptiveMaxPool1d(0), ValueError, r"AdaptiveMaxPool1d \(spatial axis 0\): output_size must be >= 1"),
    (lambda: nn.AdaptiveAvgPool2d(2)(cs.Tensor(np.ones((1, 2, 3, 4, 5)))), ValueError,
     r"expected input \(N, C, H, W\) or unbatched \(C, H, W\)"),
    (lambda: cs.from_torch(tnn.Sequential(tnn.AdaptiveMaxPool2d(2, return_indices=True))), ValueError,
     r"return_indices=True \(only False is supported\)"),
]


@pytest.mark.parametrize("make,error,pattern", BAD)
def test_bad_arguments_name_the_layer_and_the_rule(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()
