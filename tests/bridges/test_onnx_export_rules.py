"""Export rules that real networks need, against onnxruntime: basic indexing (ShuffleNet's chunk),
adaptive average pooling with irregular windows (AlexNet and VGG below 224x224), and Linear over
leading axes (ConvNeXt's channels-last blocks)."""
import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convscope as cs
from convscope.nn.module import Module


class Fn(Module):
    def __init__(self, fn, *layers):
        super().__init__()
        self.fn = fn
        for i, layer in enumerate(layers):
            setattr(self, f"l{i}", layer)

    def forward(self, x):
        return self.fn(self, x)


def assert_onnxruntime_agrees(model, shape, tmp_path):
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    path = tmp_path / "m.onnx"
    cs.to_onnx(model, shape, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    with cs.no_grad():
        want = model(cs.Tensor(x)).data
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


bounds = st.one_of(st.none(), st.integers(-7, 7))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.builds(slice, bounds, bounds, st.sampled_from([None, 1, 2, -1, -2])),
                          st.integers(-3, 2)), min_size=1, max_size=3))
def test_basic_indexing(tmp_path_factory, index):
    index = (slice(None), *index)  # keep the batch axis
    model = Fn(lambda self, x: x[index] * 1.0)
    try:
        with cs.no_grad():
            model(cs.Tensor(np.zeros((2, 3, 5, 6), np.float32)))
    except (IndexError, ValueError):
        return  # not a valid index of this shape
    if 0 in model(cs.Tensor(np.zeros((2, 3, 5, 6), np.float32))).shape:
        return  # empty results: nothing to compare
    assert_onnxruntime_agrees(model, (3, 5, 6), tmp_path_factory.mktemp("index"))


def test_indexing_with_an_ellipsis(tmp_path):
    assert_onnxruntime_agrees(Fn(lambda self, x: x[..., 1:4, -1]), (3, 5, 6), tmp_path)


@pytest.mark.parametrize("size,out", [((1, 1), (6, 6)), ((5, 7), (3, 2)), ((2, 2), (7, 7)), ((9,), (4,))])
def test_irregular_adaptive_average_pooling(tmp_path, size, out):
    layer = (cs.nn.AdaptiveAvgPool2d if len(size) == 2 else cs.nn.AdaptiveAvgPool1d)(out)
    assert_onnxruntime_agrees(cs.nn.Sequential(layer), (4, *size), tmp_path)


def test_linear_over_leading_axes(tmp_path):
    linear = cs.nn.Linear(6, 5)
    assert_onnxruntime_agrees(Fn(lambda self, x: self.l0(x.transpose(0, 2, 3, 1)), linear), (6, 3, 4), tmp_path)
