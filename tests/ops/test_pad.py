"""Padding in PyTorch's four modes against torch.nn.functional.pad (values and gradients, float64,
random geometries by hypothesis), its analysis as a shift of the receptive field, its export to
ONNX checked by onnxruntime, its conversion from a PyTorch forward, and its errors."""
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as tf
from hypothesis import given, strategies as st

import convscope as cs
from convscope.nn import functional as F
from tests.nn.parity import check_function

MODES = ["constant", "reflect", "replicate", "circular"]


def _check(x, pad, mode, value=None):
    check_function(lambda a: F.pad(a, pad, mode, value), lambda t: tf.pad(t, pad, mode, value), x, forward_tol=0)


@st.composite
def pad_cases(draw):
    """An input of 1 to 3 spatial axes, a mode, and torch's flat pad for some trailing axes."""
    n = draw(st.integers(1, 3))
    size = [draw(st.integers(1, 5)) for _ in range(n)]
    mode = draw(st.sampled_from(MODES))
    k = draw(st.integers(1, n)) if mode == "constant" else n  # torch pads every spatial axis in the other modes
    limit = {"reflect": lambda i: i - 1, "circular": lambda i: i}.get(mode, lambda i: 4)
    flat = []
    for i in reversed(size[n - k:]):  # last axis first
        flat += [draw(st.integers(0, limit(i))), draw(st.integers(0, limit(i)))]
    value = draw(st.floats(-3, 3)) if mode == "constant" else None
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *size), tuple(flat), mode, value


@given(pad_cases())
def test_pad_equals_torch_on_random_geometries(case):
    shape, pad, mode, value = case
    _check(np.random.default_rng(0).standard_normal(shape), pad, mode, value)


def test_pad_takes_pairs_per_axis_first_axis_first():
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    np.testing.assert_array_equal(F.pad(x, ((1, 2), (0, 3)), "reflect").data,
                                  tf.pad(torch.tensor(x), (0, 3, 1, 2), "reflect").numpy())


class _Padded(cs.nn.Module):
    def __init__(self, pad, mode, value=None):
        super().__init__()
        self.conv = cs.nn.Conv2d(2, 3, 3)
        self.pad, self.mode, self.value = pad, mode, value

    def forward(self, x):
        return self.conv(F.pad(x, self.pad, self.mode, self.value))


@pytest.mark.parametrize("mode,value", [("constant", 0.0), ("constant", -1.5), ("reflect", None),
                                        ("replicate", None)])
def test_pad_exports_to_onnx(mode, value, tmp_path):
    cs.manual_seed(0)
    model = _Padded((1, 2, 2, 0), mode, value)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6)).astype(np.float32)
    cs.to_onnx(model, (2, 5, 6), tmp_path / "pad.onnx")
    got = ort.InferenceSession(str(tmp_path / "pad.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got[0], model(cs.Tensor(x)).data, rtol=1e-5, atol=1e-5)


def test_circular_pad_refuses_export_at_opset_17(tmp_path):
    with pytest.raises(ValueError, match="mode 'circular' is ONNX Pad mode 'wrap', which needs opset 19"):
        cs.to_onnx(_Padded((1, 1, 1, 1), "circular"), (2, 5, 6), tmp_path / "pad.onnx")


def test_pad_shifts_the_receptive_field_as_zero_padding_does():
    cs.manual_seed(0)
    for mode in MODES:
        padded = cs.summary(_Padded((1, 1, 2, 2), mode), (2, 6, 6))
        zero = cs.summary(cs.nn.Sequential(cs.nn.Conv2d(2, 3, 3, padding=((2, 2), (1, 1)))), (2, 6, 6))
        assert padded.rows[-1].output_shape == zero.rows[-1].output_shape
        assert cs.receptive_field(_Padded((1, 1, 2, 2), mode), (2, 6, 6)) == \
            cs.receptive_field(cs.nn.Conv2d(2, 3, 3, padding=((2, 2), (1, 1))), (2, 6, 6))


class _TorchPadded(torch.nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.conv, self.mode = torch.nn.Conv1d(2, 2, 3), mode

    def forward(self, x):
        return self.conv(tf.pad(x, (2, 1), self.mode))


@pytest.mark.parametrize("mode", MODES)
def test_from_torch_converts_functional_pad(mode):
    model = _TorchPadded(mode).eval()
    x = np.random.default_rng(0).standard_normal((2, 2, 6)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(cs.from_torch(model)(cs.Tensor(x)).data, expected, rtol=1e-5, atol=1e-6)


BAD = [
    (((1, 2, 3), (1,)), ValueError, r"pad: pad \(1,\) must hold a \(lo, hi\) pair for each of up to 1 spatial axes"),
    (((1, 2, 3), (1, 1, 1, 1)), ValueError, r"pad: pad \(1, 1, 1, 1\) must hold a \(lo, hi\) pair for each of up to 1"),
    (((1, 2, 3), (1, -1)), ValueError, r"pad: negative pads \(cropping\) are not supported, got \(1, -1\)"),
    (((1, 2, 3), (1.5, 1)), TypeError, r"pad: pad must be ints"),
    (((1, 2, 3), (3, 0), "reflect"), ValueError,
     r"pad: reflect padding \(3, 0\) of spatial axis 0 must be smaller than its size 3.*at most i - 1 = 2"),
    (((1, 2, 3), (0, 4), "circular"), ValueError, r"pad: circular padding \(0, 4\) of spatial axis 0 must be at most"),
    (((1, 2, 3), (1, 1), "reflect", 2.0), ValueError, r"pad: mode 'reflect' takes no fill value \(got value=2.0\)"),
    (((1, 2, 3), (1, 1), "mirror"), ValueError, r"pad: mode must be one of 'constant', 'reflect', 'replicate', 'circ"),
]


@pytest.mark.parametrize("args,error,pattern", BAD)
def test_bad_pads_name_the_rule_and_the_numbers(args, error, pattern):
    shape, *rest = args
    with pytest.raises(error, match=pattern):
        F.pad(np.zeros(shape), *rest)
