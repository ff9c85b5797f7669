"""StochasticDepth against torchvision's definition: the identity in eval; in training whole samples
('row') or the whole batch ('batch') dropped with probability p and survivors scaled by 1/(1-p); its
gradient is the same mask; the same seed drops the same samples. Its twin (torchvision's, or the
stand-in where torchvision cannot be imported) converts both ways, and it exports in eval mode."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

import convscope as cs
from convscope.bridges import to_torch
from convscope.nn import registry

nn = cs.nn
rng = np.random.default_rng(0)


def _kept(y, x, p):
    """Per sample: True if kept (y = x / (1 - p)), False if dropped (y = 0); fails on anything else."""
    flat_y, flat_x = y.reshape(len(y), -1), x.reshape(len(x), -1)
    kept = np.all(np.isclose(flat_y, flat_x / (1 - p), rtol=1e-6, atol=0), axis=1)
    dropped = np.all(flat_y == 0, axis=1)
    assert np.all(kept ^ dropped)
    return kept


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_identity_in_eval_and_with_p_zero(mode):
    x = rng.standard_normal((4, 3, 5))
    np.testing.assert_array_equal(nn.StochasticDepth(0.7, mode).eval()(cs.Tensor(x)).data, x)
    np.testing.assert_array_equal(nn.StochasticDepth(0.0, mode).train()(cs.Tensor(x)).data, x)


def test_row_mode_drops_whole_samples_at_rate_p_and_scales_survivors():
    p, n = 0.3, 4000
    x = rng.uniform(0.5, 1.5, (n, 2, 3))
    cs.manual_seed(0)
    kept = _kept(nn.StochasticDepth(p, "row").train()(cs.Tensor(x)).data, x, p)
    # binomial(n, 1 - p): the kept fraction lies within 4 standard deviations of 1 - p
    assert abs(kept.mean() - (1 - p)) < 4 * np.sqrt(p * (1 - p) / n)


def test_batch_mode_keeps_or_drops_the_whole_batch():
    p, x = 0.5, rng.uniform(0.5, 1.5, (6, 2, 2))
    layer = nn.StochasticDepth(p, "batch").train()
    cs.manual_seed(1)
    outcomes = [_kept(layer(cs.Tensor(x)).data, x, p) for _ in range(40)]
    assert all(k.all() or not k.any() for k in outcomes)
    assert 0 < sum(k.all() for k in outcomes) < 40  # both happen


def test_p_one_drops_everything_without_dividing_by_zero():
    y = nn.StochasticDepth(1.0, "row").train()(cs.Tensor(rng.standard_normal((3, 4))))
    np.testing.assert_array_equal(y.data, np.zeros((3, 4)))


def test_gradient_is_the_mask_and_the_seed_repeats_the_draw():
    x = rng.uniform(0.5, 1.5, (8, 3, 4))
    layer = nn.StochasticDepth(0.5, "row").train()
    cs.manual_seed(3)
    t = cs.Tensor(x, requires_grad=True)
    y = layer(t)
    y.sum().backward()
    np.testing.assert_allclose(t.grad, y.data / x, rtol=1e-12)  # y = mask * x, so dy/dx = mask
    cs.manual_seed(3)
    np.testing.assert_array_equal(layer(cs.Tensor(x)).data, y.data)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_the_torch_twin_follows_the_same_rule(mode):
    twin_cls = registry.declaration("StochasticDepth").torch.resolve(torch.nn, None)
    assert twin_cls.__name__ == "StochasticDepth"
    twin = twin_cls(0.4, mode).train()
    torch.manual_seed(0)
    x = rng.uniform(0.5, 1.5, (500, 2, 3))
    kept = _kept(twin(torch.tensor(x)).numpy(), x, 0.4)
    if mode == "batch":
        assert kept.all() or not kept.any()
    else:
        assert 0.5 < kept.mean() < 0.7
    np.testing.assert_array_equal(twin.eval()(torch.tensor(x)).numpy(), x)


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.drop = nn.Conv2d(3, 3, 3, padding=1), nn.StochasticDepth(0.2, "row")

    def forward(self, x):
        return x + self.drop(self.conv(x))


def test_converts_with_from_torch_and_exports_in_eval(tmp_path):
    cs.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 3, 1), nn.StochasticDepth(0.25, "batch")).eval()
    twin = to_torch(block)
    back = cs.from_torch(twin)
    converted = back.get("1")
    assert type(converted) is nn.StochasticDepth and (converted.p, converted.mode) == (0.25, "batch")
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.tensor(x)).numpy()
    np.testing.assert_allclose(back(cs.Tensor(x)).data, expected, rtol=1e-5, atol=1e-6)
    model = _Block().eval()
    cs.to_onnx(model, (3, 5, 5), tmp_path / "sd.onnx")
    got = ort.InferenceSession(str(tmp_path / "sd.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got[0], model(cs.Tensor(x)).data, rtol=1e-5, atol=1e-5)


BAD = [(lambda: nn.StochasticDepth(1.5, "row"), ValueError, r"StochasticDepth: p must be in \[0, 1\], got 1.5"),
       (lambda: nn.StochasticDepth(0.1, "col"), ValueError, r"StochasticDepth: mode must be one of 'batch', 'row'"),
       (lambda: nn.StochasticDepth(0.1), TypeError, r"mode"),
       (lambda: cs.nn.functional.stochastic_depth(np.ones(3), -0.1, "row"), ValueError,
        r"stochastic_depth: p must be in \[0, 1\], got -0.1")]


@pytest.mark.parametrize("make,error,pattern", BAD)
def test_bad_arguments_name_the_layer_and_the_rule(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()
