"""Shape-only ("meta") layers: parameters with shapes and dtypes but no memory, built by the same
classes; analysis of models of any size; initialisation drawn in the parameter's dtype; a clear
refusal, before allocating, of what this machine cannot hold."""
import pathlib
import tracemalloc

import numpy as np
import pytest
import torch

import convscope as cs
from convscope import machine
from convscope import zoo
from convscope.nn import init
from tests.analysis.torch_zoo import REFERENCES

nn = cs.nn

HUGE = (pathlib.Path(__file__).resolve().parents[2] / "examples" / "huge_1e11.yaml").read_text()  # 1.001e11 parameters


def peak_bytes(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_meta_layers_have_shapes_and_dtypes_but_no_memory():
    with init.meta():
        conv, bn = nn.Conv2d(100_000, 100_000, 3), nn.BatchNorm2d(7)
    assert conv.weight.shape == (100_000, 100_000, 3, 3) and conv.weight.data.dtype == np.float32
    assert all(init.is_meta(p.data) for p in [*conv.parameters(), *bn.parameters()])
    assert init.is_meta(bn.running_var) and bn.running_var.shape == (7,)
    assert not init.is_meta(nn.Conv2d(2, 2, 1).weight.data)  # outside the block: real weights again

    def build():
        with init.meta():
            return nn.Conv2d(100_000, 100_000, 3)
    _, peak = peak_bytes(build)
    assert peak < 1_000_000


def test_a_model_file_of_1e11_parameters_is_summarised_without_its_weights():
    model, peak = peak_bytes(lambda: cs.load_model(HUGE, meta=True))
    summary, peak_summary = peak_bytes(lambda: cs.summary(model, model.input_shape))
    c = 100_000
    expected = (c * c * 9 + c) + 2 * c + c * c + (c * 1000 + 1000)  # conv, bn, 1x1 conv, linear: counted by hand
    assert summary.totals["params"] == expected > 10 ** 11
    assert max(peak, peak_summary) < 200e6
    with pytest.raises(ValueError, match=r"Conv2d '0': its parameters are shape-only \(meta\).*cannot run or train"):
        model(cs.Tensor(np.zeros((1, c, 8, 8), np.float32)))


def test_zoo_resnet50_meta_counts_what_pytorch_counts_without_allocating():
    model, peak = peak_bytes(lambda: zoo.load("resnet50", meta=True))
    summary, peak_summary = peak_bytes(lambda: cs.summary(model, (3, 224, 224)))
    reference = sum(p.numel() for p in REFERENCES["resnet50"]().parameters())
    assert summary.totals["params"] == reference == 25_557_032
    assert max(peak, peak_summary) < 50e6 < 4 * reference  # the float32 weights alone are 102 MB


def test_meta_models_write_the_same_model_file():
    real = zoo.load("lenet5")
    shape_only = zoo.load("lenet5", meta=True)
    assert cs.to_yaml(shape_only) == cs.to_yaml(real)
    assert repr(shape_only) == repr(real)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_initialisation_draws_in_the_parameters_dtype(dtype):
    cs.manual_seed(0)
    w, peak = peak_bytes(lambda: init.kaiming_uniform((1000, 250, 3, 3), dtype))
    assert w.dtype == dtype
    assert peak < 1.2 * w.nbytes  # no float64 draw cast afterwards
    bound = 1 / np.sqrt(250 * 9)
    assert -bound <= w.min() < -0.999 * bound and 0.999 * bound < w.max() < bound
    # PyTorch's default: uniform(-b, b) has mean 0 and std b / sqrt(3)
    ref = torch.nn.init.kaiming_uniform_(torch.empty(1000, 250, 3, 3, dtype=torch.float64), a=np.sqrt(5)).numpy()
    assert abs(w.std() - ref.std()) < 0.01 * bound and abs(w.mean()) < 0.01 * bound


def test_same_seed_same_weights():
    def build():
        cs.manual_seed(3)
        return nn.Sequential(nn.Conv2d(2, 4, 3), nn.Linear(4, 2)).state_dict()
    a, b = build(), build()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_what_does_not_fit_is_refused_before_allocating(monkeypatch):
    with pytest.raises(init.TooBig, match=r"Conv2d weight \(100000, 100000, 3, 3\) float32 needs 360.0 GB "
                                          r"\(360,000,000,000 bytes\) but this machine has .* meta=True"):
        nn.Conv2d(100_000, 100_000, 3)
    monkeypatch.setattr(machine, "available_memory", lambda: 100_000_000)
    with pytest.raises(ValueError, match=r"Linear weight \(10000, 10000\) float32 needs 0.4 GB"):
        nn.Linear(10_000, 10_000)
    with pytest.raises(ValueError, match=r"line 2, layer 0 \(Linear\): Linear weight \(10000, 20000\) float32 needs"):
        cs.load_model("layers:\n  - {type: Linear, in_features: 20000, out_features: 10000}\n")
    assert isinstance(cs.load_model("layers:\n  - {type: Linear, in_features: 20000, out_features: 10000}\n",
                                    meta=True)[0], nn.Linear)


def test_a_shape_only_model_takes_real_weights_and_then_runs():
    import convscope as cs

    cs.manual_seed(0)
    real, meta = cs.zoo.load("lenet5"), cs.zoo.load("lenet5", meta=True)
    meta.load_state_dict(real.state_dict())
    x = cs.Tensor(np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32))
    np.testing.assert_array_equal(meta(x).data, real(x).data)
