"""The op registry: one declaration gives an op its gradient, shape, analysis and bridges.

The proof is a new element-wise op declared inside a fixture (and unregistered afterwards): with no
other edit it runs forward and backward (finite differences), traces, summarises, has a receptive
field, converts from PyTorch and exports to ONNX (onnxruntime as the oracle).
"""
import numpy as np
import pytest

import convscope as cs
from convscope.ops import registry
from convscope.ops.registry import ELEMENTWISE, OPAQUE, Op, keeps_input, no_macs, same_shape
from convscope.tensor import apply

nn = cs.nn


def _sine(x):
    # d sin x = cos x dx
    return np.sin(x), lambda g: (g * np.cos(x),)


@pytest.fixture
def sine():
    op = registry.register(Op("sin", _sine, same_shape, no_macs, ELEMENTWISE, saved=keeps_input,
                              torch=("sin",), onnx="Sin", activation=True))
    yield op
    registry.unregister("sin")


class Apply(nn.Module):
    """A layer that applies one registered op."""

    def __init__(self, op_name):
        super().__init__()
        self.op_name = op_name

    def forward(self, x):
        return apply(registry.get(self.op_name), x)


def _model(act):
    cs.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), act, nn.MaxPool2d(2), nn.Conv2d(4, 2, 3, padding=1), nn.Flatten(),
                         nn.Linear(2 * 3 * 3, 5))


def test_a_new_op_needs_one_declaration(sine):
    model = _model(Apply("sin"))
    relu = _model(nn.ReLU())
    s, ref = cs.summary(model, (1, 8, 8)), cs.summary(relu, (1, 8, 8))
    assert [(r.output_shape, r.params, r.macs, r.rf_size, r.rf_jump, r.rf_start) for r in s.rows] == \
        [(r.output_shape, r.params, r.macs, r.rf_size, r.rf_jump, r.rf_start) for r in ref.rows]
    assert s.totals["activations"] == 1
    # its bytes kept for backward are its input's (float32): one 4x6x6 map
    assert s.totals["training_bytes"] - ref.totals["training_bytes"] == 4 * 6 * 6 * 4 - 4 * 6 * 6
    assert cs.receptive_field(model, (1, 8, 8)) == cs.receptive_field(relu, (1, 8, 8))
    assert cs.receptive_region(model, (1, 8, 8), (0, 1, 1), layer="3") == \
        cs.receptive_region(relu, (1, 8, 8), (0, 1, 1), layer="3")


def test_a_new_op_has_its_gradient(sine):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    t = cs.Tensor(x, requires_grad=True)
    (apply(sine, t) * cs.Tensor(np.arange(12.0).reshape(3, 4))).sum().backward()
    eps, numeric = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = ((np.sin(up) - np.sin(down)) * np.arange(12.0).reshape(3, 4)).sum() / (2 * eps)
    np.testing.assert_allclose(t.grad, numeric, rtol=1e-6, atol=1e-8)


def test_a_new_op_maps_to_torch_and_onnx(sine, tmp_path):
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")

    class Functional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3)

        def forward(self, x):
            return torch.sin(self.conv(x)).flatten(1)
    tmodel = Functional().eval()
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    converted = cs.from_torch(tmodel)
    with torch.no_grad():
        expected = tmodel(torch.tensor(x)).numpy()
    got = converted(cs.Tensor(x)).data
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    cs.to_onnx(converted, (1, 8, 8), tmp_path / "sin.onnx")
    session = ort.InferenceSession(str(tmp_path / "sin.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-5, atol=1e-6)


def test_incomplete_declarations_are_refused():
    forward = _sine
    with pytest.raises(ValueError, match="needs a macs rule"):
        registry.register(Op("nomacs", forward, same_shape, None, ELEMENTWISE))
    with pytest.raises(ValueError, match="needs a receptive-field rule"):
        registry.register(Op("norf", forward, same_shape, no_macs, "sideways"))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Op("relu", forward, same_shape, no_macs, ELEMENTWISE))
    with pytest.raises(ValueError, match="no op named 'nomacs'"):
        registry.get("nomacs")


def test_every_registered_op_declares_its_rules():
    for op in registry.all_ops():
        assert callable(op.forward) and callable(op.shape) and callable(op.macs) and callable(op.saved), op
        assert op.rf in registry.KINDS or isinstance(op.rf, registry.Window) or callable(op.rf), op


def test_an_opaque_op_is_analysed_by_shape_and_flagged():
    op = registry.register(registry.opaque("mystery"))
    try:
        model = nn.Sequential(nn.Conv2d(1, 2, 3), Apply("mystery"), nn.Conv2d(2, 2, 3))
        s = cs.summary(model, (1, 8, 8))
        row = next(r for r in s.rows if r.kind == "Apply")
        assert row.output_shape == (2, 6, 6) and row.macs == 0
        assert any("not counted" in n for n in row.notes)
        assert s.totals["not_counted"] == ["mystery"]
        assert "not counted (known by shape only): mystery" in str(s)
        assert s.rows[-1].rf_size == (None,)  # an op known by shape only may mix positions
        with pytest.raises(ValueError, match="known by its shape only"):
            model(cs.Tensor(np.zeros((1, 1, 8, 8), np.float32)))
    finally:
        registry.unregister(op.name)


def test_the_tracer_runs_shape_rules_not_forwards():
    """A traced model computes nothing: a 10^10-element conv output costs no memory."""
    import tracemalloc

    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1))
    tracemalloc.start()
    s = cs.summary(model, (1, 4096, 4096), batch_size=64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert s.rows[-1].output_shape == (8, 4096, 4096)
    assert peak < 5e6


def test_dict_and_tuple_outputs_are_traced():
    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.aux = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 3, 1)

        def forward(self, x):
            y = self.body(x)
            return {"out": y, "aux": (self.aux(y), y.relu())}

    s = cs.summary(Heads(), (1, 6, 6))
    assert [r.output_shape for r in s.rows] == [(2, 4, 4), (3, 4, 4), (2, 4, 4)]
    assert cs.receptive_field(Heads(), (1, 6, 6)).size == (3, 3)  # the first output: "out"
