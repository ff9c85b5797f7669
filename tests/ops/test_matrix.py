"""im2col / col2im / conv_matrix: PyTorch's unfold and fold, the adjoint identities, the lecture's C."""
import numpy as np
import pytest
import scipy.sparse
from hypothesis import given

from convscope import ops
from tests.ops.oracle import check_op, random_arrays, requires_torch, torch

from .test_conv import conv_cases


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=(2, 3), stride=2, padding=1),
                                dict(kernel_size=2, dilation=(2, 1), padding=(1, 0), stride=(1, 3))])
@requires_torch
def test_im2col_and_col2im_match_torch_unfold_and_fold(kw, dtype):
    rng = np.random.default_rng(0)
    (x,) = random_arrays(rng, (2, 3, 7, 8))
    cols = check_op(lambda a: ops.im2col(a, **kw), lambda t: torch.nn.functional.unfold(t, **kw), [x], dtype=dtype)
    fold = lambda c: torch.nn.functional.fold(c, output_size=(7, 8), **kw)  # noqa: E731
    check_op(lambda c: ops.col2im(c, x.shape, **kw), fold, random_arrays(rng, cols.shape), dtype=dtype)


@given(case=conv_cases())
def test_col2im_is_adjoint_of_im2col(case):
    """<im2col(x), c> == <x, col2im(c)> in 1-D, 2-D and 3-D with any padding."""
    rng = np.random.default_rng(1)
    kw = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    (x,) = random_arrays(rng, (case["batch"], case["c"], *case["in_size"]))
    cols = ops.im2col(x, **kw)
    (c,) = random_arrays(rng, cols.shape)
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, ops.col2im(c, x.shape, **kw)), rtol=1e-10, atol=1e-10)


@given(case=conv_cases())
def test_conv_matrix_is_conv_and_its_transpose_is_conv_transpose(case):
    rng = np.random.default_rng(2)
    x, w = random_arrays(rng, (1, case["c"], *case["in_size"]), (case["o"], case["c"] // case["groups"], *case["kernel"]))
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    dense = ops.conv_matrix(x.shape[1:], w, **kw)
    sparse = ops.conv_matrix(x.shape[1:], w, sparse=True, **kw)
    assert scipy.sparse.isspmatrix_csr(sparse)
    np.testing.assert_array_equal(sparse.toarray(), dense)
    y = ops.conv(x, w, **kw)
    np.testing.assert_allclose(dense @ x.ravel(), y.ravel(), rtol=1e-10, atol=1e-10)
    # C.T is the adjoint of conv: <C x, g> == <x, C.T g>, and C.T g is conv's input gradient
    (g,) = random_arrays(rng, y.shape)
    dx, _, _ = ops.conv_backward(g, x, w, **kw)
    np.testing.assert_allclose(sparse.T @ g.ravel(), dx.ravel(), rtol=1e-10, atol=1e-10)


def test_conv_transpose_equals_C_transpose_times_y():
    rng = np.random.default_rng(3)
    x, w = random_arrays(rng, (1, 2, 7, 7), (3, 2, 3, 3))
    c = ops.conv_matrix((2, 7, 7), w, stride=2, padding=1)
    (y,) = random_arrays(rng, (1, 3, 4, 4))
    back = ops.conv_transpose(y, w, stride=2, padding=1)  # same weight array
    np.testing.assert_allclose(c.T @ y.ravel(), back.ravel(), rtol=1e-12)


@requires_torch
def test_lecture_example_4x4_input_3x3_kernel():
    """The lecture's C: 4x16, each row the flattened kernel (rows padded to the input width) shifted."""
    w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    c = ops.conv_matrix((1, 4, 4), w)
    assert c.shape == (4, 16)
    row = np.zeros(16)
    for i in range(3):
        row[4 * i:4 * i + 3] = w[0, 0, i]  # kernel row i lands on input row i
    shifts = [0, 1, 4, 5]  # output (0,0), (0,1), (1,0), (1,1) start at input cells 0, 1, 4, 5
    for r, shift in enumerate(shifts):
        np.testing.assert_array_equal(c[r], np.roll(row, shift))
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w)).numpy()
    np.testing.assert_allclose(c @ x.ravel(), ref.ravel())
