"""from_torch on the graph shapes real CNNs have: modules called twice, functions and methods on
tensors and on sizes, dict and tuple outputs; refusals counted per kind; analysis of what cannot run.
PyTorch is the oracle for values, shapes and gradients."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as tf
from hypothesis import given, strategies as st

import convscope as cs
from convscope import cli
from convscope.bridges import from_torch


def run_both(module, x):
    """(convscope's output, torch's) for the same input; module in eval mode."""
    module.eval()
    with torch.no_grad():
        expected = module(torch.tensor(x))
    with cs.no_grad():
        got = from_torch(module, x.shape[1:])(cs.Tensor(x))
    return got, expected


class Shared(torch.nn.Module):
    """One ReLU called twice (as torchvision's ResNet blocks do) and one conv applied twice in a row."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.relu = torch.nn.ReLU(inplace=True)
        self.head = torch.nn.Linear(3 * 5 * 5, 2)

    def forward(self, x):
        y = self.relu(self.conv(self.conv(x)))
        return self.head(self.relu(y + x).flatten(1))


def test_a_module_called_twice_is_one_layer_with_tied_weights():
    torch.manual_seed(0)
    reference = Shared()
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    model = from_torch(reference, (3, 5, 5))
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in reference.named_parameters()]
    out = model(cs.Tensor(x))
    out.sum().backward()
    expected = reference(torch.tensor(x))
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    # the shared weight's gradient is the sum over both calls: one parameter, not two copies
    np.testing.assert_allclose(model.conv.weight.grad, reference.conv.weight.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_summary_has_a_row_per_call_and_counts_parameters_once():
    model = from_torch(Shared(), (3, 5, 5))
    s = cs.summary(model, (3, 5, 5))
    rows = [(r.name, r.params, r.macs) for r in s.rows if r.name in ("conv", "relu")]
    conv_macs = 25 * 3 * 3 * 9
    assert rows == [("conv", 84, conv_macs), ("conv", 0, conv_macs), ("relu", 0, 0), ("relu", 0, 0)]
    assert s.totals["params"] == sum(p.numel() for p in Shared().parameters())


class Functional(torch.nn.Module):
    """The functions and methods torchvision's models call, on tensors and on sizes."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d((3, 2))

    def forward(self, x):
        batch, channels, height, width = x.size()
        groups = 2
        # channel shuffle (ShuffleNet): view -> transpose -> contiguous -> view
        x = x.view(batch, groups, channels // groups, height, width)
        x = torch.transpose(x, 1, 2).contiguous().view(batch, -1, height, width)
        a, b = x.chunk(2, dim=1)
        c, d = torch.split(x, [1, 3], dim=1)
        y = torch.cat([tf.relu(a + 1, inplace=True), torch.sigmoid(b), tf.hardsigmoid(c), d], 1)
        y = self.conv(y)
        p = y.permute(0, 2, 3, 1).permute(0, 3, 1, 2)
        pooled = self.pool(p) + tf.adaptive_avg_pool2d(p, (3, 2))
        m = y.mean([2, 3]) * (getattr(y, "shape")[2] // 2) - y.size(1)
        return torch.flatten(pooled, 1, 2).reshape(x.shape[0], -1).sum(1, keepdim=True) + m


def test_torchvisions_functions_and_methods_convert():
    x = np.random.default_rng(1).standard_normal((2, 4, 7, 6)).astype(np.float32)
    got, expected = run_both(Functional(), x)
    np.testing.assert_allclose(got.data, expected.numpy(), rtol=1e-5, atol=1e-5)


@given(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.data())
def test_chunk_split_transpose_agree_with_pytorch(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    chunks = data.draw(st.integers(1, n + 2))
    size = data.draw(st.integers(1, n + 1))
    other = data.draw(st.integers(0, len(shape) - 1))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    t = torch.tensor(x)
    from convscope.nn.graph import FUNCTIONS as fn

    pieces = [(fn["chunk"](cs.Tensor(x), chunks, dim), torch.chunk(t, chunks, dim)),
              (fn["split"](cs.Tensor(x), size, dim), torch.split(t, size, dim)),
              ((fn["transpose"](cs.Tensor(x), dim, other),), (torch.transpose(t, dim, other),)),
              ((fn["flatten"](cs.Tensor(x), min(dim % len(shape), other), max(dim % len(shape), other)),),
               (torch.flatten(t, min(dim % len(shape), other), max(dim % len(shape), other)),))]
    for ours, theirs in pieces:
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.data, b.numpy())


class Heads(torch.nn.Module):
    """A segmentation-style output: a dict holding a tensor and a tuple."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)

    def forward(self, x):
        y = self.conv(x)
        return {"out": y, "aux": (y.relu(), y.amax(1))}


def test_dict_and_tuple_outputs_keep_their_structure():
    x = np.random.default_rng(2).standard_normal((2, 1, 6, 6)).astype(np.float32)
    got, expected = run_both(Heads(), x)
    assert list(got) == ["out", "aux"] and isinstance(got["aux"], tuple) and len(got["aux"]) == 2
    for a, b in [(got["out"], expected["out"]), *zip(got["aux"], expected["aux"])]:
        assert isinstance(a, cs.Tensor)
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-5, atol=1e-6)
    graph = cs.analysis.trace(from_torch(Heads()), (1, 6, 6))
    assert [graph.nodes[i].shape for i in graph.outputs] == [(1, 2, 4, 4), (1, 2, 4, 4), (1, 4, 4)]
    assert cs.summary(from_torch(Heads()), (1, 6, 6)).totals["params"] == 20


class Inner(torch.nn.Module):
    """A module convscope has no layer for, whose ops it has none for either."""

    def forward(self, x):
        return torch.sin(x).cumsum(1)


class Unknown(torch.nn.Module):
    """Ops convscope cannot run: element-wise ones, one that changes the shape (topk, two outputs),
    inside a module and in the root's forward; RMSNorm and PixelShuffle convert through PyTorch's
    decompositions."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.inner = Inner()
        self.norm = torch.nn.RMSNorm(6)
        self.shuffle = torch.nn.PixelShuffle(2)

    def forward(self, x):
        y = self.shuffle(self.norm(self.inner(self.conv(x)) + torch.sin(x)))
        return torch.topk(y, 2, dim=-1).values


def test_refusals_are_counted_per_kind():
    with pytest.raises(ValueError, match=r"(?s)cannot convert 4 operation\(s\) of Unknown:\n"
                                         r"  aten.sin x2 in inner \(Inner\), the forward of Unknown\n"
                                         r"  aten.cumsum x1 in inner \(Inner\)\n  aten.topk x1 in the forward of Unknown\n"):
        from_torch(Unknown(), (1, 6, 6))


def test_analysis_never_fails_on_what_convscope_cannot_run():
    module = Unknown()
    shapes = {}
    for name, m in module.named_children():  # torch's own output shapes, the oracle for the rows
        m.register_forward_hook(lambda m, i, o, name=name: shapes.update({name: tuple(o.shape[1:])}))
    with torch.no_grad():
        out = module(torch.zeros(1, 1, 6, 6))
    s = cs.summary(module, (1, 6, 6))
    rows = {r.name: r for r in s.rows}
    assert rows["conv"].output_shape == shapes["conv"]
    assert rows["torch.aten.cumsum"].output_shape == shapes["inner"]
    assert s.rows[-1].output_shape == tuple(out.shape[1:])  # topk's values, a shape torch recorded
    assert s.totals["params"] == sum(p.numel() for p in module.parameters())
    assert s.totals["macs"] == 6 * 6 * 4 * 9  # the conv's; the unknown ops count nothing and say so
    assert s.totals["not_counted"] == ["torch.aten.cumsum", "torch.aten.sin", "torch.aten.topk"]
    assert any("not counted" in note for note in rows["torch.aten.topk"].notes)
    assert "not counted (known by shape only): torch.aten.cumsum, torch.aten.sin, torch.aten.topk" in s.to_markdown()


def test_stochastic_depth_is_the_identity_in_evaluation():
    from tests.bridges.torchvision_models import builders

    builders()
    from torchvision.ops import StochasticDepth, stochastic_depth

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 2, 3, padding=1)
            self.drop = StochasticDepth(0.5, "row")

        def forward(self, x):
            return x + self.drop(self.conv(x)) + stochastic_depth(x, 0.3, "batch", self.training)

    x = np.random.default_rng(3).standard_normal((2, 2, 5, 5)).astype(np.float32)
    got, expected = run_both(Block(), x)
    np.testing.assert_allclose(got.data, expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("factory, text", [
    ("torch:no_such_package.models:net", "calling no_such_package.models.net\\(\\) failed: ModuleNotFoundError"),
    ("torch:tests.bridges.test_torch_graphs:failing_factory", "calling .*failing_factory\\(\\) failed: RuntimeError: "
                                                              "no weights"),
    ("torch:tests.bridges.test_torch_graphs:Unknown", "Unknown: PyTorch cannot run it on one sample of shape "
                                                      "3x6x6: RuntimeError: .*channels"),
    ("torch:tests.bridges.test_torch_graphs:ValueBranch", "ValueBranch: PyTorch runs it on a sample of shape "
                                                          "3x6x6 but torch.export cannot capture it"),
])
def test_cli_summary_of_a_torch_factory_fails_in_one_line(factory, text, capsys):
    assert cli.main(["summary", factory, "--input", "3x6x6"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(text, err), err


class ValueBranch(torch.nn.Module):
    """Control flow over values, which no capture at shapes alone can follow."""

    def forward(self, x):
        return x if x.sum() > 0 else -x


def failing_factory():
    raise RuntimeError("no weights here")


def test_cli_summary_of_a_torch_factory_with_unknown_ops(capsys):
    assert cli.main(["summary", "torch:tests.bridges.test_torch_graphs:Unknown", "--input", "1x6x6", "--wide"]) == 0
    out = capsys.readouterr().out
    assert "torch.aten.topk" in out and "not counted (known by shape only)" in out


class Functions(torch.nn.Module):
    """torch.nn.functional calls convscope has a function for, with PyTorch's arguments."""

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.GroupNorm(2, 4)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x):
        y = tf.relu6(x * 4, inplace=True) + tf.hardtanh(x, -0.5, 0.5) + tf.dropout(x, 0.5, self.training)
        y = tf.group_norm(y, 2, self.norm.weight, self.norm.bias) + tf.layer_norm(y, (6,), eps=1e-3)
        return tf.log_softmax(tf.linear(y, self.fc.weight, self.fc.bias), dim=-1)


def test_functional_calls_with_pytorchs_arguments():
    torch.manual_seed(1)
    module = Functions()
    torch.nn.init.normal_(module.norm.weight)
    x = np.random.default_rng(4).standard_normal((2, 4, 5, 6)).astype(np.float32)
    got, expected = run_both(module, x)
    np.testing.assert_allclose(got.data, expected.numpy(), rtol=1e-4, atol=1e-5)


def test_a_module_returning_indices_is_not_taken_for_its_op():
    with pytest.raises(ValueError, match=r"aten.adaptive_max_pool2d output 1 x1 in 0 \(AdaptiveMaxPool2d\)"):
        from_torch(torch.nn.Sequential(torch.nn.AdaptiveMaxPool2d(2, return_indices=True)), (1, 4, 4))


def test_a_layer_with_a_setting_its_twin_refuses_is_its_ops():
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2, track_running_stats=False))
    s = cs.summary(module, (1, 5, 5))
    assert (s.rows[0].name, s.rows[0].kind, s.rows[-1].output_shape) == ("0", "Conv2d", (2, 3, 3))
    assert s.totals["params"] == 24 and s.totals["not_counted"] == []
