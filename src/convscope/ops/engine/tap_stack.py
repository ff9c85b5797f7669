"""Stride-1 convolutions with few output channels: one GEMM for all the taps, then shifted sums.

With O output channels and T kernel taps, im2col writes T*C rows of columns for a GEMM of only O
rows (DenseNet's 3x3 convolutions: 32 rows, 1152 deep), so the copy costs as much as the GEMM and
the GEMM runs far below peak. Here the taps' weights are stacked into one (T*O, C) matrix that
multiplies the padded image itself, flattened: Z = W_all @ X, a GEMM of T*O rows and no copy.
Output cell q then sums, over the taps, Z's rows of tap t at q + shift(t) (as in `depthwise`,
positions run over the padded-width grid, and the wrapped ones are cropped). Measured on one
thread, DenseNet-121's (4, 128, 56, 56) -> 32: 23.9 ms with im2col, 17.2 ms here (PyTorch 13.2);
with 64 output channels it is slower than im2col (ResNet's block, 23.9 against 28.9 ms).
"""
from __future__ import annotations

import numpy as np

from ..geometry import WindowGeometry
from ..windows import cell_steps, pad_into, prod, taps
from . import parallel
from .epilogue import Epilogue


def applies(geo: WindowGeometry, w_shape, out_channels: int, min_in_channels: int) -> bool:
    """Stride 1, one group, at most `out_channels` outputs and at least `min_in_channels` inputs
    (a shallow GEMM wastes the stacking), and a kernel of more than one tap."""
    return (all(s == 1 for s in geo.stride) and geo.groups == 1 and w_shape[0] <= out_channels
            and w_shape[1] >= min_in_channels and prod(geo.kernel) > 1)


def forward(x: np.ndarray, w: np.ndarray, geo: WindowGeometry, b, epilogue: Epilogue, chunk_bytes: int,
            threads: int) -> np.ndarray:
    n_img, c = x.shape[:2]
    o = w.shape[0]
    padded, out0 = geo.padded_size, geo.out_size[0]
    steps = cell_steps(padded)
    shifts = [sum(t * d * s for t, d, s in zip(tap, geo.dilation, steps)) for tap in taps(geo.kernel)]
    n_taps, reach = len(shifts), max(shifts)
    stacked = np.ascontiguousarray(np.moveaxis(w.reshape(o, c, n_taps), 2, 0)).reshape(n_taps * o, c)  # (T*O, C)
    rows = max(1, min(out0, chunk_bytes // (n_taps * o * steps[0] * x.itemsize)))
    y = np.empty((n_img, o, *geo.out_size), x.dtype)
    bias = None if b is None else b.reshape(-1, 1)
    crop = (slice(None), slice(None), *(slice(0, s) for s in geo.out_size[1:]))

    def scratch():
        image = np.zeros((c, prod(padded) + reach), x.dtype)  # the border is written once, zeros
        grid = image[:, : prod(padded)].reshape(1, c, *padded)
        assert np.shares_memory(grid, image), "the padded grid must be a view of the flat image"
        return {"image": image, "grid": grid,
                "z": np.empty((n_taps * o, rows * steps[0] + reach), x.dtype),
                "acc": np.empty((o, rows * steps[0]), x.dtype)}

    def work(block, st):
        n, r0 = block
        if r0 == 0:
            pad_into(st["grid"], x[n: n + 1], geo.pads)
        r1 = min(r0 + rows, out0)
        width = (r1 - r0) * steps[0]
        z = st["z"][:, : width + reach]
        np.matmul(stacked, st["image"][:, r0 * steps[0]: r0 * steps[0] + width + reach], out=z)
        acc = st["acc"][:, :width]
        np.copyto(acc, z[:o, shifts[0]: shifts[0] + width])
        for t in range(1, n_taps):
            acc += z[t * o: (t + 1) * o, shifts[t]: shifts[t] + width]
        if bias is not None:
            acc += bias
        part = y[n, :, r0:r1]
        np.copyto(part, acc.reshape(o, r1 - r0, *padded[1:])[crop])
        epilogue(part, (n, slice(None), slice(r0, r1)))

    # one image's row blocks stay in order on one thread: its padded copy is made at its first block
    images = [[(n, r0) for r0 in range(0, out0, rows)] for n in range(n_img)]

    def run_image(blocks, st):
        for block in blocks:
            work(block, st)

    if threads > 1 and n_img > 1:
        with parallel.single_threaded_blas():
            parallel.run_blocks(images, run_image, scratch)
    else:  # one thread, BLAS's included: its threads, woken for each of many small GEMMs, cost more
        st = scratch()
        with parallel.single_threaded_blas():
            for blocks in images:
                run_image(blocks, st)
    return y

