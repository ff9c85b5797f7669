"""cs.summary against PyTorch reference architectures, conv-matrix counts and hand-checkable models."""
import json

import numpy as np
import pytest
import torch

import convscope as cs
from convscope import zoo
from tests.analysis.torch_zoo import REFERENCES

nn = cs.nn


def torch_macs(model, input_shape):
    """Mult-adds of conv and linear layers the way torchinfo counts them, from forward hooks."""
    total = []

    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            total.append(out[0].numel() * m.in_channels // m.groups * int(np.prod(m.kernel_size)))
        elif isinstance(m, torch.nn.ConvTranspose2d):  # every input position meets every weight once
            total.append(m.weight.numel() * int(np.prod(inp[0].shape[2:])))
        elif isinstance(m, torch.nn.Linear):
            total.append(m.in_features * m.out_features)
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *input_shape))
    for h in handles:
        h.remove()
    return sum(total)


@pytest.mark.parametrize("name", zoo.NAMES)
def test_zoo_params_and_macs_equal_the_pytorch_reference(name):
    model = zoo.load(name)
    s = cs.summary(model, model.input_shape)
    reference = REFERENCES[name]()
    assert s.totals["params"] == sum(p.numel() for p in reference.parameters())
    assert s.totals["macs"] == torch_macs(reference, model.input_shape)
    if name == "resnet18":
        assert s.totals["params"] == 11_689_512  # the published figure at 1000 classes


def test_transposed_conv_macs_count_input_positions_like_the_conv_matrix():
    layer = nn.ConvTranspose2d(3, 4, 3, stride=2)
    s = cs.summary(layer, (3, 5, 6))
    out = s.rows[-1].output_shape
    # the transposed conv is C.T for the conv from its output back to its input; no cropping here,
    # so every stored weight of C is one multiply-accumulate
    c = cs.ops.conv_matrix(out, layer.weight.data, stride=2, sparse=True)
    assert s.totals["macs"] == c.nnz == layer.weight.data.size * 5 * 6


def test_rows_blocks_and_shared_modules():
    shared = nn.Conv2d(4, 4, 3, padding=1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Residual(nn.Sequential(shared, nn.ReLU(), shared)),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    s = cs.summary(model, (1, 6, 6))
    assert s.totals["params"] == sum(p.data.size for p in model.parameters()) == 40 + 148 + 435
    names = [(r.name, r.kind, r.depth, r.group) for r in s.rows]
    assert names[:4] == [("0", "Conv2d", 0, False), ("1", "Residual", 0, True), ("1.body", "Sequential", 1, True),
                         ("1.body.0", "Conv2d", 2, False)]
    first, second = [r for r in s.rows if r.name == "1.body.0"]  # called twice: a row per call, as torchinfo
    assert (first.params, second.params) == (148, 0) and first.macs == second.macs == 36 * 4 * 4 * 9
    assert s.rows[-1].macs == 144 * 3 and s.rows[-1].output_shape == (3,)
    d = json.loads(s.to_json())
    assert d["totals"]["params"] == 623 and len(d["rows"]) == len(s.rows)
    assert "| 1.body.0 | Conv2d | 4x6x6 | 148 |" in s.to_markdown().replace("  ", "")
    assert "<table>" in s._repr_html_() and "Residual" in str(s)


def test_custom_forward_with_functional_ops_is_traced():
    class TwoPath(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv1d(2, 3, 3, padding=1)
            self.b = nn.Conv1d(2, 3, 5, padding=2, dilation=1)

        def forward(self, x):
            y = cs.concat([self.a(x), self.b(x)], axis=1) + 1.0
            return nn.functional.max_pool(y, 2).reshape(y.shape[0], -1)

    s = cs.summary(TwoPath(), (2, 10))
    kinds = [r.kind for r in s.rows]
    assert kinds == ["Conv1d", "Conv1d", "concat", "add", "max_pool", "reshape"]
    assert [r.rf_size for r in s.rows[:5]] == [(3,), (5,), (5,), (5,), (6,)]
    assert s.rows[-1].rf_size == (None,) and s.rows[-1].output_shape == (30,)


def test_1d_3d_dilation_and_transposed_fields():
    s = cs.summary(nn.Sequential(nn.Conv3d(1, 2, 3, dilation=2, padding=2), nn.MaxPool3d(2)), (1, 8, 8, 8))
    assert s.rows[0].rf_size == (5, 5, 5) and s.rows[1].rf_size == (6, 6, 6) and s.rows[1].rf_jump == (2, 2, 2)
    s = cs.summary(nn.Sequential(nn.Conv1d(1, 1, 3, stride=2), nn.ConvTranspose1d(1, 1, 4, stride=2, padding=1)), (1, 9))
    # j = 2/2, r = 3 + (4-1)*1, start = 0 - (d(k-1) - p) j = -(3 - 1)
    assert s.rows[1].rf_jump == (1,) and s.rows[1].rf_size == (6,) and s.rows[1].rf_start == (-2,)


def test_flags_name_what_the_lecture_warns_about():
    s = cs.summary(nn.Sequential(nn.Conv2d(1, 16, 2, stride=3), nn.Conv2d(16, 4, 3), nn.Conv2d(4, 4, 3)), (1, 14, 14))
    notes = [r.notes for r in s.rows]
    assert "more filters (16) than inputs per window (4)" in notes[0]
    assert "axis 0: stride 3 > window 2 skips input cells" in notes[0]
    assert "axis 0: last 0 padded row(s) unused" not in notes[0]
    assert any("first layer whose field covers the whole input" in n for n in notes[2])
    s = cs.summary(nn.Conv1d(1, 1, 3, stride=2), (1, 8))
    assert "axis 0: last 1 padded row(s) unused" in s.rows[0].notes


def test_impossible_shapes_name_the_layer():
    with pytest.raises(ValueError, match=r"Conv2d 'C3': conv \(spatial axis 0\): kernel 5 .* > padded input 4"):
        cs.summary(zoo.load("lenet5"), (1, 13, 13))


def test_summary_leaves_batchnorm_statistics_and_modes_alone():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    before = model.state_dict()
    cs.summary(model, (1, 5, 5))
    assert model.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
