"""Ops at the edge: an empty batch, zero input channels and the number of spatial axes, as PyTorch
answers them (the bad inputs among them are in test_errors.py)."""
import numpy as np
import pytest

from convscope import ops
from tests.ops.oracle import AVG_POOL, CONV, CONV_T, MAX_POOL, assert_close, check_op, requires_torch, torch

# (x shape, w shape, settings): each of the engine's paths
CONVS = {
    "lowering 2-D": ((3, 4, 6, 5), (6, 2, 3, 3), dict(padding=1, groups=2)),
    "lowering strided 1-D": ((3, 4, 9), (5, 4, 3), dict(stride=2)),
    "phase windows": ((2, 3, 11, 11), (4, 3, 7, 7), dict(stride=2, padding=3)),
    "pointwise": ((3, 4, 5, 5), (6, 4, 1, 1), {}),
    "depthwise 3-D": ((2, 4, 4, 5, 3), (8, 1, 3, 3, 3), dict(groups=4, padding=1)),
}


def tensors(*arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("name", list(CONVS))
def test_empty_batch_conv_and_gradients_match_torch_and_the_reference(name):
    x_shape, w_shape, kw = CONVS[name]
    rng = np.random.default_rng(0)
    arrays = [np.zeros((0, *x_shape[1:])), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]
    check_op(lambda x, w, b: ops.conv(x, w, b, **kw), lambda x, w, b: CONV[len(x_shape) - 2](x, w, b, **kw), arrays,
             lambda dy, x, w, b: ops.conv_backward(dy, x, w, **kw),
             reference=lambda x, w, b=None: ops.reference_conv(x, w, b, **kw))


@pytest.mark.parametrize("shape, w_shape, kw", [((0, 4, 5, 5), (4, 3, 3, 3), dict(stride=2, padding=1)),
                                                ((0, 4, 7), (4, 1, 3), dict(groups=4)),
                                                ((0, 2, 3, 3, 3), (2, 5, 1, 1, 1), {})])
def test_empty_batch_conv_transpose_and_gradients_match_torch_and_the_reference(shape, w_shape, kw):
    rng = np.random.default_rng(1)
    arrays = [np.zeros(shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1] * kw.get("groups", 1))]
    check_op(lambda y, w, b: ops.conv_transpose(y, w, b, **kw), lambda y, w, b: CONV_T[len(shape) - 2](y, w, b, **kw),
             arrays, lambda dout, y, w, b: ops.conv_transpose_backward(dout, y, w, **kw),
             reference=lambda y, w, b=None: ops.reference_conv_transpose(y, w, b, **kw))


@requires_torch
@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_empty_batch_pooling_matches_torch(nsp):
    x = np.zeros((0, 3, *[6] * nsp))
    xt = torch.tensor(x, requires_grad=True)
    ref, ref_idx = MAX_POOL[nsp](xt, 2, return_indices=True)
    y, idx = ops.max_pool(x, 2, return_indices=True, spatial_dims=nsp)
    assert_close(y, ref, np.float64, "max_pool")
    assert idx.shape == tuple(ref_idx.shape) and idx.dtype == np.int64
    assert ops.max_pool_backward(y, idx, x.shape).shape == x.shape
    avg = AVG_POOL[nsp](xt, 3, stride=2, padding=1)
    assert_close(ops.avg_pool(x, 3, stride=2, padding=1, spatial_dims=nsp), avg, np.float64, "avg_pool")
    assert ops.avg_pool_backward(np.zeros(avg.shape), x.shape, 3, 2, 1, spatial_dims=nsp).shape == x.shape
    assert_close(ops.global_avg_pool(x), xt.mean(dim=tuple(range(2, 2 + nsp))), np.float64, "global_avg_pool")
    assert_close(ops.global_max_pool(x), xt.amax(dim=tuple(range(2, 2 + nsp))), np.float64, "global_max_pool")


@pytest.mark.parametrize("name", [name for name in CONVS if not name.startswith("depthwise")])  # it has C = groups
def test_zero_input_channels_leave_the_bias(name):
    """A sum over no channels is 0: y is the bias (PyTorch 2.13 instead returns (N, 0, *S_out));
    dx is empty, dw is empty, db = dy summed, as PyTorch's gradients of w and b are."""
    x_shape, w_shape, kw = CONVS[name]
    x, w = np.ones((x_shape[0], 0, *x_shape[2:])), np.ones((w_shape[0], 0, *w_shape[2:]))
    b = np.arange(1.0, w_shape[0] + 1)
    y = ops.conv(x, w, b, **kw)
    full = ops.conv(np.ones(x_shape), np.ones(w_shape), **kw)  # the same geometry with channels
    assert y.shape == full.shape
    np.testing.assert_array_equal(y, np.broadcast_to(b.reshape(-1, *[1] * (y.ndim - 2)), y.shape))
    assert_close(y, ops.reference_conv(x, w, b, **kw), np.float64, "against the reference")
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dx, dw, db = ops.conv_backward(dy, x, w, **kw)
    assert dx.shape == x.shape and dw.shape == w.shape
    np.testing.assert_allclose(db, dy.sum(axis=(0, *range(2, dy.ndim))))


@requires_torch
def test_zero_input_channel_gradients_match_torch():
    xt, wt, bt = tensors(np.ones((2, 0, 5, 5)), np.ones((4, 0, 3, 3)), np.ones(4))
    torch.nn.functional.conv2d(xt, wt, bt).sum().backward()
    dx, dw, _ = ops.conv_backward(np.ones((2, 4, 3, 3)), xt.detach().numpy(), wt.detach().numpy())
    assert dx.shape == tuple(xt.grad.shape) and dw.shape == tuple(wt.grad.shape)


@requires_torch
@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_spatial_dims_agreeing_with_the_input_changes_nothing(nsp):
    x = np.random.default_rng(3).standard_normal((2, 3, *[5] * nsp))
    ref = MAX_POOL[nsp](torch.tensor(x), 2, 1, 1).numpy()
    np.testing.assert_array_equal(ops.max_pool(x, 2, 1, 1, spatial_dims=nsp), ref)
    np.testing.assert_array_equal(ops.max_pool(x, 2, 1, 1), ref)


def test_an_unbatched_image_is_refused_not_pooled_as_1d():
    """Without spatial_dims, (C, H, W) = (4, 6, 6) reads as 4 images of 6 channels of length 6."""
    x = np.zeros((4, 6, 6))
    assert ops.max_pool(x, 2).shape == (4, 6, 3)  # what an int kernel alone can tell
    with pytest.raises(ValueError, match=r"add a batch axis: x\[None\]"):
        ops.max_pool(x, 2, spatial_dims=2)
    assert ops.max_pool(x[None], 2, spatial_dims=2).shape == (1, 4, 3, 3)
