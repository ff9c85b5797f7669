"""Adaptive average and max pooling to any output size, against PyTorch (values and gradients)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as tf

import convscope as cs
from convscope.nn import functional as F

rng = np.random.default_rng(0)

CASES = [((2, 3, 10), 4), ((2, 3, 10), 1), ((2, 3, 9, 7), (4, 3)), ((2, 3, 8, 8), (2, None)), ((1, 2, 2, 2), 7),
         ((1, 2, 5, 6, 7), (2, 3, 4)), ((2, 3, 12, 12), 6)]


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("shape,size", CASES)
def test_adaptive_pooling_equals_torch(kind, shape, size):
    x = rng.standard_normal(shape)
    n = len(shape) - 2
    ours = F.adaptive_avg_pool if kind == "avg" else F.adaptive_max_pool
    theirs = getattr(tf, f"adaptive_{kind}_pool{n}d")
    a, t = cs.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yt = ours(a, size), theirs(t, size)
    np.testing.assert_allclose(ya.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(ya.shape)
    (ya * cs.Tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


class _Pool(cs.nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def forward(self, x):
        return F.adaptive_avg_pool(x, self.size)


def test_regular_adaptive_windows_are_a_pooling_window_for_the_analysis():
    cs.manual_seed(0)
    conv = cs.nn.Conv2d(1, 2, 3, padding=1)
    regular = cs.nn.Sequential(conv, _Pool(4))
    same = cs.nn.Sequential(conv, cs.nn.AvgPool2d(3))
    assert cs.receptive_field(regular, (1, 12, 12)) == cs.receptive_field(same, (1, 12, 12))
    assert cs.receptive_region(regular, (1, 12, 12), (0, 1, 2)) == cs.receptive_region(same, (1, 12, 12), (0, 1, 2))
    irregular = cs.summary(cs.nn.Sequential(conv, _Pool(5)), (1, 12, 12))
    assert irregular.rows[-1].rf_size == (None,)  # overlapping windows of varying size: the whole input


def test_regular_adaptive_pooling_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    cs.manual_seed(0)
    model = cs.nn.Sequential(cs.nn.Conv2d(1, 2, 3, padding=1), _Pool((3, 2)))
    x = rng.standard_normal((2, 1, 9, 8)).astype(np.float32)
    cs.to_onnx(model, (1, 9, 8), tmp_path / "pool.onnx")
    got = ort.InferenceSession(str(tmp_path / "pool.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model(cs.Tensor(x)).data, rtol=1e-5, atol=1e-6)
