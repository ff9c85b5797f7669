"""Convolution as matrix multiplication: im2col, col2im and the explicit matrix C."""
from __future__ import annotations

import numpy as np
import scipy.sparse

from .geometry import check_array, conv_geometry, ntuple
from .windows import crop, pad, prod, scatter_windows, window_view


def _geometry(shape, kernel_size, stride, padding, dilation, op):
    """The geometry of a single-channel conv with this kernel over (N, C, *S)."""
    n = len(shape) - 2
    kernel = ntuple(kernel_size, n, "kernel_size", op)
    return conv_geometry((shape[0], 1, *shape[2:]), (1, 1, *kernel), stride, padding, dilation, 1, op)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Every window of x as a column: (N, C, *S) -> (N, C * prod(K), prod(S_out)).

    Row order is (channel, *kernel offset), the order of ``w.reshape(O, -1)``, so
    ``w.reshape(O, -1) @ im2col(x, K)`` is the convolution, flattened.

    >>> im2col(np.arange(16.).reshape(1, 1, 4, 4), 3).shape
    (1, 9, 4)
    """
    x = check_array(x, "im2col")
    geo = _geometry(x.shape, kernel_size, stride, padding, dilation, "im2col")
    view = window_view(pad(x, geo.pads), geo.kernel, geo.stride, geo.dilation, geo.out_size)
    return view.reshape(x.shape[0], x.shape[1] * prod(geo.kernel), prod(geo.out_size))


def col2im(cols, input_shape, kernel_size, stride=1, padding=0, dilation=1):
    """The adjoint of `im2col`: add every column back onto the window it came from.

    Shape:
        (N, C * prod(K), prod(S_out)) -> input_shape (N, C, *S); overlapping windows are summed.
    """
    cols = np.asarray(cols)
    geo = _geometry(tuple(input_shape), kernel_size, stride, padding, dilation, "col2im")
    n, c = input_shape[:2]
    expected = (n, c * prod(geo.kernel), prod(geo.out_size))
    if cols.shape != expected:
        raise ValueError(f"col2im: cols of shape {cols.shape} do not match input {tuple(input_shape)} with "
                         f"kernel {geo.kernel}: expected (N, C*prod(K), prod(S_out)) = {expected}")
    canvas = np.zeros((n, c, *geo.padded_size), cols.dtype)
    scatter_windows(canvas, cols.reshape(n, c, *geo.kernel, *geo.out_size), geo.kernel, geo.stride,
                    geo.dilation, geo.out_size)
    return crop(canvas, geo.pads, geo.in_size).copy()


def conv_matrix(input_shape, w, *, stride=1, padding=0, dilation=1, groups=1, sparse=False):
    """The matrix C with ``C @ x.ravel() == conv(x[None], w).ravel()`` for x of shape input_shape.

    Row (o, p) of C holds the weights of output channel o placed at the input cells its window
    covers at output position p (cells in the padding get nothing). ``C.T`` is the transposed
    convolution with the same weight.

    Args:
        input_shape: (C, *S) of one sample.  w: (O, C/groups, *K).
        sparse: return a scipy.sparse CSR matrix instead of a dense array.

    Shape:
        (O * prod(S_out), C * prod(S)).

    >>> conv_matrix((1, 4, 4), np.ones((1, 1, 3, 3))).shape
    (4, 16)
    """
    w = np.asarray(w)
    input_shape = tuple(input_shape)
    if len(input_shape) != w.ndim - 1:
        raise ValueError(f"conv_matrix: input_shape {input_shape} must be (C, *spatial) with "
                         f"{w.ndim - 2} spatial axes to match weight of shape {w.shape}")
    geo = conv_geometry((1, *input_shape), w.shape, stride, padding, dilation, groups, "conv_matrix")
    c, o, g = input_shape[0], w.shape[0], geo.groups
    n_in, p = c * prod(geo.in_size), prod(geo.out_size)
    # im2col of the cell numbers: which input cell (or -1 for padding) each tap reads
    cells = np.arange(n_in, dtype=np.int64).reshape(1, *input_shape)
    idx = window_view(pad(cells, geo.pads, -1), geo.kernel, geo.stride, geo.dilation, geo.out_size)
    idx = idx.reshape(g, 1, -1, p)  # (G, 1, C/G * prod(K), P)
    wg = w.reshape(g, o // g, -1, 1)  # (G, O/G, C/G * prod(K), 1)
    rows = np.arange(o * p).reshape(g, o // g, 1, p)
    rows, cols, vals = np.broadcast_arrays(rows, idx, wg)
    keep = cols >= 0
    mat = scipy.sparse.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(o * p, n_in))
    return mat if sparse else mat.toarray()
