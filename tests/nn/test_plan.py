"""Execution plans (eval + no_grad): fused steps give PyTorch's outputs, the same bytes run to run,
and the plan is dropped when the model's state changes."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import convscope as cs
from convscope.bridges import from_torch, to_torch
from convscope.nn import plan
from tests.bridges.torchvision_models import randomise_norms

tn = torch.nn


class Block(tn.Module):
    """A ResNet basic block with a strided 1x1 shortcut, then a DenseNet-style pre-activation
    branch joined by a concatenation, and a classifier with a ReLU between two linear layers."""

    def __init__(self, c=4, o=8, stride=2):
        super().__init__()
        self.conv1 = tn.Conv2d(c, o, 3, stride, 1, bias=False)
        self.bn1 = tn.BatchNorm2d(o)
        self.conv2 = tn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = tn.BatchNorm2d(o)
        self.down = tn.Sequential(tn.Conv2d(c, o, 1, stride, bias=False), tn.BatchNorm2d(o))
        self.pre = tn.BatchNorm2d(o)
        self.side = tn.Conv2d(o, 4, 1, bias=True)
        self.fc1 = tn.Linear(12 * 4 * 4, 16)
        self.fc2 = tn.Linear(16, 3)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = torch.relu(y + self.down(x))
        z = self.side(torch.relu(self.pre(y)))
        h = torch.flatten(torch.cat([y, z], 1), 1)
        return self.fc2(torch.relu(self.fc1(h)))


def pair(seed=0):
    torch.manual_seed(seed)
    ref = randomise_norms(Block(), seed)
    return ref, from_torch(ref).eval()


def run(model, x, planned=True):
    if planned:
        with cs.no_grad():
            return model(cs.Tensor(x)).data
    return model(cs.Tensor(x)).data  # with gradients on, no plan is made


def torch_out(ref, x):
    with torch.no_grad():
        return ref(torch.tensor(x)).numpy()


def forms(model) -> list[str]:
    """The plan's steps by the form they run ("Step" for a step run as it is)."""
    return [type(s.form).__name__ if isinstance(s, plan.Joined) else "Step" for s in model._execution_plan.steps]


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


X = np.random.default_rng(0).standard_normal((3, 4, 8, 8)).astype(np.float32)


def test_plan_matches_torch_and_the_step_by_step_forward():
    ref, model = pair()
    planned = run(model, X)
    assert relative(planned, torch_out(ref, X)) <= 1e-5
    assert relative(planned, run(model, X, planned=False)) <= 1e-5
    assert np.array_equal(planned, run(model, X))  # the same bytes from the plan made before


def test_plan_fuses_batchnorm_residual_and_relu_into_the_convolutions():
    _, model = pair()
    run(model, X)
    steps = model._execution_plan.steps
    kinds = forms(model)
    assert kinds.count("ConvForm") == 4 and kinds.count("ChannelAffine") == 1 and kinds.count("DenseForm") == 2
    names = {o.name for s, kind in zip(steps, kinds) if kind == "ConvForm" for o in s.original}
    assert {"bn1", "bn2", "down_1", "add", "relu_1", "side"} <= names  # folded, the residual and its ReLU
    assert not any(kind == "Step" and isinstance(s.fn, cs.nn.BatchNorm2d) for s, kind in zip(steps, kinds))


def test_values_are_freed_after_their_last_consumer():
    _, model = pair()
    run(model, X)
    p = model._execution_plan
    freed = [name for frees in p.frees for name in frees]
    assert len(freed) == len(set(freed))
    produced = {s.name for s in p.steps}
    assert produced - set(freed) == {p.output.name}  # everything but the output is dropped on the way


def test_train_drops_the_plan_and_eval_makes_a_new_one():
    ref, model = pair()
    run(model, X)
    first = model._execution_plan
    model.train()
    model(cs.Tensor(X))  # a training forward moves the running statistics
    ref.train()
    ref(torch.tensor(X))
    model.eval()
    ref.eval()
    out = run(model, X)
    assert model._execution_plan is not first
    assert relative(out, torch_out(ref, X)) <= 1e-5


def test_eval_twice_keeps_the_plan():
    _, model = pair()
    run(model, X)
    first = model._execution_plan
    model.eval()
    run(model, X)
    assert model._execution_plan is first


def test_load_state_dict_and_optimizer_steps_drop_the_plan():
    ref, model = pair()
    run(model, X)
    other, _ = pair(seed=1)
    model.load_state_dict({k: v.numpy() for k, v in other.state_dict().items() if "num_batches" not in k})
    assert relative(run(model, X), torch_out(other, X)) <= 1e-5
    before = run(model, X)
    opt = cs.optim.SGD(model.parameters(), lr=0.1)
    model(cs.Tensor(X)).sum().backward()  # eval mode, with gradients: no plan involved
    opt.step()
    after = run(model, X)
    assert not np.allclose(after, before)
    assert relative(after, run(model, X, planned=False)) <= 1e-5


def test_replaced_arrays_drop_the_plan():
    _, model = pair()
    run(model, X)
    model.double()
    x64 = X.astype(np.float64)
    out = run(model, x64)
    assert out.dtype == np.float64
    assert relative(out, run(model, x64, planned=False)) <= 1e-12


def test_hand_edits_are_seen_after_drop():
    _, model = pair()
    before = run(model, X)
    model.conv1.weight.data[...] *= 2
    plan.drop(model)
    after = run(model, X)
    assert not np.allclose(before, after)
    assert relative(after, run(model, X, planned=False)) <= 1e-5


def test_a_bad_input_gets_the_layers_own_error():
    _, model = pair()
    with cs.no_grad():
        model(cs.Tensor(X))  # captured at the right shape: a wrong one is the layer's to refuse
    with cs.no_grad(), pytest.raises(ValueError, match="Conv2d 'conv1'"):
        model(cs.Tensor(np.zeros((1, 3, 8, 8), np.float32)))


def test_observers_and_the_tracer_see_every_layer():
    _, model = pair()
    seen = []
    with cs.no_grad(), cs.nn.module.observe(lambda m, out: seen.append(m)):
        model(cs.Tensor(X))
    assert model.bn1 in seen and model.bn2 in seen
    assert cs.summary(model, (4, 8, 8)).rows  # the shape tracer runs the steps one by one


def test_sequential_plan_matches_torch():
    torch.manual_seed(0)
    layers = cs.nn.Sequential(cs.nn.Conv2d(3, 6, 3, padding=1), cs.nn.BatchNorm2d(6), cs.nn.ReLU(),
                              cs.nn.MaxPool2d(2), cs.nn.Conv2d(6, 6, 1), cs.nn.BatchNorm2d(6),
                              cs.nn.Flatten(), cs.nn.Linear(6 * 4 * 4, 5), cs.nn.ReLU())
    ref = randomise_norms(to_torch(layers), seed=3)
    layers.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items() if "num_batches" not in k})
    layers.eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    out = run(layers, x)
    assert relative(out, torch_out(ref, x)) <= 1e-5
    assert forms(layers) == ["Step", "ConvForm", "MaxPoolForm", "ConvForm", "Step", "DenseForm"]


@given(c=st.integers(1, 6), o=st.integers(1, 6), k=st.sampled_from([1, 2, 3, 5]), stride=st.integers(1, 3),
       pad=st.integers(0, 2), size=st.integers(5, 11), groups=st.sampled_from([1, "depthwise"]), n=st.integers(1, 3),
       bias=st.booleans())
def test_conv_batchnorm_relu_plans_match_torch_on_random_geometries(c, o, k, stride, pad, size, groups, n, bias):
    if groups == "depthwise":
        groups, o = c, c
    torch.manual_seed(0)
    ref = randomise_norms(tn.Sequential(tn.Conv2d(c, o, k, stride, pad, groups=groups, bias=bias),
                                        tn.BatchNorm2d(o), tn.ReLU()))
    model = from_torch(ref).eval()
    x = np.random.default_rng(size).standard_normal((n, c, size + k, size)).astype(np.float32)
    out = run(model, x)
    assert forms(model)[1] == "ConvForm"
    np.testing.assert_allclose(out, torch_out(ref, x), rtol=1e-4, atol=1e-5)


def test_nested_containers_are_inlined_so_a_residual_add_joins_the_convolution():
    torch.manual_seed(0)
    nn = cs.nn
    block = nn.Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)))
    layers = nn.Sequential(block, nn.ReLU(), nn.Concat(nn.Identity(), nn.Conv2d(4, 2, 1)), nn.Flatten(),
                           nn.Linear(6 * 8 * 8, 3))
    ref = randomise_norms(to_torch(layers), seed=2)
    layers.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items() if "num_batches" not in k})
    layers.eval()
    out = run(layers, X)
    assert relative(out, torch_out(ref, X)) <= 1e-5
    steps = layers._execution_plan.steps
    assert forms(layers) == ["Step", "ConvForm", "ConvForm", "Step", "ConvForm", "Step", "Step", "DenseForm"]
    joined = [s for s in steps if isinstance(s, plan.Joined)][1]
    assert [o.name for o in joined.original] == ["0/body/3", "0/body/4", "0/.sum", "1"]  # conv, bn, add, relu
