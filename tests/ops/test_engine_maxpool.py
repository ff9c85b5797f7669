"""The inference max pool (`ops.engine.maxpool`: an axis at a time, no indices) equals PyTorch's,
NaN included, on random geometries with padding, dilation and ceil_mode, 1-D to 3-D."""
import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from convscope.ops.engine import maxpool, tuning
from convscope.ops.pool import pool_geometry

POOL = {1: torch.nn.functional.max_pool1d, 2: torch.nn.functional.max_pool2d, 3: torch.nn.functional.max_pool3d}


@given(dims=st.integers(1, 3), data=st.data())
@settings(max_examples=60)
def test_axis_by_axis_max_pool_is_torch_max_pool(dims, data):
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(dims))
    padding = tuple(data.draw(st.integers(0, k // 2)) for k in kernel)  # PyTorch: at most half the kernel
    size = tuple(data.draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 7)) for k, d in zip(kernel, dilation))
    ceil_mode = data.draw(st.booleans())
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    x = np.random.default_rng(sum(size)).standard_normal((n, c, *size)).astype(np.float32)
    if data.draw(st.booleans()):
        x.flat[data.draw(st.integers(0, x.size - 1))] = np.nan
    geo = pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode, "max_pool")
    ref = POOL[dims](torch.tensor(x), kernel, stride, padding, dilation, ceil_mode).numpy()
    with tuning.override(depthwise_block_bytes=data.draw(st.sampled_from([1, 1 << 20])), parallel_bytes=0):
        got = maxpool.forward(x, geo)
    np.testing.assert_array_equal(got, ref)
