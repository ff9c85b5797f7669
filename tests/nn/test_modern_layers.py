"""The layers of modern CNNs (activations, LayerNorm, GroupNorm, InstanceNorm, BatchNorm3d, channel dropout,
adaptive pools) against their PyTorch
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
    "ELU": (lambda: nn.ELU(), lambda: tnn.ELU(), (2, 3, 5)),
    "ELU alpha": (lambda: nn.ELU(0.3), lambda: tnn.ELU(0.3), (2, 3, 5)),
    "SELU": (lambda: nn.SELU(), lambda: tnn.SELU(), (2, 3, 5)),
    "CELU": (lambda: nn.CELU(), lambda: tnn.CELU(), (2, 3, 5)),
    "CELU alpha": (lambda: nn.CELU(2.5), lambda: tnn.CELU(2.5), (2, 3, 5)),
    "PReLU": (lambda: nn.PReLU(), lambda: tnn.PReLU(), (2, 3, 5)),
    "PReLU per channel": (lambda: nn.PReLU(3, 0.1), lambda: tnn.PReLU(3, 0.1), (2, 3, 4, 5)),
    "PReLU per channel 3-D": (lambda: nn.PReLU(2), lambda: tnn.PReLU(2), (2, 2, 3, 4, 3)),
    "PReLU per channel (N, C)": (lambda: nn.PReLU(4), lambda: tnn.PReLU(4), (5, 4)),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(3), lambda: tnn.InstanceNorm1d(3), (2, 3, 7)),
    "InstanceNorm1d unbatched affine": (lambda: nn.InstanceNorm1d(3, affine=True, eps=1e-3),
                                        lambda: tnn.InstanceNorm1d(3, affine=True, eps=1e-3), (3, 6)),
    "InstanceNorm2d affine": (lambda: nn.InstanceNorm2d(4, affine=True), lambda: tnn.InstanceNorm2d(4, affine=True),
                              (2, 4, 5, 3)),
    "InstanceNorm3d": (lambda: nn.InstanceNorm3d(2, affine=True), lambda: tnn.InstanceNorm3d(2, affine=True),
                       (2, 2, 3, 4, 3)),
    "InstanceNorm3d unbatched": (lambda: nn.InstanceNorm3d(2), lambda: tnn.InstanceNorm3d(2), (2, 3, 4, 3)),
    "BatchNorm3d training": (lambda: nn.BatchNorm3d(3, momentum=0.3), lambda: tnn.BatchNorm3d(3, momentum=0.3),
                             (3, 3, 2, 4, 3)),
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


def test_batch_norm_3d_in_eval_uses_and_in_training_updates_the_running_statistics_as_torch():
    ours, theirs, x = _pair("BatchNorm3d training")
    check_module(ours, theirs, x, rtol=1e-9, atol=1e-11)  # one training step: the statistics moved
    np.testing.assert_allclose(ours.running_var, theirs.running_var.detach().numpy(), rtol=1e-12)
    check_module(ours.eval(), theirs.eval(), x, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("layer,shape", [(lambda: nn.Dropout2d(0.4), (6, 5, 3, 4)),
                                         (lambda: nn.Dropout3d(0.25), (4, 6, 2, 3, 2)),
                                         (lambda: nn.Dropout2d(0.5), (8, 3, 4))])  # unbatched (C, H, W)
def test_channel_dropout_zeroes_whole_channels_scales_the_rest_and_is_the_identity_in_eval(layer, shape):
    layer = layer()
    p, n = layer.p, layer.n
    x = cs.Tensor(rng.uniform(1, 2, shape), requires_grad=True)  # no zeros of its own
    y = layer(x)
    ratio = (y.data / x.data).reshape(*shape[:len(shape) - n], -1)  # one row per channel
    kept = ratio[..., 0] > 0
    np.testing.assert_allclose(ratio, np.where(kept, 1 / (1 - p), 0.0)[..., None] * np.ones_like(ratio), rtol=1e-12)
    assert 0 < kept.mean() < 1  # both happen over these channels (the draws are seeded)
    g = rng.standard_normal(shape)
    y.backward(g)
    np.testing.assert_allclose(x.grad, g * y.data / x.data, rtol=1e-12)  # the gradient is the same mask
    np.testing.assert_array_equal(layer.eval()(x).data, x.data)


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
    "exponential units and PReLU": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ELU(0.5), nn.SELU(),
                                                          nn.CELU(1.7), nn.PReLU(4), nn.PReLU()), (2, 6, 6)),
    "instance norms": (lambda: nn.Sequential(nn.Conv1d(2, 3, 1), nn.InstanceNorm1d(3), nn.PReLU(3)), (2, 7)),
    "3-D norms": (lambda: nn.Sequential(nn.Conv3d(2, 3, 1), nn.InstanceNorm3d(3, affine=True), nn.BatchNorm3d(3),
                                        nn.Dropout3d(), nn.InstanceNorm3d(3)), (2, 3, 4, 3)),
    "2-D norms": (lambda: nn.Sequential(nn.Conv2d(2, 3, 1), nn.InstanceNorm2d(3, affine=True), nn.Dropout2d()),
                  (2, 5, 4)),
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
        if isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.PReLU, nn.BatchNorm3d)):
            for p in m.parameters():
                p.data[...] = rng.standard_normal(p.shape)
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean[...], m.running_var[...] = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
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
    (lambda: nn.InstanceNorm2d(3, track_running_stats=True), ValueError,
     r"InstanceNorm2d: track_running_stats=True is not supported .*use False, PyTorch's default"),
    (lambda: nn.InstanceNorm3d(2)(cs.Tensor(np.ones((1, 2, 3, 4)))), ValueError,
     r"InstanceNorm3d: expected input \(N, 2, \*S\) or unbatched \(2, \*S\) with 3 spatial axes, got shape \(1, 2, 3, 4\)"),
    (lambda: cs.from_torch(tnn.Sequential(tnn.InstanceNorm1d(2, track_running_stats=True)).eval())(
        cs.Tensor(np.zeros((1, 2, 5), np.float32))), ValueError,
     r"track_running_stats=True is not supported"),
    (lambda: nn.InstanceNorm2d(2)(cs.Tensor(np.ones((3, 2, 1, 1)))), ValueError,
     r"instance_norm: input \(3, 2, 1, 1\) has one position per channel, which normalises to 0"),
    (lambda: nn.GroupNorm(2, 2)(cs.Tensor(np.ones((1, 2)))), ValueError,
     r"group_norm: input \(1, 2\) holds one value per group, which normalises to 0"),
    (lambda: nn.Upsample(size=4, recompute_scale_factor=True), ValueError,
     r"Upsample: recompute_scale_factor is for scale_factor only, not with size"),
    (lambda: cs.to_torch(nn.MaxPool1d(3, padding=((0, 1),))), ValueError,
     r"to_torch: MaxPool1d with \(lo, hi\) padding \(\(0, 1\),\) has no PyTorch equivalent"),
    (lambda: nn.PReLU(3)(cs.Tensor(np.ones((2, 4, 5)))), ValueError,
     r"prelu: 3 slopes for 4 channels \(input shape \(2, 4, 5\)\); give one slope or one per channel"),
    (lambda: nn.CELU(-1.0), ValueError, r"CELU: alpha must be in \(0, inf\], got -1.0"),
    (lambda: nn.Dropout2d(1.0), ValueError, r"Dropout2d: p must be in \[0, 1\), got 1.0"),
    (lambda: nn.Dropout3d()(cs.Tensor(np.ones((2, 3, 4)))), ValueError,
     r"dropout3d: expected input \(N, C, \*S\) or unbatched \(C, \*S\) with 3 spatial axes, got shape \(2, 3, 4\)"),
    (lambda: nn.Hardtanh(1.0, -1.0), ValueError, r"Hardtanh: min_val 1.0 must be below max_val -1.0"),
    (lambda: nn.AdaptiveAvgPool2d((2, 3, 4)), ValueError, r"AdaptiveAvgPool2d: output_size \(2, 3, 4\) has 3 entries"),
    (lambda: nn.AdaptiveMaxPool1d(0), ValueError, r"AdaptiveMaxPool1d \(spatial axis 0\): output_size must be >= 1"),
    (lambda: nn.AdaptiveAvgPool2d(2)(cs.Tensor(np.ones((1, 2, 3, 4, 5)))), ValueError,
     r"expected input \(N, C, H, W\) or unbatched \(C, H, W\)"),
    (lambda: cs.from_torch(tnn.Sequential(tnn.AdaptiveMaxPool2d(2, return_indices=True)), (1, 4, 4)), ValueError,
     r"aten.adaptive_max_pool2d output 1 x1 in 0 \(AdaptiveMaxPool2d\)"),
]


@pytest.mark.parametrize("make,error,pattern", BAD)
def test_bad_arguments_name_the_layer_and_the_rule(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()
