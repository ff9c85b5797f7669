"""Resizing against torch.nn.functional.interpolate (values and gradients in float64, random
geometries by hypothesis), the adjoint identity of its backward, its export as ONNX Resize checked
by onnxruntime, its receptive-field rule and its errors."""
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as tf
from hypothesis import given, strategies as st

import convscope as cs
from convscope.nn import functional as F
from tests.nn.parity import check_function

LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _both(x, **kw):
    check_function(lambda a: F.interpolate(a, **kw), lambda t: tf.interpolate(t, **kw), x)


@st.composite
def resize_cases(draw):
    """An input of 1 to 3 spatial axes; a mode; a size or a scale factor (up or down, fractional)."""
    n = draw(st.integers(1, 3))
    size = tuple(draw(st.integers(1, 6)) for _ in range(n))
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear"]))
    kw = {"mode": LINEAR[n] if mode == "linear" else mode}
    if mode == "linear":
        kw["align_corners"] = draw(st.sampled_from([None, False, True]))
    if draw(st.booleans()):
        kw["size"] = tuple(draw(st.integers(1, 9)) for _ in range(n))
    else:
        factors = tuple(draw(st.sampled_from([0.5, 0.75, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0])) for _ in range(n))
        if any(int(np.floor(i * f)) < 1 for i, f in zip(size, factors)):
            factors = tuple(max(f, 1.0) for f in factors)
        kw["scale_factor"] = factors
        kw["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
    return (2, 2, *size), kw


@given(resize_cases())
def test_interpolate_equals_torch_on_random_geometries(case):
    shape, kw = case
    _both(np.random.default_rng(0).standard_normal(shape), **kw)


@pytest.mark.parametrize("kw", [dict(scale_factor=2, mode="nearest"), dict(size=(3, 7), mode="bilinear"),
                                dict(scale_factor=1.5, mode="bilinear", align_corners=True)])
def test_float32_matches_torch_to_rounding(kw):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(F.interpolate(x, **kw).data, tf.interpolate(torch.tensor(x), **kw).numpy(),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(size=(7, 3), mode="bilinear"), dict(scale_factor=0.6, mode="nearest")])
def test_backward_is_the_adjoint(kw):
    # <resize(x), g> == <x, resize^T(g)> for the linear map resize
    rng = np.random.default_rng(0)
    x = cs.Tensor(rng.standard_normal((2, 3, 5, 6)), requires_grad=True)
    y = F.interpolate(x, **kw)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    assert np.isclose((y.data * g).sum(), (x.data * x.grad).sum(), rtol=1e-12)


class _Resized(cs.nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.conv, self.kw = cs.nn.Conv2d(2, 2, 1), kw

    def forward(self, x):
        return F.interpolate(self.conv(x), **self.kw)


ONNX_CASES = [dict(scale_factor=2, mode="nearest"), dict(scale_factor=(1.5, 0.5), mode="nearest"),
              dict(size=(7, 3), mode="nearest"), dict(size=(8, 9), mode="nearest-exact"),
              dict(size=(7, 9), mode="bilinear"), dict(scale_factor=2, mode="bilinear"),
              dict(scale_factor=1.7, mode="bilinear"), dict(size=(1, 4), mode="bilinear"),
              dict(size=(9, 2), mode="bilinear", align_corners=True),
              dict(scale_factor=2.5, mode="bilinear", align_corners=True)]


@pytest.mark.parametrize("kw", ONNX_CASES)
def test_interpolate_exports_to_onnx_resize(kw, tmp_path):
    cs.manual_seed(0)
    model = _Resized(**kw)
    x = np.random.default_rng(0).standard_normal((3, 2, 5, 6)).astype(np.float32)
    cs.to_onnx(model, (2, 5, 6), tmp_path / "resize.onnx")
    session = ort.InferenceSession(str(tmp_path / "resize.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})
    np.testing.assert_allclose(got[0], model(cs.Tensor(x)).data, rtol=1e-5, atol=1e-5)


def test_linear_1d_and_trilinear_export_to_onnx(tmp_path):
    for shape, kw in [((2, 7), dict(scale_factor=3, mode="linear")), ((2, 3, 4, 2), dict(size=(5, 2, 4),
                                                                                         mode="trilinear"))]:
        class M(cs.nn.Module):
            def forward(self, x):
                return F.interpolate(x, **kw)
        x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
        cs.to_onnx(M(), shape, tmp_path / "r.onnx")
        got = ort.InferenceSession(str(tmp_path / "r.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
        np.testing.assert_allclose(got[0], M()(cs.Tensor(x)).data, rtol=1e-5, atol=1e-5)


def test_integer_upsampling_is_a_transposed_window_for_the_analysis():
    cs.manual_seed(0)
    nearest = _Resized(scale_factor=2, mode="nearest")
    deconv = cs.nn.Sequential(cs.nn.Conv2d(2, 2, 1), cs.nn.ConvTranspose2d(2, 2, 2, stride=2))
    after = lambda m: cs.nn.Sequential(m, cs.nn.Conv2d(2, 1, 3, padding=1))  # noqa: E731
    assert cs.receptive_field(after(nearest), (2, 6, 6)) == cs.receptive_field(after(deconv), (2, 6, 6))
    assert cs.receptive_region(after(nearest), (2, 6, 6), (0, 3, 8)) == \
        cs.receptive_region(after(deconv), (2, 6, 6), (0, 3, 8))
    # bilinear x2 reads the cells a kernel-4, stride-2, padding-1 deconvolution reads (the bilinear deconvolution)
    bilinear = _Resized(scale_factor=2, mode="bilinear")
    bideconv = cs.nn.Sequential(cs.nn.Conv2d(2, 2, 1), cs.nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1))
    assert cs.receptive_region(bilinear, (2, 6, 6), (0, 5, 6)) == cs.receptive_region(bideconv, (2, 6, 6), (0, 5, 6))
    irregular = cs.summary(cs.nn.Sequential(_Resized(size=(7, 7), mode="bilinear")), (2, 6, 6)).rows[-1]
    assert irregular.rf_size == (None,)  # fractional scales: reported as seeing the whole input


class _TorchResized(torch.nn.Module):
    def forward(self, x):
        return tf.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=True) + 1


def test_from_torch_converts_functional_interpolate():
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 5)).astype(np.float32)
    with torch.no_grad():
        expected = _TorchResized()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(cs.from_torch(_TorchResized())(cs.Tensor(x)).data, expected, rtol=1e-6, atol=1e-6)


BAD = [
    (dict(), r"interpolate: give exactly one of size and scale_factor, got neither"),
    (dict(size=4, scale_factor=2), r"give exactly one of size and scale_factor, got size=4 and scale_factor=2"),
    (dict(size=4, mode="bilinear"), r"interpolate: mode 'bilinear' needs 2 spatial axes, the input \(1, 2, 5\) has 1 "
                                    r"\(use 'linear'\)"),
    (dict(size=4, mode="cubic"), r"interpolate: mode must be one of 'nearest', 'nearest-exact', 'linear'"),
    (dict(size=4, align_corners=True), r"align_corners is for the linear modes only, not 'nearest'"),
    (dict(size=(4, 4)), r"interpolate: size \(4, 4\) has 2 entries but the input has 1 spatial axes"),
    (dict(size=0), r"interpolate \(spatial axis 0\): size must be an int >= 1, got 0"),
    (dict(scale_factor=-1.0), r"scale_factor must be a number > 0, got -1.0"),
    (dict(scale_factor=0.1), r"output size floor\(i \* scale_factor\) = floor\(5 \* 0.1\) = 0 < 1"),
    (dict(size=3, antialias=True), r"antialias=True is not supported"),
]


@pytest.mark.parametrize("kw,pattern", BAD)
def test_bad_arguments_name_the_rule(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        F.interpolate(np.zeros((1, 2, 5)), **kw)
