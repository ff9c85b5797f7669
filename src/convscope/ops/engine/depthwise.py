"""Depthwise convolution (one input channel per group) by shifted-slice accumulation.

im2col would copy every input element prod(K) times for a GEMM whose inner size is only prod(K);
here each tap is one multiply-add of a shifted view instead, on blocks of (image, channel) planes
small enough to stay in cache, spread over threads. Output channel c*m + j reads input channel c
(m = channel multiplier), as in PyTorch.

With stride 1 the views run over the *padded-width* grid: positions (o_0, j_1, ...) with j_a
spanning the whole padded extent, so every tap reads one contiguous run per plane (long, fast
ufunc loops) and the wrapped columns j_a >= o_a are cropped at the end (their gradients are 0).

With numba installed, compiled kernels (`depthwise_kernels`) run every tap of a plane in one pass
instead (`_Layout` says where each tap reads); the NumPy path below is the fallback.
"""
from __future__ import annotations

import functools

import numpy as np

from ..geometry import WindowGeometry, transposed_as_conv_pads
from ..windows import cell_steps, flip_kernel, prod, taps
from . import compiled
from .chunks import balanced
from .parallel import run_blocks
from .tuning import current, num_threads


class _Grid:
    """Where each tap of the kernel reads, in a (planes, plane + slack) buffer of padded planes."""

    def __init__(self, geo):
        sp = geo.padded_size
        steps = cell_steps(sp)
        if all(s == 1 for s in geo.stride):
            self.shape = (geo.out_size[0], *sp[1:])
            self.steps = steps
            slack = sum(d * (k - 1) * st for k, d, st in zip(geo.kernel[1:], geo.dilation[1:], steps[1:]))
        else:
            self.shape = geo.out_size
            self.steps = [s * st for s, st in zip(geo.stride, steps)]
            slack = 0
        self.padded, self.plane_steps = sp, steps
        self.plane = prod(sp) + slack
        self.offsets = [sum(t * d * st for t, d, st in zip(tap, geo.dilation, steps)) for tap in taps(geo.kernel)]
        self.valid = (slice(None), slice(None), *(slice(0, o) for o in geo.out_size[1:]))  # crop wrapped columns
        self.inner = (slice(None), *(slice(lo, lo + i) for (lo, _), i in zip(geo.pads, geo.in_size)))

    def images(self, buf: np.ndarray) -> np.ndarray:
        """The (planes, *padded) view of a buffer."""
        it = buf.itemsize
        return np.ndarray((len(buf), *self.padded), buf.dtype, buf, 0,
                          (buf.strides[0], *(s * it for s in self.plane_steps)))

    def tap(self, buf: np.ndarray, t: int) -> np.ndarray:
        """(planes, *grid) view of the cells tap t reads for every grid position.

        Built with the ndarray constructor, which checks the view against the buffer's bounds,
        in about 1 us (as_strided takes about 5, and a block asks for one view per tap)."""
        it = buf.itemsize
        return np.ndarray((len(buf), *self.shape), buf.dtype, buf, self.offsets[t] * it,
                          (buf.strides[0], *(s * it for s in self.steps)))

    def scratch(self, planes: int, dtype) -> dict:
        grid = (planes, *self.shape)
        return {"xp": np.zeros((planes, self.plane), dtype), "g": np.zeros(grid, dtype),
                "acc": np.empty(grid, dtype), "tmp": np.empty(grid, dtype)}


def _blocks(planes: int, plane_bytes: int):
    per = balanced(planes, max(1, current().depthwise_block_bytes // plane_bytes))
    return [(r, min(r + per, planes)) for r in range(0, planes, per)]


def _setup(shape, w, geo):
    """Planes are (image, channel) pairs: (N*C, *S) views and each plane's weights (N*C rows)."""
    n_img, c = shape[:2]
    grid = _Grid(geo)
    blocks = _blocks(n_img * c, grid.plane * w.itemsize)
    wt = w.reshape(c, w.shape[0] // c, -1)  # (C, m, prod(K))
    return grid, blocks, wt, max(r1 - r0 for r0, r1 in blocks)


def _tap_weight(wb: np.ndarray, j: int, t: int, nsp: int) -> np.ndarray:
    return wb[:, j, t].reshape(-1, *([1] * nsp))


def forward(x: np.ndarray, w: np.ndarray, geo) -> np.ndarray:
    kernels = compiled.kernels(x.dtype)
    if kernels is not None:
        return _compiled_forward(kernels, x, w, geo)
    n_img, c = x.shape[:2]
    grid, blocks, wt, per = _setup(x.shape, w, geo)
    m, nsp = wt.shape[1], len(geo.kernel)
    x2 = x.reshape(n_img * c, *geo.in_size)
    y = np.empty((n_img, c * m, *geo.out_size), x.dtype)
    y2 = y.reshape(n_img * c, m, *geo.out_size)

    def work(block, st):
        r0, r1 = block
        xp = st["xp"][: r1 - r0]
        grid.images(xp)[grid.inner] = x2[r0:r1]
        wb = wt[np.arange(r0, r1) % c]
        acc, tmp = st["acc"][: r1 - r0], st["tmp"][: r1 - r0]
        for j in range(m):
            np.multiply(grid.tap(xp, 0), _tap_weight(wb, j, 0, nsp), out=acc)
            for t in range(1, len(grid.offsets)):
                np.multiply(grid.tap(xp, t), _tap_weight(wb, j, t, nsp), out=tmp)
                acc += tmp
            y2[r0:r1, j] = acc[grid.valid]

    run_blocks(blocks, work, lambda: grid.scratch(per, x.dtype))
    return y


def input_grad(dy: np.ndarray, w: np.ndarray, geo) -> np.ndarray:
    """Adjoint of `forward` in x.

    With stride 1 it is itself a depthwise convolution: dy, padded by d(k-1) - p on each side,
    against the flipped kernel (a gather, summed over the channel multiplier). That runs like the
    forward; the scatter below writes through tap views that are mostly not 16-byte aligned,
    which NumPy's loops store about 3x slower than they read (measured: 10.8 against 4.4 ms).
    """
    back = _adjoint_geometry(geo)
    kernels = compiled.kernels(dy.dtype)
    if back is None and kernels is not None:
        return _compiled_input_grad(kernels, dy, w, geo)
    if back is None:
        return _scattered_input_grad(dy, w, geo)
    c, m = geo.groups, w.shape[0] // geo.groups
    flipped = flip_kernel(w)
    if m == 1:
        return forward(dy, np.ascontiguousarray(flipped), back)
    dy5, w5 = dy.reshape(dy.shape[0], c, m, *geo.out_size), flipped.reshape(c, m, 1, *geo.kernel)
    return sum(forward(dy5[:, :, j], np.ascontiguousarray(w5[:, j]), back) for j in range(m))


def _adjoint_geometry(geo):
    """The stride-1 convolution from dy back to x, or None (a stride, or a pad beyond d(k-1)).

    Its low pad is d(k-1) - p_lo; the high one makes its output x's size again, including
    trailing cells of x that no window reaches (a transposed conv's output_padding).
    """
    low = [lo for lo, _ in transposed_as_conv_pads(geo.kernel, geo.dilation, geo.pads)]
    pads = tuple((lo, i - o + p_lo) for lo, (p_lo, _), i, o in zip(low, geo.pads, geo.in_size, geo.out_size))
    if any(s != 1 for s in geo.stride) or min(min(p) for p in pads) < 0:
        return None
    return WindowGeometry(geo.out_size, geo.kernel, geo.stride, geo.dilation, pads, geo.in_size, geo.groups)


def _scattered_input_grad(dy: np.ndarray, w: np.ndarray, geo) -> np.ndarray:
    """Adjoint of `forward` in x: every tap adds w_t * dy onto the cells it read."""
    n_img = dy.shape[0]
    c = geo.groups
    grid, blocks, wt, per = _setup((n_img, c), w, geo)
    m, nsp = wt.shape[1], len(geo.kernel)
    dy2 = dy.reshape(n_img * c, m, *geo.out_size)
    dx = np.empty((n_img, c, *geo.in_size), dy.dtype)
    dx2 = dx.reshape(n_img * c, *geo.in_size)

    def work(block, st):
        r0, r1 = block
        canvas, g, tmp = st["xp"][: r1 - r0], st["g"][: r1 - r0], st["tmp"][: r1 - r0]
        canvas[...] = 0
        wb = wt[np.arange(r0, r1) % c]
        for j in range(m):
            g[grid.valid] = dy2[r0:r1, j]  # wrapped columns keep their zeros
            for t in range(len(grid.offsets)):
                np.multiply(g, _tap_weight(wb, j, t, nsp), out=tmp)
                cells = grid.tap(canvas, t)
                cells += tmp
        dx2[r0:r1] = grid.images(canvas)[grid.inner]

    run_blocks(blocks, work, lambda: grid.scratch(per, dy.dtype))
    return dx


def weight_grad(x: np.ndarray, dy: np.ndarray, geo, w_shape) -> np.ndarray:
    """dw[c*m + j, 0, t] = sum over images and positions of dy[c*m + j] * (tap t view of x[c])."""
    kernels = compiled.kernels(x.dtype)
    if kernels is not None:
        return _compiled_weight_grad(kernels, x, dy, geo, w_shape)
    n_img, c = x.shape[:2]
    grid, blocks, wt, per = _setup(x.shape, np.empty(w_shape, x.dtype), geo)
    m = wt.shape[1]
    x2 = x.reshape(n_img * c, *geo.in_size)
    dy2 = dy.reshape(n_img * c, m, *geo.out_size)

    def scratch():
        st = grid.scratch(per, x.dtype)
        st["dw"] = np.zeros(wt.shape, x.dtype)
        return st

    def work(block, st):
        r0, r1 = block
        xp, g = st["xp"][: r1 - r0], st["g"][: r1 - r0]
        grid.images(xp)[grid.inner] = x2[r0:r1]
        channel = np.arange(r0, r1) % c
        dims = "abcd"[: g.ndim]
        for j in range(m):
            g[grid.valid] = dy2[r0:r1, j]
            for t in range(len(grid.offsets)):
                np.add.at(st["dw"][:, j, t], channel, np.einsum(f"{dims},{dims}->a", g, grid.tap(xp, t)))

    states = run_blocks(blocks, work, scratch, dynamic=False)
    return sum(st["dw"] for st in states).reshape(w_shape)


# ------------------------------------------------------------------------- compiled kernels

class _Layout:
    """Where the compiled kernels read, in one padded scratch plane whose rows (along the last
    axis) are stored as their `s` stride phases one after the other (`depthwise_kernels`).

    A padded row of width P is s phases of ceil(P / s) cells; padded cell (..., q) lies at
    row_start + (q % s) * ceil(P / s) + q // s. Output cell (r, l), r the multi-index over all
    axes but the last, reads for tap t the cell bases[r] + offsets[t] + l: one contiguous run of
    `length` = o_last cells per output row and tap.
    """

    def __init__(self, geo, tuning):
        sp, s, d = geo.padded_size, geo.stride[-1], geo.dilation[-1]
        phase = -(-sp[-1] // s)
        steps = [st * s * phase for st in cell_steps(sp[:-1])]  # scratch cells per step of each outer axis
        self.plane = prod(sp[:-1]) * s * phase
        self.length = geo.out_size[-1]
        self.offsets = np.array([sum(t * dd * st for t, dd, st in zip(tap[:-1], geo.dilation, steps))
                                 + (tap[-1] * d) % s * phase + tap[-1] * d // s for tap in taps(geo.kernel)], np.int64)
        self.bases = _outer_sum([np.arange(o) * st * step for o, st, step in zip(geo.out_size, geo.stride, steps)])
        self.rows = _outer_sum([(np.arange(i) + lo) * step for i, (lo, _), step in zip(geo.in_size, geo.pads, steps)])
        cell = np.arange(geo.in_size[-1]) + geo.pads[-1][0]
        self.cols = (cell % s * phase + cell // s).astype(np.int64)
        self.contiguous = s == 1
        # Output rows of the second-last axis lie `pitch` cells apart when its stride is 1: short
        # rows are then computed as merged runs (`depthwise_kernels.forward`).
        self.pitch = steps[-1] if steps else 0
        merged = len(geo.kernel) > 1 and geo.stride[-2] == 1 and self.length < tuning.depthwise_merge_below
        self.group = geo.out_size[-2] if len(geo.kernel) > 1 else 1
        self.merge = max(1, min(self.group, tuning.depthwise_merge_cells // max(self.pitch, 1))) if merged else 1

    def args(self, xp: np.ndarray) -> tuple:
        return xp, self.rows, self.cols, self.contiguous, self.offsets, self.bases, self.length


# A model asks for the same few layouts again and again; their arrays are only ever read.
@functools.lru_cache(maxsize=128)
def _layout(geo, tuning) -> _Layout:
    return _Layout(geo, tuning)


def _outer_sum(parts) -> np.ndarray:
    """Flat (C-order) array of every sum a_0[i_0] + a_1[i_1] + ... (the one 0 for no parts)."""
    total = np.zeros((), np.int64)
    for part in parts:
        total = np.add.outer(total, part)
    return total.reshape(-1).astype(np.int64)


def _compiled_blocks(planes: int, layout: _Layout, itemsize: int, work_bytes: int, scratch, work, dynamic=True):
    """Run work((p0, p1), state) over blocks of planes; threaded when the op is big enough."""
    blocks = _blocks(planes, layout.plane * itemsize)
    if len(blocks) > 1 and num_threads() > 1 and work_bytes >= current().parallel_bytes:
        return run_blocks(blocks, work, scratch, dynamic=dynamic)
    state = scratch()
    for block in blocks:
        work(block, state)
    return [state]


def _compiled_forward(kernels, x, w, geo):
    n_img, c = x.shape[:2]
    layout, m = _layout(geo, current()), w.shape[0] // c
    x2 = x.reshape(n_img * c, -1)  # (planes, prod(in))
    y = np.empty((n_img, c * m, *geo.out_size), x.dtype)
    y2 = y.reshape(n_img * c * m, -1)
    w2 = np.ascontiguousarray(w.reshape(len(w), -1), x.dtype)  # (C*m, taps)

    def scratch():
        return np.zeros(layout.plane, x.dtype), np.empty((layout.merge - 1) * layout.pitch + layout.length, x.dtype)

    def work(block, st):
        p0, p1 = block
        kernels.forward(x2[p0:p1], y2[p0 * m:p1 * m], w2, p0, c, m, *layout.args(st[0]), layout.merge,
                        layout.pitch, layout.group, st[1])

    _compiled_blocks(len(x2), layout, x.itemsize, x.nbytes * len(layout.offsets), scratch, work)
    return y


def _compiled_input_grad(kernels, dy, w, geo):
    n_img, c = dy.shape[0], geo.groups
    layout, m = _layout(geo, current()), w.shape[0] // c
    dy2 = dy.reshape(n_img * c * m, -1)
    dx = np.empty((n_img, c, *geo.in_size), dy.dtype)
    dx2 = dx.reshape(n_img * c, -1)
    w2 = np.ascontiguousarray(w.reshape(len(w), -1), dy.dtype)

    def work(block, xp):
        p0, p1 = block
        kernels.input_grad(dy2[p0 * m:p1 * m], dx2[p0:p1], w2, p0, c, m, *layout.args(xp))

    _compiled_blocks(len(dx2), layout, dy.itemsize, dy.nbytes * len(layout.offsets),
                     lambda: np.zeros(layout.plane, dy.dtype), work)
    return dx


def _compiled_weight_grad(kernels, x, dy, geo, w_shape):
    n_img, c = x.shape[:2]
    layout, m = _layout(geo, current()), w_shape[0] // c
    x2, dy2 = x.reshape(n_img * c, -1), dy.reshape(n_img * c * m, -1)
    taps_ = len(layout.offsets)

    def scratch():  # partial sums in float64, per thread; blocks dealt in a fixed order
        return np.zeros(layout.plane, x.dtype), np.zeros((w_shape[0], taps_)), np.empty((taps_, layout.length), x.dtype)

    def work(block, st):
        p0, p1 = block
        xp, dw, part = st
        kernels.weight_grad(x2[p0:p1], dy2[p0 * m:p1 * m], dw, p0, c, m, *layout.args(xp), part)

    states = _compiled_blocks(len(x2), layout, x.itemsize, x.nbytes * taps_, scratch, work, dynamic=False)
    return sum(st[1] for st in states).astype(x.dtype).reshape(w_shape)
