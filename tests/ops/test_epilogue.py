"""The engine's epilogue (residual add and ReLU on each output chunk), its stacked-taps path and its
few-rows linear map, against PyTorch, on every path: lowering (chunked and threaded), pointwise,
depthwise, stacked taps."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from convscope.ops import engine
from convscope.ops.engine import dense, tuning
from convscope.ops.engine.epilogue import Epilogue
from convscope.ops.geometry import conv_geometry

CASES = [  # x shape, w shape, stride, padding, groups: lowering (flat, phase, padded), pointwise, depthwise
    ((3, 4, 9, 9), (6, 4, 3, 3), 1, 1, 1),
    ((2, 3, 15, 15), (5, 3, 7, 7), 2, 3, 1),
    ((2, 4, 9, 9), (6, 4, 3, 3), 2, 1, 1),
    ((5, 8, 6, 6), (4, 8, 1, 1), 1, 0, 1),
    ((1, 8, 6, 6), (7, 8, 1, 1), 1, 0, 1),  # one image: the pointwise path splits the channels
    ((2, 6, 8, 8), (6, 1, 3, 3), 1, 1, 6),
    ((2, 4, 20), (6, 2, 5), 1, 2, 2),
    ((2, 64, 9, 9), (8, 64, 3, 3), 1, 1, 1),  # few outputs, many inputs: the stacked taps
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, groups", CASES)
@pytest.mark.parametrize("residual, relu", [(False, True), (True, False), (True, True)])
@pytest.mark.parametrize("small_chunks", [False, True])
def test_epilogue_is_relu_of_conv_plus_residual(x_shape, w_shape, stride, padding, groups, residual, relu,
                                                small_chunks):
    rng = np.random.default_rng(len(x_shape) + w_shape[0])
    x, w = rng.standard_normal(x_shape).astype(np.float32), rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    geo = conv_geometry(x.shape, w.shape, stride, padding, 1, groups)
    r = rng.standard_normal((x_shape[0], w_shape[0], *geo.out_size)).astype(np.float32) if residual else None
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d}[x.ndim - 2]
    ref = conv(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride, padding, 1, groups)
    ref = ref + torch.tensor(r) if residual else ref
    ref = torch.relu(ref) if relu else ref
    settings = dict(chunk_bytes=1, min_chunk_bytes=1, parallel_bytes=0, threads=2) if small_chunks else {}
    with tuning.override(**settings):
        if small_chunks:  # the pointwise path's groups of images, threaded, too
            engine.pointwise.CHUNK_BYTES, saved = 1, engine.pointwise.CHUNK_BYTES
        try:
            got = engine.forward(x, w, geo, b, Epilogue(r, relu))
        finally:
            if small_chunks:
                engine.pointwise.CHUNK_BYTES = saved
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-5, atol=1e-6 * np.abs(ref.numpy()).max())
    if residual:
        assert not np.shares_memory(got, r)


@pytest.mark.parametrize("rows, out_f, in_f", [(2, 1100, 1000), (3, 37, 50), (20, 1100, 1000)])
@pytest.mark.parametrize("relu", [False, True])
def test_dense_is_torch_linear(rows, out_f, in_f, relu):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, in_f)).astype(np.float32)
    w = rng.standard_normal((out_f, in_f)).astype(np.float32)
    b = rng.standard_normal(out_f).astype(np.float32)
    ref = torch.nn.functional.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b))
    ref = torch.relu(ref) if relu else ref
    got = dense.forward(x, w, b, Epilogue(relu=relu))
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-4)
    assert np.array_equal(got, dense.forward(x, w, b, Epilogue(relu=relu)))  # threads never change the bytes


@given(dims=st.integers(1, 3), o=st.integers(1, 32), c=st.sampled_from([64, 67]), data=st.data())
@settings(max_examples=25)
def test_stacked_taps_path_is_torch_conv(dims, o, c, data):
    """Few output channels, many inputs, stride 1: the stacked-taps GEMM (`tap_stack`)."""
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(dims))
    if all(k == 1 for k in kernel):
        kernel = (2, *kernel[1:])
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(dims))
    padding = tuple(data.draw(st.integers(0, 2)) for _ in range(dims))
    size = tuple(data.draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 6)) for k, d in zip(kernel, dilation))
    n = data.draw(st.integers(1, 3))
    rng = np.random.default_rng(o)
    x = rng.standard_normal((n, c, *size)).astype(np.float32)
    w = rng.standard_normal((o, c, *kernel)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    geo = conv_geometry(x.shape, w.shape, 1, padding, dilation, 1)
    assert engine.plan(geo, w.shape, n, 4).path == "taps"
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[dims]
    ref = conv(torch.tensor(x), torch.tensor(w), torch.tensor(b), 1, padding, dilation).numpy()
    with tuning.override(parallel_bytes=0, chunk_bytes=data.draw(st.sampled_from([1, 4 << 20]))):
        got = engine.forward(x, w, geo, b)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
