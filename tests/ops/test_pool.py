"""Pooling ops and their gradients against PyTorch."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from convscope import ops
from tests.ops.oracle import AVG_POOL, MAX_POOL, check_op, random_arrays, requires_torch, torch

pytestmark = requires_torch  # pooling has no reference of its own: PyTorch is its oracle

DTYPES = [np.float64, np.float32]


@st.composite
def pool_cases(draw, dilated=True):
    n = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) if dilated else 1 for _ in range(n))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)  # PyTorch's rule: at most half the kernel
    in_size = tuple(draw(st.integers(1, 5 if n == 3 else 9)) for _ in range(n))
    assume(all(i + 2 * p >= d * (k - 1) + 1 for i, p, k, d in zip(in_size, padding, kernel, dilation)))
    ceil_mode = draw(st.booleans())
    assume(no_window_all_padding(in_size, kernel, stride, padding, dilation, ceil_mode))
    return dict(n=n, shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *in_size), kernel_size=kernel,
                stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)


def no_window_all_padding(in_size, kernel, stride, padding, dilation, ceil_mode):
    """Windows made only of padding have no defined maximum (PyTorch returns -inf and a stray index)."""
    for i, k, s, p, d in zip(in_size, kernel, stride, padding, dilation):
        o = ops.output_size(i, k, s, p, d, ceil_mode=ceil_mode)
        if any(not any(0 <= j * s - p + t * d < i for t in range(k)) for j in range(o)):
            return False
    return True


def distinct(rng, shape, dtype):
    """Values without ties, so every window has one winner (as in any real input)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases())
def test_max_pool_matches_torch(case, dtype):
    kw = {k: case[k] for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode")}
    x = distinct(np.random.default_rng(0), case["shape"], dtype)
    xt = torch.tensor(x, requires_grad=True)
    ref, ref_idx = MAX_POOL[case["n"]](xt, return_indices=True, **kw)
    y, idx = ops.max_pool(x, return_indices=True, **kw)
    np.testing.assert_array_equal(y, ref.detach().numpy())
    np.testing.assert_array_equal(idx, ref_idx.numpy())
    np.testing.assert_array_equal(ops.max_pool(x, **kw), y)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    ref.backward(torch.tensor(dy))
    dx = ops.max_pool_backward(dy, idx, x.shape)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(dilated=False))
def test_avg_pool_matches_torch(case, dtype, count_include_pad):
    # PyTorch's avg_pool3d refuses inputs smaller than the kernel even when padding covers it
    assume(case["n"] < 3 or all(i >= k for i, k in zip(case["shape"][2:], case["kernel_size"])))
    kw = {k: case[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    kw["count_include_pad"] = count_include_pad
    check_op(lambda x: ops.avg_pool(x, **kw), lambda x: AVG_POOL[case["n"]](x, **kw),
             random_arrays(np.random.default_rng(2), case["shape"]),
             lambda dy, x: (ops.avg_pool_backward(dy, x.shape, **kw),), dtype)


def test_stride_defaults_to_kernel():
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    assert ops.max_pool(x, 3).shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(ops.max_pool(x, 3)[0, 0], [[14, 17], [32, 35]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 5, 6), (1, 2, 3, 4, 5)])
def test_global_pools_match_torch(shape, dtype):
    rng = np.random.default_rng(3)
    spatial = tuple(range(2, len(shape)))
    check_op(ops.global_avg_pool, lambda x: x.mean(dim=spatial), random_arrays(rng, shape),
             lambda dy, x: (ops.global_avg_pool_backward(dy, x.shape),), dtype)
    x = distinct(rng, shape, dtype)

    def ref_max(t):  # the max over a window as large as the input
        pool = MAX_POOL[len(shape) - 2]
        return pool(t, kernel_size=shape[2:]).reshape(shape[:2])

    def grad(dy, xx):
        _, idx = ops.global_max_pool(xx, return_indices=True)
        return (ops.global_max_pool_backward(dy, idx, xx.shape),)
    check_op(ops.global_max_pool, ref_max, [x], grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,k,axis", [((2, 3, 9), 4, -1), ((2, 3, 9), 9, -1), ((2, 4, 6, 5), 2, 2),
                                          ((3, 5, 7), 1, 1), ((2, 2, 3, 4, 5), 3, -2)])
def test_kmax_pool_matches_torch_topk_in_original_order(shape, k, axis, dtype):
    x = distinct(np.random.default_rng(4), shape, dtype)

    def ref(t):
        idx = torch.topk(t, k, dim=axis).indices.sort(dim=axis).values
        return torch.gather(t, axis, idx)

    def grad(dy, xx):
        _, idx = ops.kmax_pool(xx, k, axis, return_indices=True)
        return (ops.kmax_pool_backward(dy, idx, xx.shape, axis),)
    y = check_op(lambda xx: ops.kmax_pool(xx, k, axis), ref, [x], grad, dtype)
    # order kept: the selected values appear in the same relative order as in x
    assert y.shape[axis] == k


def test_max_pool_propagates_nan():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    y = ops.max_pool(x, 2)
    ref = torch.nn.functional.max_pool2d(torch.tensor(x), 2).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    y2, _ = ops.max_pool(x, 2, return_indices=True)
    np.testing.assert_array_equal(np.isnan(y2), np.isnan(ref))
