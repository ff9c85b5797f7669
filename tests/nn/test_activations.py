"""Modern activations and normalisations against PyTorch: values and gradients in float64, and their
ONNX export against onnxruntime."""
import numpy as np
import pytest
import torch
import torch.nn.functional as tf

import convscope as cs
from convscope.nn import functional as F

rng = np.random.default_rng(0)

# (convscope function, torch function, input shape, extra tensors' shapes)
ELEMENTWISE = {
    "relu6": (F.relu6, tf.relu6),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: tf.hardtanh(x, -0.5, 2.0)),
    "clamp min only": (lambda x: F.clamp(x, min=0.25), lambda x: torch.clamp(x, min=0.25)),
    "hardswish": (F.hardswish, tf.hardswish),
    "hardsigmoid": (F.hardsigmoid, tf.hardsigmoid),
    "silu": (F.silu, tf.silu),
    "gelu": (F.gelu, tf.gelu),
    "gelu tanh": (lambda x: F.gelu(x, "tanh"), lambda x: tf.gelu(x, approximate="tanh")),
    "mish": (F.mish, tf.mish),
}


def _input(shape):
    x = rng.uniform(-5, 5, shape)
    x[np.abs(np.abs(x) - 3) < 1e-3] += 0.01  # keep off the kinks where one-sided derivatives differ
    return x


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_values_and_gradients_equal_torch(name):
    ours, theirs = ELEMENTWISE[name]
    x = _input((4, 3, 5))
    g = rng.standard_normal(x.shape)
    a, b = cs.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = ours(a), theirs(b)
    np.testing.assert_allclose(ya.data, yb.detach().numpy(), rtol=1e-12, atol=1e-12)
    (ya * cs.Tensor(g)).sum().backward()
    (yb * torch.tensor(g)).sum().backward()
    # 1e-7: PyTorch's hardsigmoid backward multiplies by a float32 1/6
    np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("affine", [(True, True), (False, False)])
def test_layer_norm_channels_last_equals_torch(affine):
    x = rng.standard_normal((2, 5, 4, 6))  # (N, H, W, C) as in ConvNeXt
    w, bias = rng.standard_normal(6), rng.standard_normal(6)
    xs = [cs.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)]
    ws = [cs.Tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)] if affine[0] else [None, None]
    bs = [cs.Tensor(bias, requires_grad=True), torch.tensor(bias, requires_grad=True)] if affine[1] else [None, None]
    ya = F.layer_norm(xs[0], 6, ws[0], bs[0], eps=1e-6)
    yb = tf.layer_norm(xs[1], (6,), ws[1], bs[1], eps=1e-6)
    np.testing.assert_allclose(ya.data, yb.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(x.shape)
    (ya * cs.Tensor(g)).sum().backward()
    (yb * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xs[0].grad, xs[1].grad.numpy(), rtol=1e-9, atol=1e-11)
    if affine[0]:
        np.testing.assert_allclose(ws[0].grad, ws[1].grad.numpy(), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(bs[0].grad, bs[1].grad.numpy(), rtol=1e-9, atol=1e-11)


def test_layer_norm_over_several_axes_and_group_norm_equal_torch():
    x = rng.standard_normal((2, 6, 3, 4))
    w, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    a = cs.Tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    ya = F.layer_norm(a, (3, 4), cs.Tensor(w), cs.Tensor(b))
    yb = tf.layer_norm(t, (3, 4), torch.tensor(w), torch.tensor(b))
    np.testing.assert_allclose(ya.data, yb.detach().numpy(), rtol=1e-10, atol=1e-12)
    gw, gb = rng.standard_normal(6), rng.standard_normal(6)
    wa, ba = cs.Tensor(gw, requires_grad=True), cs.Tensor(gb, requires_grad=True)
    wt, bt = torch.tensor(gw, requires_grad=True), torch.tensor(gb, requires_grad=True)
    za = F.group_norm(a, 3, wa, ba)
    zb = tf.group_norm(t, 3, wt, bt)
    np.testing.assert_allclose(za.data, zb.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(x.shape)
    ((ya + za) * cs.Tensor(g)).sum().backward()
    ((yb + zb) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(wa.grad, wt.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ba.grad, bt.grad.numpy(), rtol=1e-9, atol=1e-11)
    with pytest.raises(ValueError, match="not divisible into 4 groups"):
        F.group_norm(a, 4)


class _Block(cs.nn.Module):
    """Every new op once, in a model that can be traced, converted and exported."""

    def __init__(self):
        super().__init__()
        self.conv = cs.nn.Conv2d(2, 4, 3, padding=1)
        self.weight = cs.nn.Parameter(rng.standard_normal(4).astype(np.float32))
        self.bias = cs.nn.Parameter(rng.standard_normal(4).astype(np.float32))

    def forward(self, x):
        y = self.conv(x)
        y = F.relu6(y) + F.hardswish(y) + F.hardsigmoid(y) + F.silu(y) + F.gelu(y) + F.gelu(y, "tanh") + F.mish(y)
        y = F.group_norm(y, 2, self.weight, self.bias)
        z = F.layer_norm(y.transpose(0, 2, 3, 1), 4, self.weight, self.bias)
        return z.transpose(0, 3, 1, 2)


def test_new_ops_export_to_onnx_and_analyse(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    cs.manual_seed(0)
    model = _Block()
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    cs.to_onnx(model, (2, 5, 5), tmp_path / "acts.onnx")
    session = ort.InferenceSession(str(tmp_path / "acts.onnx"), providers=["CPUExecutionProvider"])
    expected = model(cs.Tensor(x)).data
    got = session.run(None, {"input": x})[0]
    assert np.abs(got - expected).max() / np.abs(expected).max() <= 1e-5
    s = cs.summary(model, (2, 5, 5))
    assert s.totals["activations"] == 7
    assert s.totals["macs"] == 4 * 25 * 2 * 9
