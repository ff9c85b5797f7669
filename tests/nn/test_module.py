"""Module bookkeeping: names, state dicts and their errors, repr, construction checks, optimizers."""
import numpy as np
import pytest
import torch

import convscope as cs
from tests.nn.parity import copy_weights

nn = cs.nn


def small_net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16, 3))


def test_names_match_pytorch_state_dict():
    ours = small_net()
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3))
    expected = [k for k in theirs.state_dict() if not k.endswith("num_batches_tracked")]
    assert list(ours.state_dict()) == expected
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    copy_weights(ours, theirs)
    np.testing.assert_array_equal(ours[0].weight.data, theirs[0].weight.detach().numpy())


def test_shared_modules_are_counted_once():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(model.parameters()) == 2
    assert len([m for m in model.modules() if isinstance(m, nn.Linear)]) == 1


def test_load_state_dict_reports_every_problem():
    model = small_net()
    state = model.state_dict()
    state.pop("0.bias")
    state["extra.weight"] = np.zeros(3)
    state["5.weight"] = np.zeros((3, 15))
    with pytest.raises(ValueError, match=r"missing keys: 0.bias \| unexpected keys: extra.weight \| "
                                         r"shape mismatch: 5.weight: file \(3, 15\) vs model \(3, 16\)"):
        model.load_state_dict(state)


def test_repr_like_pytorch():
    text = repr(nn.Sequential(nn.Conv2d(1, 6, 5, stride=2, padding=1, bias=False), nn.ReLU()))
    assert text == ("Sequential(\n  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(2, 2), padding=(1, 1), "
                    "bias=False)\n  (1): ReLU()\n)")


BAD_LAYERS = [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), r"Conv2d: in_channels 3 and out_channels 4 must both be divisible by groups 2"),
    (lambda: nn.Conv1d(0, 4, 3), r"Conv1d: in_channels must be >= 1, got 0"),
    (lambda: nn.Conv2d(1, 4, 0), r"Conv2d \(spatial axis 0\): kernel_size must be >= 1, got 0"),
    (lambda: nn.Conv2d(1, 4, 3, padding=-1), r"Conv2d \(spatial axis 0\): padding must be >= 0, got -1"),
    (lambda: nn.Conv2d(1, 4, 3, padding="middle"), r"Conv2d: padding 'middle' is not allowed; use one of 'valid', 'same', 'full', an int"),
    (lambda: nn.Conv2d(1, 4, (3, 3, 3)), r"kernel_size \(3, 3, 3\) has 3 entries but the input has 2"),
    (lambda: nn.ConvTranspose2d(1, 4, 3, padding="same"), r"ConvTranspose2d: padding 'same' is not allowed; use an int or a tuple"),
    (lambda: nn.MaxPool2d(2, padding=2), r"MaxPool2d \(spatial axis 0\): padding \(2, 2\) must be at most half the kernel"),
    (lambda: nn.Linear(3, -1), r"Linear: out_features must be >= 1, got -1"),
    (lambda: nn.Dropout(1.0), r"Dropout: p must be in \[0, 1\)"),
    (lambda: nn.Sequential(nn.ReLU(), 3), r"Sequential: item '1' is a int, not a Module"),
]


@pytest.mark.parametrize("make,pattern", BAD_LAYERS)
def test_layers_check_arguments_at_construction(make, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make()


def test_forward_errors_name_the_layer():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"Linear '2': input has 8 features .* but in_features is 5"):
        model(cs.Tensor(np.zeros((1, 1, 4, 4), np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d '0': conv \(spatial axis 0\): kernel 3 .* > padded input 2"):
        model(cs.Tensor(np.zeros((1, 1, 2, 2), np.float32)))
    with pytest.raises(ValueError, match=r"Residual: body output \(1, 2, 2, 2\) and shortcut output \(1, 1, 4, 4\)"):
        nn.Residual(nn.Conv2d(1, 2, 3))(cs.Tensor(np.zeros((1, 1, 4, 4), np.float32)))


def run_steps(ours_cls, torch_cls, kwargs, steps=4):
    ours, theirs = small_net().double(), torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16, 3)).double()
    copy_weights(ours, theirs)
    opt_a, opt_b = ours_cls(ours.parameters(), **kwargs), torch_cls(theirs.parameters(), **kwargs)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x, y = rng.standard_normal((5, 1, 4, 4)), rng.integers(0, 3, 5)
        opt_a.zero_grad()
        opt_b.zero_grad()
        nn.CrossEntropyLoss()(ours(cs.Tensor(x)), y).backward()
        torch.nn.CrossEntropyLoss()(theirs(torch.tensor(x)), torch.tensor(y)).backward()
        opt_a.step()
        opt_b.step()
    for name, p in theirs.named_parameters():
        # a conv bias before BatchNorm has a ~0 gradient that Adam normalises: allow rounding-level noise
        np.testing.assert_allclose(dict(ours.named_parameters())[name].data, p.detach().numpy(), rtol=1e-9,
                                   atol=1e-9, err_msg=name)


@pytest.mark.parametrize("kwargs", [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
                                    dict(lr=0.05, momentum=0.5, dampening=0.1, weight_decay=0.01)])
def test_sgd_steps_match_torch(kwargs):
    run_steps(cs.optim.SGD, torch.optim.SGD, kwargs)


@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)])
def test_adam_steps_match_torch(kwargs):
    run_steps(cs.optim.Adam, torch.optim.Adam, kwargs)


def test_layers_are_found_by_qualified_name():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1))))
    assert model.layer("1.body.0") is model[1].body[0]
    assert model.layer(model[0]) is model[0]
    with pytest.raises(ValueError, match=r"no layer named 'conv9'; layers: 0, 1, 1.body, 1.body.0"):
        cs.saliency(model, np.zeros((1, 5, 5), np.float32), (0, 1, 1), layer="conv9")
