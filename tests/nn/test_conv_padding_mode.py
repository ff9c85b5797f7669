"""Convolutions with padding_mode 'reflect', 'replicate' and 'circular' (PyTorch's rule: pad with the
mode, then convolve without padding) against torch.nn.ConvNd, through from_torch and to_onnx."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

import convscope as cs
from tests.nn.parity import check_module

nn = cs.nn
MODES = ["reflect", "replicate", "circular"]
# (spatial axes, kernel, stride, padding, dilation, groups, input size)
GEOMETRIES = [(1, 3, 1, 1, 1, 1, (7,)), (1, 4, 2, 2, 1, 1, (9,)), (2, 3, 2, (1, 2), 1, 2, (6, 7)),
              (2, 3, 1, "same", 2, 1, (7, 6)), (2, (2, 3), 1, "same", 1, 1, (5, 5)), (3, 3, 1, 1, 1, 1, (4, 5, 3))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n,k,s,p,d,g,size", GEOMETRIES)
def test_padding_modes_equal_torch_in_float64(mode, n, k, s, p, d, g, size):
    kw = dict(stride=s, padding=p, dilation=d, groups=g, padding_mode=mode)
    ours, theirs = getattr(nn, f"Conv{n}d")(2 * g, 2, k, **kw), getattr(torch.nn, f"Conv{n}d")(2 * g, 2, k, **kw)
    x = np.random.default_rng(0).standard_normal((2, 2 * g, *size))
    check_module(ours, theirs, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_from_torch_converts_padding_modes(mode):
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode), torch.nn.ReLU()).eval()
    back = cs.from_torch(model)
    assert back.get("0").padding_mode == mode
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(back(cs.Tensor(x)).data, model(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_padding_modes_export_to_onnx(mode, tmp_path):
    cs.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode=mode), nn.ReLU())
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6)).astype(np.float32)
    cs.to_onnx(model, (2, 5, 6), tmp_path / "m.onnx")
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got[0], model(cs.Tensor(x)).data, rtol=1e-5, atol=1e-5)


def test_padding_mode_keeps_the_analysis_of_zero_padding():
    cs.manual_seed(0)
    zero = cs.summary(nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1)), (2, 9, 9)).rows[-1]
    for mode in MODES:
        row = cs.summary(nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1, padding_mode=mode)), (2, 9, 9)).rows[-1]
        assert (row.output_shape, row.params, row.macs, row.rf_size, row.rf_jump, row.rf_start) == \
            (zero.output_shape, zero.params, zero.macs, zero.rf_size, zero.rf_jump, zero.rf_start)


def test_bad_padding_modes_are_refused():
    with pytest.raises(ValueError, match=r"Conv2d: padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circ"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match=r"reflect padding \(3, 3\) of spatial axis 0 must be smaller than its size 3"):
        nn.Conv1d(1, 1, 7, padding=3, padding_mode="reflect")(cs.Tensor(np.zeros((1, 1, 3))))
    with pytest.raises(ValueError, match=r"to_torch: Conv1d with padding \(\(1, 0\),\) and padding_mode 'reflect'"):
        cs.bridges.to_torch(nn.Conv1d(1, 1, 2, padding=((1, 0),), padding_mode="reflect"))


def test_padding_mode_round_trips_through_a_model_file_and_to_torch():
    cs.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular")).eval()
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5)).astype(np.float32)
    again = cs.load_model(cs.to_yaml(model, input_shape=(2, 4, 5))).eval()
    again.load_state_dict(model.state_dict())
    assert again[0].padding_mode == "circular"
    np.testing.assert_array_equal(again(cs.Tensor(x)).data, model(cs.Tensor(x)).data)
    twin = cs.bridges.to_torch(model)
    assert twin[0].padding_mode == "circular"
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.tensor(x)).numpy(), model(cs.Tensor(x)).data, rtol=1e-5, atol=1e-6)
