"""Upsample against torch.nn.Upsample (values and gradients in float64), converted by from_torch,
exported to ONNX and checked by onnxruntime (bicubic too); bad arguments refused with the layer and the rule."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

import convscope as cs
from tests.nn.parity import check_module

nn = cs.nn
CASES = [(dict(scale_factor=2), (2, 3, 5)), (dict(size=(4, 7), mode="nearest-exact"), (2, 3, 5, 4)),
         (dict(scale_factor=(1.5, 2.0), mode="bilinear"), (2, 3, 5, 4)),
         (dict(size=9, mode="bilinear", align_corners=True), (1, 3, 5, 4)),
         (dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True), (2, 1, 5, 6)),
         (dict(scale_factor=(2, 1, 0.5), mode="trilinear"), (1, 2, 3, 4, 6)),
         (dict(scale_factor=(1.5, 2.0), mode="bicubic"), (2, 3, 5, 4)),
         (dict(size=(3, 9), mode="bicubic", align_corners=True), (1, 2, 5, 4)),
         (dict(scale_factor=0.5, mode="bicubic"), (1, 2, 6, 7))]


@pytest.mark.parametrize("kw,shape", CASES)
def test_upsample_equals_torch_in_float64(kw, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    check_module(nn.Upsample(**kw), torch.nn.Upsample(**kw), x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw,shape", [c for c in CASES if len(c[1]) > 3])
def test_upsample_converts_from_torch_and_exports_to_onnx(kw, shape, tmp_path):
    theirs = torch.nn.Sequential(torch.nn.Upsample(**kw)).eval()
    ours = cs.from_torch(theirs)
    assert type(ours.get("0")) is nn.Upsample
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(cs.Tensor(x)).data, expected, rtol=1e-5, atol=1e-6)
    model = nn.Sequential(nn.Upsample(**kw))
    cs.to_onnx(model, shape[1:], tmp_path / "up.onnx")
    got = ort.InferenceSession(str(tmp_path / "up.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-5)


BAD = [
    (lambda: nn.Upsample(), ValueError, r"Upsample: give exactly one of size and scale_factor, got size=None"),
    (lambda: nn.Upsample(4, 2.0), ValueError, r"Upsample: give exactly one of size and scale_factor, got size=4 and"),
    (lambda: nn.Upsample(scale_factor=0), ValueError, r"Upsample: scale_factor must be in \(0, inf\], got 0"),
    (lambda: nn.Upsample((3, 0)), ValueError, r"Upsample: size\[1\] must be >= 1, got 0"),
    (lambda: nn.Upsample(4, mode="area"), ValueError, r"Upsample: mode must be one of 'nearest', 'nearest-exact'"),
    (lambda: nn.Upsample(4, align_corners=True), ValueError, r"Upsample: align_corners is for the linear modes only"),
    (lambda: nn.Upsample(4, mode="trilinear")(cs.Tensor(np.zeros((1, 2, 3, 3)))), ValueError,
     r"Upsample: interpolate: mode 'trilinear' needs 3 spatial axes, the input \(1, 2, 3, 3\) has 2"),
]


@pytest.mark.parametrize("make,error,pattern", BAD)
def test_bad_arguments_name_the_layer_and_the_rule(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()
