"""Depthwise convolution (one input channel per group) by shifted-slice accumulation.

im2col would copy every input element prod(K) times for a GEMM of inner size prod(K); here each
tap is one multiply-add of a shifted slice instead, on blocks of channels small enough to stay in
cache, so every tap re-reads cached data rather than streaming the whole tensor from memory.
Output channel c*m + j reads input channel c (m = channel multiplier), as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .windows import pad_into, prod, tap_slices, taps

BLOCK_BYTES = 256 << 10


def _blocks(n_img: int, c: int, plane_bytes: int):
    """(n0, n1, c0, c1) blocks of about BLOCK_BYTES of one image's channels (or several images)."""
    per_image = c * plane_bytes
    if per_image <= BLOCK_BYTES:
        step = max(1, BLOCK_BYTES // per_image)
        return [(n, min(n + step, n_img), 0, c) for n in range(0, n_img, step)]
    step = max(1, BLOCK_BYTES // plane_bytes)
    return [(n, n + 1, c0, min(c0 + step, c)) for n in range(n_img) for c0 in range(0, c, step)]


def _tap_weight(w_block: np.ndarray, tap, n_spatial: int) -> np.ndarray:
    return w_block[(slice(None), *tap)].reshape(1, -1, *([1] * n_spatial))  # (1, cb, 1, ...)


def _padded_blocks(x: np.ndarray, geo):
    """Yield (n0, n1, c0, c1, xp): padded copies of each block, in one reused buffer."""
    n_img, c = x.shape[:2]
    blocks = _blocks(n_img, c, prod(geo.padded_size) * x.itemsize)
    nb = max(b[1] - b[0] for b in blocks)
    cb = max(b[3] - b[2] for b in blocks)
    padded = any(lo or hi for lo, hi in geo.pads)
    buf = np.zeros((nb, cb, *geo.padded_size), x.dtype) if padded else None
    for n0, n1, c0, c1 in blocks:
        xb = x[n0:n1, c0:c1]
        yield n0, n1, c0, c1, (pad_into(buf[:, : c1 - c0], xb, geo.pads) if padded else xb)


def forward(x: np.ndarray, w: np.ndarray, geo) -> np.ndarray:
    n_img, c = x.shape[:2]
    m = w.shape[0] // c
    nsp = len(geo.out_size)
    y = np.empty((n_img, c * m, *geo.out_size), x.dtype)
    ym = y.reshape(n_img, c, m, *geo.out_size)
    wm = w.reshape(c, m, *geo.kernel)
    tmp = None
    for n0, n1, c0, c1, xp in _padded_blocks(x, geo):
        for j in range(m):
            acc = ym[n0:n1, c0:c1, j]
            if tmp is None or tmp.shape != acc.shape:
                tmp = np.empty(acc.shape, x.dtype)
            for i, tap in enumerate(taps(geo.kernel)):
                v = xp[(slice(None), slice(None), *tap_slices(tap, geo.stride, geo.dilation, geo.out_size))]
                wt = _tap_weight(wm[c0:c1, j], tap, nsp)
                if i == 0:
                    np.multiply(v, wt, out=acc)
                else:
                    np.multiply(v, wt, out=tmp)
                    acc += tmp
    return y


def input_grad(dy: np.ndarray, w: np.ndarray, geo) -> np.ndarray:
    """Adjoint of `forward` in x: every tap adds w_t * dy onto its shifted slice."""
    n_img = dy.shape[0]
    c = geo.groups
    m = w.shape[0] // c
    nsp = len(geo.out_size)
    dym = np.ascontiguousarray(dy).reshape(n_img, c, m, *geo.out_size)
    wm = w.reshape(c, m, *geo.kernel)
    dx = np.empty((n_img, c, *geo.in_size), dy.dtype)
    crop = tuple(slice(lo, lo + i) for (lo, _), i in zip(geo.pads, geo.in_size))
    blocks = _blocks(n_img, c, prod(geo.padded_size) * dy.itemsize)
    canvas = np.empty((max(b[1] - b[0] for b in blocks), max(b[3] - b[2] for b in blocks),
                       *geo.padded_size), dy.dtype)
    for n0, n1, c0, c1 in blocks:
        cv = canvas[: n1 - n0, : c1 - c0]
        cv[...] = 0
        for j in range(m):
            g = dym[n0:n1, c0:c1, j]
            for tap in taps(geo.kernel):
                sl = tap_slices(tap, geo.stride, geo.dilation, geo.out_size)
                cv[(slice(None), slice(None), *sl)] += g * _tap_weight(wm[c0:c1, j], tap, nsp)
        dx[n0:n1, c0:c1] = cv[(slice(None), slice(None), *crop)]
    return dx


def weight_grad(x: np.ndarray, dy: np.ndarray, geo, w_shape) -> np.ndarray:
    """dw[c*m + j, 0, t] = sum over images and positions of dy[c*m + j] * (tap t slice of x[c])."""
    n_img, c = x.shape[:2]
    m = w_shape[0] // c
    dym = np.ascontiguousarray(dy).reshape(n_img, c, m, *geo.out_size)
    dw = np.zeros((c, m, *geo.kernel), x.dtype)
    spatial = tuple(range(2, 2 + len(geo.out_size)))
    for n0, n1, c0, c1, xp in _padded_blocks(x, geo):
        for j in range(m):
            g = dym[n0:n1, c0:c1, j]
            for tap in taps(geo.kernel):
                v = xp[(slice(None), slice(None), *tap_slices(tap, geo.stride, geo.dilation, geo.out_size))]
                dw[(slice(c0, c1), j, *tap)] += (g * v).sum(axis=(0, *spatial))
    return dw.reshape(w_shape)
