"""1x1 convolutions that map every input cell to the same output cell: plain batched matmuls."""
from __future__ import annotations

import numpy as np

from . import parallel
from .chunks import balanced
from .epilogue import NONE, Epilogue
from .tuning import CHUNK_BYTES, current, num_threads


def forward(x: np.ndarray, w: np.ndarray, groups: int, b=None, epilogue: Epilogue = NONE) -> np.ndarray:
    """conv(x, w) + b, then the epilogue. Big inputs go a few images at a time over the engine's
    threads, each with single-threaded BLAS, each group's bias and epilogue applied while the
    matmul's output is in cache (OpenBLAS's own threads wait on each other after every GEMM,
    which costs most when the cores are shared); small ones take one matmul."""
    n_img, c = x.shape[:2]
    o = w.shape[0]
    y = np.empty((n_img, o, *x.shape[2:]), x.dtype)
    wmat = w.reshape(groups, o // groups, -1)  # (G, O/G, C/G)
    xg, yg = x.reshape(n_img, groups, c // groups, -1), y.reshape(n_img, groups, o // groups, -1)
    if b is None and epilogue is NONE:
        np.matmul(wmat, xg, out=yg)
        return y
    threads = num_threads() if x.nbytes + y.nbytes >= current().parallel_bytes else 1
    step = balanced(n_img, max(1, CHUNK_BYTES // max(y[:1].nbytes, 1)))
    step = min(step, -(-n_img // threads))  # at least one block per thread where there are images
    parts = threads if n_img < threads and groups == 1 else 1  # too few images: split the channels too
    cut = balanced(o, -(-o // parts))
    blocks = [(n, min(n + step, n_img), c0, min(c0 + cut, o)) for n in range(0, n_img, step) for c0 in range(0, o, cut)]
    bias = None if b is None else b.reshape(1, -1, *([1] * (x.ndim - 2)))

    def finish(n0, n1, c0, c1):  # a block's bias and epilogue
        index = (slice(n0, n1), slice(c0, c1))
        if bias is not None:
            y[index] += bias[:, c0:c1]
        epilogue(y[index], index)

    def work(block, state):
        n0, n1, c0, c1 = block
        if parts == 1:
            np.matmul(wmat, xg[n0:n1], out=yg[n0:n1])
        else:
            np.matmul(wmat[:, c0:c1], xg[n0:n1], out=yg[n0:n1, :, c0:c1])
        finish(*block)

    if len(blocks) > 1 and threads > 1:
        with parallel.single_threaded_blas():
            parallel.run_blocks(blocks, work, lambda: None)
        return y
    # One matmul for all the images: BLAS's own threads, woken once (several small calls in a
    # row, each waking them, ran 1.7 -> 60 ms in the per-layer benchmark beside PyTorch's threads).
    np.matmul(wmat, xg, out=yg)
    for block in blocks:
        finish(*block)
    return y


def input_grad(dy: np.ndarray, w: np.ndarray, groups: int) -> np.ndarray:
    n_img = dy.shape[0]
    o, cg = w.shape[:2]
    wt = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)  # (G, C/G, O/G)
    dy4 = np.ascontiguousarray(dy).reshape(n_img, groups, o // groups, -1)
    return np.matmul(wt, dy4).reshape(n_img, cg * groups, *dy.shape[2:])


def weight_grad(x: np.ndarray, dy: np.ndarray, w_shape, groups: int) -> np.ndarray:
    n_img, c = x.shape[:2]
    o = w_shape[0]
    cols = np.ascontiguousarray(x).reshape(n_img, groups, c // groups, -1)
    dy4 = np.ascontiguousarray(dy).reshape(n_img, groups, o // groups, -1)
    return np.matmul(dy4, cols.transpose(0, 1, 3, 2)).sum(0).reshape(w_shape)
