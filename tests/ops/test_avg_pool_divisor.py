"""Average pooling's divisor: divisor_override (each window's sum over a fixed int, PyTorch's) against
torch in float64 on random geometries, through the layers and from_torch; and the ONNX export of
padded average pooling, whose count_include_pad must be written (ONNX's default is 0, PyTorch's
True), checked by onnxruntime."""
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as tf
from hypothesis import assume, given, strategies as st

import convscope as cs
from convscope.nn import functional as F
from tests.nn.parity import check_function, check_module


@st.composite
def pools(draw):
    n = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(n))
    kw = dict(kernel_size=k, stride=tuple(draw(st.integers(1, 3)) for _ in range(n)),
              padding=tuple(draw(st.integers(0, ki // 2)) for ki in k), ceil_mode=draw(st.booleans()),
              count_include_pad=draw(st.booleans()))
    if n > 1:  # PyTorch's avg_pool1d has no divisor_override; convscope's op takes it for any n
        kw["divisor_override"] = draw(st.sampled_from([None, 1, 2, 5]))
    size = tuple(draw(st.integers(ki, 6)) for ki in k)
    return (2, 2, *size), kw


@given(pools())
def test_avg_pool_with_divisor_override_equals_torch(case):
    shape, kw = case
    n = len(shape) - 2
    x = np.random.default_rng(0).standard_normal(shape)
    try:
        check_function(lambda a: F.avg_pool(a, **kw), lambda t: getattr(tf, f"avg_pool{n}d")(t, **kw), x)
    except RuntimeError:  # a geometry PyTorch refuses (convscope's own checks are tested elsewhere)
        assume(False)


@pytest.mark.parametrize("n", [2, 3])
def test_avg_pool_layers_take_divisor_override(n):
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=4)
    ours, theirs = getattr(cs.nn, f"AvgPool{n}d")(**kw), getattr(torch.nn, f"AvgPool{n}d")(**kw)
    x = np.random.default_rng(0).standard_normal((2, 3, *(6,) * n))
    check_module(ours, theirs, x, rtol=1e-12, atol=1e-12)
    back = cs.from_torch(torch.nn.Sequential(theirs)).get("0")
    assert type(back) is type(ours) and back.divisor_override == 4


CASES = [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=1, padding=1, count_include_pad=False),
         dict(kernel_size=(3, 2), stride=2, padding=(1, 1)), dict(kernel_size=2, divisor_override=3),
         dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, divisor_override=2),
         dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=5)]


@pytest.mark.parametrize("kw", CASES)
def test_padded_average_pooling_exports_to_onnx(kw, tmp_path):
    cs.manual_seed(0)
    model = cs.nn.Sequential(cs.nn.Conv2d(2, 3, 1), cs.nn.AvgPool2d(**kw))
    x = np.random.default_rng(0).standard_normal((2, 2, 7, 6)).astype(np.float32)
    cs.to_onnx(model, (2, 7, 6), tmp_path / "avg.onnx")
    got = ort.InferenceSession(str(tmp_path / "avg.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    expected = model(cs.Tensor(x)).data
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # and the same numbers as PyTorch's pooling
        ref = tf.avg_pool2d(torch.tensor(model[0](cs.Tensor(x)).data), **kw).numpy()
    np.testing.assert_allclose(expected, ref, rtol=1e-5, atol=1e-6)


def test_bad_divisor_override_is_refused():
    with pytest.raises(ValueError, match=r"AvgPool2d: divisor_override must be >= 1, got 0"):
        cs.nn.AvgPool2d(2, divisor_override=0)
    with pytest.raises(ValueError, match=r"avg_pool: divisor_override must be an int >= 1, got 2.5"):
        F.avg_pool(np.ones((1, 1, 4)), 2, divisor_override=2.5)
