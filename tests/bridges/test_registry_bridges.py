"""Every registered layer through the bridges, with PyTorch and onnxruntime as the oracles: to_torch
gives its twin computing the same outputs, from_torch brings it back with the same arguments, and
the layers ONNX ops build come back from an ONNX file with their arguments and outputs."""
import numpy as np
import onnxruntime as ort
import pytest
import torch
from hypothesis import assume, given, strategies as st

import convscope as cs
from convscope.bridges import from_torch, to_torch
from convscope.nn import registry
from tests.nn.catalogue import CATALOGUE, example

nn = cs.nn


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_layer_goes_to_torch_and_back(name):
    layer, x = example(name)
    twin = to_torch(layer)
    assert not twin.training
    with torch.no_grad():
        expected = twin(torch.tensor(x)).numpy()
    np.testing.assert_allclose(layer(cs.Tensor(x)).data, expected, rtol=1e-5, atol=1e-5)
    back = from_torch(torch.nn.Sequential(twin).eval(), x.shape[1:])  # the root is captured through: wrap the twin
    np.testing.assert_allclose(back(cs.Tensor(x)).data, expected, rtol=1e-5, atol=1e-5)
    if not any(k.modules for k in layer.declaration.args.values()):  # containers are traced through
        converted = back.get("0")
        assert type(converted) is type(layer)
        assert registry.arguments(converted) == registry.arguments(layer)
        assert not converted.training


def test_settings_a_twin_refuses_convert_through_their_ops():
    """A layer whose settings its convscope twin refuses is captured through its ATen ops instead."""
    cases = [torch.nn.BatchNorm2d(2, track_running_stats=False), torch.nn.Flatten(1, 2)]
    x = torch.randn(3, 2, 4, 5)
    for module in cases:
        net = torch.nn.Sequential(module).eval()
        with torch.no_grad():
            expected = net(x).numpy()
        got = from_torch(net, x.shape[1:])(cs.Tensor(x.numpy())).data
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_from_torch_refuses_what_convscope_does_not_compute():
    with pytest.raises(ValueError, match=r"aten.max_pool2d_with_indices x1 in 0 \(MaxPool2d\)"):
        from_torch(torch.nn.Sequential(torch.nn.MaxPool2d(2, return_indices=True)), (2, 4, 4))


ONNX_BUILT = [name for name, d in registry.declarations().items() if d.onnx]


def test_the_onnx_built_layers_are_the_weighted_ones():
    assert {op for d in registry.declarations().values() for op in (i.op for i in d.onnx)} == \
        {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "InstanceNormalization", "PRelu"}
    assert set(ONNX_BUILT) == {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                               "Linear", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "PReLU", "InstanceNorm1d",
                               "InstanceNorm2d", "InstanceNorm3d"}


@pytest.mark.parametrize("name", ONNX_BUILT)
def test_onnx_import_builds_the_layer(name, tmp_path):
    layer, x = example(name)
    model = nn.Sequential(layer).eval()
    path = tmp_path / f"{name}.onnx"
    cs.to_onnx(model, x.shape[1:], path)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    back = cs.from_onnx(path)
    np.testing.assert_allclose(back(cs.Tensor(x)).data, expected, rtol=1e-4, atol=1e-5)
    built = [m for m in back.modules() if registry.declaration(m) is not None]
    assert [type(m) for m in built] == [type(layer)]
    ours, theirs = registry.arguments(layer), registry.arguments(built[0])
    ours.pop("padding", None), theirs.pop("padding", None)  # ONNX stores (lo, hi) pairs; outputs agree above
    for arg in ("momentum", "affine", "init"):  # not in ONNX's inference graph (scale and shift are always
        # there; a PReLU's initial slope is replaced by its weight)
        ours.pop(arg, None), theirs.pop(arg, None)
    if "eps" in ours:  # an ONNX float attribute is a float32
        assert theirs.pop("eps") == pytest.approx(ours.pop("eps"), rel=1e-6)
    assert theirs == ours


@st.composite
def conv_layers(draw):
    """A random Conv/ConvTranspose/MaxPool/AvgPool of 1 to 3 spatial axes, with an input it accepts."""
    n, kind = draw(st.integers(1, 3)), draw(st.sampled_from(["Conv", "ConvTranspose", "MaxPool", "AvgPool"]))
    per_axis = lambda lo, hi: draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n).map(tuple))  # noqa: E731
    k, s = per_axis(1, 3), per_axis(1, 2)
    size = tuple(draw(st.integers(ki + 1, 6)) for ki in k)
    if kind in ("MaxPool", "AvgPool"):
        kw = dict(kernel_size=k, stride=s, padding=tuple(draw(st.integers(0, ki // 2)) for ki in k),
                  ceil_mode=draw(st.booleans()))
        if kind == "MaxPool":
            kw["dilation"] = 1
        else:
            kw["count_include_pad"] = draw(st.booleans())
        return getattr(nn, f"{kind}{n}d")(**kw), (2, 3, *size)
    g = draw(st.sampled_from([1, 2]))
    kw = dict(stride=s, dilation=per_axis(1, 2), groups=g, bias=draw(st.booleans()))
    if kind == "Conv":
        kw["padding"] = draw(st.one_of(st.sampled_from(["same", "valid", "full"]),
                                       st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=n,
                                                max_size=n).map(tuple)))
    else:
        kw["output_padding"] = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, kw["dilation"]))
    return getattr(nn, f"{kind}{n}d")(2 * g, 2 * g, k, **kw), (2, 2 * g, *size)


@given(conv_layers())
def test_random_window_layers_match_their_torch_twins(case):
    layer, shape = case
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    try:
        expected = layer(cs.Tensor(x)).data
    except ValueError:  # a geometry with no output: convscope refuses it (the ops' tests check how)
        assume(False)
    twin = to_torch(layer)
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    back = from_torch(torch.nn.Sequential(twin).eval(), shape[1:]).get("0")
    assert type(back) is type(layer) and registry.arguments(back) == registry.arguments(layer)
