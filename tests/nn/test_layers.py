"""Every layer's forward and backward equal the PyTorch layer's with the same weights."""
import numpy as np
import pytest
import torch
import torch.nn as tnn

import convscope as cs
from tests.nn.parity import check_module

rng = np.random.default_rng(0)
X1, X2, X3 = rng.standard_normal((2, 4, 11)), rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((2, 4, 5, 6, 5))

PAIRS = {
    "Conv1d": (lambda m: m.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2), X1),
    "Conv2d grouped": (lambda m: m.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, groups=2), X2),
    "Conv2d same no bias": (lambda m: m.Conv2d(4, 5, 3, padding="same", bias=False), X2),
    "Conv2d depthwise": (lambda m: m.Conv2d(4, 8, 3, padding=1, groups=4), X2),
    "Conv3d": (lambda m: m.Conv3d(4, 3, 2, stride=(1, 2, 1), padding=(1, 0, 1)), X3),
    "ConvTranspose1d": (lambda m: m.ConvTranspose1d(4, 3, 3, stride=2, padding=1, output_padding=1), X1),
    "ConvTranspose2d": (lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2, dilation=2), X2),
    "ConvTranspose3d": (lambda m: m.ConvTranspose3d(4, 2, 2, stride=2), X3),
    "MaxPool1d": (lambda m: m.MaxPool1d(3, stride=2, padding=1), X1),
    "MaxPool2d ceil": (lambda m: m.MaxPool2d(2, ceil_mode=True), X2),
    "MaxPool3d": (lambda m: m.MaxPool3d(2), X3),
    "AvgPool1d": (lambda m: m.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), X1),
    "AvgPool2d": (lambda m: m.AvgPool2d((3, 2), stride=1), X2),
    "AvgPool3d": (lambda m: m.AvgPool3d(2, ceil_mode=True), X3),
    "Linear": (lambda m: m.Linear(11, 7), X1),
    "ReLU": (lambda m: m.ReLU(), X2),
    "LeakyReLU": (lambda m: m.LeakyReLU(0.2), X2),
    "Tanh": (lambda m: m.Tanh(), X1),
    "Sigmoid": (lambda m: m.Sigmoid(), X1),
    "Softmax": (lambda m: m.Softmax(dim=1), X2),
    "Flatten": (lambda m: m.Flatten(), X3),
    "BatchNorm1d": (lambda m: m.BatchNorm1d(4), X1),
    "BatchNorm2d": (lambda m: m.BatchNorm2d(4), X2),
    "BatchNorm2d no affine": (lambda m: m.BatchNorm2d(4, affine=False), X2),
}


def torch_twin(make):
    return make(tnn)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(PAIRS))
def test_layer_matches_torch(name, dtype):
    make, x = PAIRS[name]
    torch.manual_seed(0)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    check_module(make(cs.nn), make(tnn), x.astype(dtype), rtol=tol, atol=tol)


def test_global_and_kmax_pools_match_torch_functions():
    x = rng.standard_normal((2, 3, 7, 5))
    xs, xt = cs.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = cs.nn.GlobalAvgPool()(xs) * 2 + cs.nn.GlobalMaxPool()(xs)
    ref = xt.mean(dim=(2, 3)) * 2 + xt.amax(dim=(2, 3))
    np.testing.assert_allclose(y.data, ref.detach().numpy())
    y.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(xs.grad, xt.grad.numpy())
    xs, xt = cs.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = cs.nn.KMaxPool(2)(xs)
    idx = torch.topk(xt, 2, dim=-1).indices.sort(dim=-1).values
    ref = torch.gather(xt, -1, idx)
    np.testing.assert_allclose(y.data, ref.detach().numpy())
    (y * y).sum().backward()
    (ref * ref).sum().backward()
    np.testing.assert_allclose(xs.grad, xt.grad.numpy())


def test_batchnorm_running_stats_and_eval_match_torch():
    ours, theirs = cs.nn.BatchNorm2d(4), tnn.BatchNorm2d(4).double()
    for _ in range(3):
        x = rng.standard_normal((5, 4, 3, 3)) * 3 + 1
        ours(cs.Tensor(x))
        theirs(torch.tensor(x))
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-6)
    ours.eval(), theirs.eval()
    check_module(ours, theirs, rng.standard_normal((2, 4, 3, 3)), rtol=1e-6, atol=1e-6)


def test_dropout_scales_kept_units_and_is_identity_in_eval():
    cs.manual_seed(1)
    layer = cs.nn.Dropout(0.25)
    x = cs.Tensor(np.ones((200, 50)), requires_grad=True)
    y = layer(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.01
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.75)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x.data)


def test_containers_match_torch_models():
    torch.manual_seed(0)

    class TorchBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.body = tnn.Sequential(tnn.Conv2d(4, 4, 3, padding=1), tnn.ReLU(), tnn.Conv2d(4, 4, 3, padding=1))
            self.shortcut = tnn.Conv2d(4, 4, 1)
            self.a = tnn.Conv2d(4, 2, 1)
            self.b = tnn.Conv2d(4, 3, 3, padding=1)

        def forward(self, x):
            y = torch.relu(self.body(x) + self.shortcut(x))
            return torch.cat([self.a(y), self.b(y)], dim=1)

    ours = cs.nn.Sequential(cs.nn.Residual(cs.nn.Sequential(cs.nn.Conv2d(4, 4, 3, padding=1), cs.nn.ReLU(),
                                                            cs.nn.Conv2d(4, 4, 3, padding=1)), cs.nn.Conv2d(4, 4, 1)),
                            cs.nn.ReLU(), cs.nn.Concat(cs.nn.Conv2d(4, 2, 1), cs.nn.Conv2d(4, 3, 3, padding=1)))
    theirs = TorchBlock().double()
    ours.double()
    names = {"0.body.0": "body.0", "0.body.2": "body.2", "0.shortcut": "shortcut", "2.0": "a", "2.1": "b"}
    ts = theirs.state_dict()
    ours.load_state_dict({f"{o}.{k}": ts[f"{t}.{k}"].numpy() for o, t in names.items() for k in ("weight", "bias")})
    x = rng.standard_normal((2, 4, 6, 6))
    xs, xt = cs.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ref = ours(xs), theirs(xt)
    np.testing.assert_allclose(y.data, ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    y.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours[0].body[0].weight.grad, theirs.body[0].weight.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(reduction):
    logits = rng.standard_normal((6, 5)) * 30  # large logits: the stable path matters
    target = rng.integers(0, 5, 6)
    ls, lt = cs.Tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    a = cs.nn.CrossEntropyLoss(reduction)(ls, target)
    b = tnn.CrossEntropyLoss(reduction=reduction)(lt, torch.tensor(target))
    np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(ls.grad, lt.grad.numpy(), rtol=1e-10, atol=1e-12)
    pred, tgt = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ps, pt = cs.Tensor(pred, requires_grad=True), torch.tensor(pred, requires_grad=True)
    a = cs.nn.MSELoss(reduction)(ps, tgt)
    b = tnn.MSELoss(reduction=reduction)(pt, torch.tensor(tgt))
    np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(ps.grad, pt.grad.numpy(), rtol=1e-12)


def test_default_init_has_pytorch_bounds():
    cs.manual_seed(0)
    conv = cs.nn.Conv2d(3, 64, 5)
    bound = 1 / np.sqrt(3 * 25)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.weight.data).max() > 0.9 * bound
    assert np.abs(conv.bias.data).max() <= bound
    assert abs(conv.weight.data.std() - bound / np.sqrt(3)) < 0.05 * bound  # uniform(-b, b) has std b/sqrt(3)
