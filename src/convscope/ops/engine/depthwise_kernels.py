"""Compiled depthwise kernels (numba): every tap of a plane in one pass over memory.

The NumPy path (`depthwise.py`) streams a block through one ufunc call per tap and per operation;
here one compiled loop per plane copies it into a padded scratch plane that stays in L1/L2 and
runs all the taps over each output row while that row is in registers and L1. Only imported when
numba is installed (`compiled.kernels()`); `depthwise.py` keeps the NumPy path as the fallback,
held to the same tests.

The scratch plane is laid out so that every tap reads one contiguous run per output row, whatever
the stride: each padded row of the last axis is stored as its `s` stride phases one after the
other (cells p, p + s, p + 2s, ... for phase p), so output cells l = 0, 1, ... of tap t read
consecutive cells of one phase (`_Layout` in depthwise.py computes the offsets). Loops run over
contiguous runs with unit steps, which LLVM turns into SIMD code for the CPU it runs on.

Summation orders are fixed (taps in kernel order, then rows, images in block order), so a result
never depends on timing. `cache=True` keeps the machine code on disk between processes (numba's
rules: NUMBA_CACHE_DIR if set, else `__pycache__` beside this file if writable, else the user's
cache directory).
"""
from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(nogil=True, cache=True)  # nogil: the engine's threads run blocks side by side


@njit(**_JIT)
def _fill(src, xp, rows, cols, contiguous):
    """Copy one input plane (flat, rows of len(cols) cells) into the scratch plane's interior."""
    width = cols.shape[0]
    for i in range(rows.shape[0]):
        row = src[i * width:(i + 1) * width]
        if contiguous:
            dst = xp[rows[i] + cols[0]:]
            for c in range(width):
                dst[c] = row[c]
        else:
            dst = xp[rows[i]:]
            for c in range(width):
                dst[cols[c]] = row[c]


@njit(**_JIT)
def _drain(xp, dst, rows, cols, contiguous):
    """The inverse of `_fill`: the scratch plane's interior into one flat plane."""
    width = cols.shape[0]
    for i in range(rows.shape[0]):
        row = dst[i * width:(i + 1) * width]
        if contiguous:
            src = xp[rows[i] + cols[0]:]
            for c in range(width):
                row[c] = src[c]
        else:
            src = xp[rows[i]:]
            for c in range(width):
                row[c] = src[cols[c]]


@njit(**_JIT)
def _taps(dst, xp, base, offsets, wr, n):
    """dst[:n] = sum over taps t of wr[t] * xp[base + offsets[t]:][:n], taps in kernel order."""
    src = xp[base + offsets[0]:]
    w0 = wr[0]
    for i in range(n):
        dst[i] = w0 * src[i]
    for t in range(1, offsets.shape[0]):
        src = xp[base + offsets[t]:]
        wt = wr[t]
        for i in range(n):
            dst[i] += wt * src[i]


@njit(**_JIT)
def forward(x, y, w, c0, channels, m, xp, rows, cols, contiguous, offsets, bases, length, merge, pitch, group,
            acc):
    """y[p*m + j] = sum over taps t of w[c*m + j, t] * (tap t of plane p), c = (c0 + p) % channels.

    x: (P, prod(in)) planes; y: (P*m, prod(out)); w: (channels*m, taps); xp: a zeroed scratch plane.
    With merge > 1, runs of `merge` output rows that lie `pitch` cells apart in the scratch plane
    (never crossing a `group`, the rows of the second-last axis) are computed as one run into
    `acc`, the cells between rows included (short rows make short, poorly vectorised loops), and
    their rows copied out.
    """
    for p in range(x.shape[0]):
        _fill(x[p], xp, rows, cols, contiguous)
        c = (c0 + p) % channels
        for j in range(m):
            wr = w[c * m + j]
            yp = y[p * m + j]
            if merge == 1:
                for r in range(bases.shape[0]):
                    _taps(yp[r * length:(r + 1) * length], xp, bases[r], offsets, wr, length)
                continue
            for g in range(0, bases.shape[0], group):  # a run never crosses into the next group
                for r0 in range(g, g + group, merge):
                    n_rows = min(merge, g + group - r0)
                    _taps(acc, xp, bases[r0], offsets, wr, (n_rows - 1) * pitch + length)
                    for k in range(n_rows):
                        out = yp[(r0 + k) * length:(r0 + k + 1) * length]
                        run = acc[k * pitch:]
                        for i in range(length):
                            out[i] = run[i]


@njit(**_JIT)
def input_grad(dy, dx, w, c0, channels, m, xp, rows, cols, contiguous, offsets, bases, length):
    """The adjoint of `forward` in x: each tap adds w * dy onto the cells it read (a scatter)."""
    taps = offsets.shape[0]
    for p in range(dx.shape[0]):
        xp[:] = 0
        c = (c0 + p) % channels
        for j in range(m):
            wr = w[c * m + j]
            gp = dy[p * m + j]
            for r in range(bases.shape[0]):
                g = gp[r * length:(r + 1) * length]
                for t in range(taps):
                    dst = xp[bases[r] + offsets[t]:]
                    wt = wr[t]
                    for i in range(length):
                        dst[i] += wt * g[i]
        _drain(xp, dx[p], rows, cols, contiguous)


@njit(**_JIT)
def weight_grad(x, dy, dw, c0, channels, m, xp, rows, cols, contiguous, offsets, bases, length, part):
    """dw[c*m + j, t] += sum over positions of dy[p*m + j] * (tap t of plane p), into float64 dw.

    Per plane, each tap's products are summed over rows into `part` (taps, length), one lane per
    output column, which vectorises without reordering a sum; each lane is then added to dw.
    """
    taps = offsets.shape[0]
    for p in range(x.shape[0]):
        _fill(x[p], xp, rows, cols, contiguous)
        c = (c0 + p) % channels
        for j in range(m):
            part[:] = 0
            gp = dy[p * m + j]
            for r in range(bases.shape[0]):
                g = gp[r * length:(r + 1) * length]
                for t in range(taps):
                    src = xp[bases[r] + offsets[t]:]
                    acc = part[t]
                    for i in range(length):
                        acc[i] += g[i] * src[i]
            for t in range(taps):
                total = 0.0
                for i in range(length):
                    total += part[t, i]
                dw[c * m + j, t] += total

