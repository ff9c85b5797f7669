"""PyTorch bridge: plain-PyTorch ResNet-18 and U-Net through from_torch, round trips, scale-out path."""
import json

import numpy as np
import pytest
import torch

import convscope as cs
from convscope import cli, zoo
from convscope.bridges import from_torch, to_torch
from tests.analysis.torch_zoo import REFERENCES

nn = cs.nn


def last_spatial_field(model, shape):
    """The field of the last spatial layer before the head's pooling (which the two models write as an
    adaptive pool, a window over the whole map, and a global pool)."""
    rows = [r for r in cs.summary(model, shape).rows if r.rf_size and r.rf_size[0] is not None and
            not r.kind.startswith(("Adaptive", "Global"))]
    return rows[-1].rf_size, rows[-1].rf_jump, rows[-1].rf_start


@pytest.mark.parametrize("name", ["resnet18", "unet_small"])
def test_plain_pytorch_models_convert_exactly(name):
    torch.manual_seed(0)
    reference = REFERENCES[name]().eval()
    shape = zoo.load(name).input_shape
    model = from_torch(reference, shape)
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.tensor(x)).numpy()
    assert np.abs(model(cs.Tensor(x)).data - expected).max() < 1e-4
    assert sum(p.data.size for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in reference.named_parameters()]
    assert last_spatial_field(model, shape) == last_spatial_field(zoo.load(name), shape)


def test_unsupported_ops_are_listed_with_their_place():
    class Inner(torch.nn.Module):
        def forward(self, x):
            return torch.sin(x) + torch.sin(2 * x)

    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3)
            self.inner = Inner()

        def forward(self, x):
            return self.inner(self.conv(x)).cumsum(1)

    with pytest.raises(ValueError, match=r"(?s)cannot convert 3 operation\(s\) of Odd:\n  aten.sin x2 in inner \(Inner\)\n"
                                         r"  aten.cumsum x1 in the forward of Odd\n"):
        from_torch(Odd(), (1, 8, 8))


def test_round_trip_convscope_torch_convscope():
    cs.manual_seed(0)
    model = cs.load_model("examples/vgg_block.yaml")
    x = np.random.default_rng(1).standard_normal((2, 1, 16, 16)).astype(np.float32)
    expected = model(cs.Tensor(x)).data
    twin = to_torch(model)
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
    back = from_torch(twin)
    np.testing.assert_allclose(back(cs.Tensor(x)).data, expected, rtol=1e-5, atol=1e-5)


def test_to_torch_pads_like_convscope_and_trains_in_torch():
    cs.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 3, 4, stride=2, padding="same"), nn.ReLU(),
                          nn.Conv2d(3, 2, 3, padding=((0, 2), (1, 0))), nn.GlobalAvgPool(), nn.Linear(2, 4))
    x = np.random.default_rng(2).standard_normal((3, 1, 9, 8)).astype(np.float32)
    twin = to_torch(model)
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.tensor(x)).numpy(), model(cs.Tensor(x)).data, rtol=1e-5, atol=1e-5)
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)  # the scale-out path: an ordinary torch module
    loss = twin(torch.tensor(x)).square().mean()
    loss.backward()
    opt.step()
    model.load_state_dict(from_torch(twin).state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(model(cs.Tensor(x)).data, twin(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-5)


def test_cli_summary_of_a_torch_factory(capsys):
    assert cli.main(["summary", "torch:tests.analysis.torch_zoo:lenet5", "--input", "1x32x32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["params"] == 61_706
