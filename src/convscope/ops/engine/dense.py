"""The linear map y = x W^T + b for a few rows of x, as in a classifier's fully connected layers.

With few rows, `x @ W.T` is a skinny GEMM that OpenBLAS runs far below memory speed (measured:
VGG's 25088 -> 4096 layer at batch 2, 300-640 ms, while reading W once takes about 100 ms). Here
the rows of W are cut into blocks that two threads multiply by x^T, each with single-threaded
BLAS, streaming W once: 97-103 ms. Many rows make a GEMM that BLAS runs well as it is.
"""
from __future__ import annotations

import numpy as np

from . import parallel
from .chunks import balanced
from .epilogue import NONE, Epilogue
from .tuning import num_threads

# Up to this many rows of x the blocked path runs; weight rows per block (about 1 MB of W).
FEW_ROWS = 16
BLOCK_BYTES = 1 << 20


def forward(x: np.ndarray, w: np.ndarray, b=None, epilogue: Epilogue = NONE) -> np.ndarray:
    """epilogue(x @ w.T + b) for x (M, in_features), w (out_features, in_features)."""
    y = x @ w.T if len(x) > FEW_ROWS or w.size * w.itemsize < 4 * BLOCK_BYTES else _blocked(x, w)
    if b is not None:
        y += b
    epilogue(y)
    return y


def _blocked(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w.T with W's rows in blocks over the engine's threads, each streaming its block once."""
    out = np.empty((w.shape[0], len(x)), x.dtype)  # y^T: each block of W's rows gives a block of its rows
    step = balanced(len(w), max(1, BLOCK_BYTES // (w.shape[1] * w.itemsize)))
    xt = np.ascontiguousarray(x.T)

    def work(block, state):
        np.matmul(w[block[0]:block[1]], xt, out=out[block[0]:block[1]])

    blocks = [(r, min(r + step, len(w))) for r in range(0, len(w), step)]
    if num_threads() > 1:
        with parallel.single_threaded_blas():
            parallel.run_blocks(blocks, work, lambda: None)
    else:
        for block in blocks:
            work(block, None)
    return np.ascontiguousarray(out.T)
