"""The engine's epilogue (residual add and ReLU on each output chunk) and its few-rows linear map,
against PyTorch, on every path: lowering (chunked and threaded), pointwise, depthwise."""
import numpy as np
import pytest
import torch

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
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-5, atol=1e-5)
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
