"""N-d convolution (cross-correlation), its transpose and their gradients.

One implementation serves 1-D, 2-D and 3-D. The algorithm is chosen here and nowhere else:
- 1x1 kernels with stride 1 and no padding: one batched matmul, no copies;
- depthwise (one input channel per group): shifted-slice accumulation over the taps;
- everything else: im2col into a reused, cache-sized buffer of columns (see `windows.plan_chunks`)
  and one GEMM per chunk written straight into the channels-first output.
Gradients reuse the same pieces: the input gradient is col2im of W^T dy (which IS the transposed
convolution), the weight gradient is dy times the columns.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np

from .engine import depthwise, flat_windows, parallel, phase_windows
from .geometry import check_array, conv_geometry, transposed_geometry, ConvGeometry
from .windows import (chunk_budget, crop, flip_kernel, pad_into, plan_chunks, prod, row_stride, row_window,
                      scatter_windows, scratch_matrix)


def _weight(w, dtype, op: str, layout: str) -> np.ndarray:
    w = np.asarray(w)
    if w.dtype.kind != "f":
        raise TypeError(f"{op}: weight dtype {w.dtype} is not floating point")
    if not 3 <= w.ndim <= 5:
        raise ValueError(f"{op}: weight of shape {w.shape} must be {layout} with 1 to 3 kernel axes")
    return w.astype(dtype, copy=False)


def _bias(b, channels: int, dtype, op: str):
    if b is None:
        return None
    b = np.asarray(b)
    if b.shape != (channels,):
        raise ValueError(f"{op}: bias of shape {b.shape} must be ({channels},), one per output channel")
    return b.astype(dtype, copy=False)


def _add_bias(y: np.ndarray, b) -> np.ndarray:
    if b is not None:
        y += b.reshape(1, -1, *([1] * (y.ndim - 2)))
    return y


def _is_pointwise(geo: ConvGeometry) -> bool:
    """A 1x1 kernel that maps every input cell to the same output cell: a plain matmul."""
    return all(k == 1 for k in geo.kernel) and geo.in_size == geo.out_size and not any(
        lo or hi for lo, hi in geo.pads)


def _is_depthwise(geo: ConvGeometry, w_shape) -> bool:
    return geo.groups > 1 and w_shape[1] == 1


# ---------------------------------------------------------------------------------------------
# The three kernels: forward, input gradient (= transposed conv), weight gradient.

# Below this many bytes of columns, two threads cost more than they overlap (measured: the digits
# and first-MNIST-layer cases, 0.6 and 1.8 MB, got 1.5-2x slower threaded).
PARALLEL_BYTES = 8 << 20


class _Lowering:
    """How one conv is lowered to GEMMs: the chunks of work and the layout of their columns.

    Columns are the im2col of a chunk of images n0:n1 and output rows r0:r1, in one of two layouts:
    - per image, (n, G, C/G * prod(K), positions): one GEMM per image and group, written straight
      into the channels-first output (best for big images, and when the output is wider than
      the columns, e.g. a first layer with 1 input channel);
    - wide, (1, G, C/G * prod(K), n * positions): the images side by side, for many small images
      whose columns are no fewer than their outputs. The weight gradient then runs one GEMM over
      all their positions (measured 5-10% faster than per image on 64 maps of 14x14); the
      forward multiplies image by image through views, straight into the output.
    Chunks come in image groups (all row chunks of the same images); groups run on parallel
    threads, each copying its columns and running single-threaded GEMMs, so one thread's copy
    overlaps the other's arithmetic (measured: ResNet block 15 -> 12 ms against BLAS's own two
    threads). Each thread gets 1/threads of the working-set budget, so peak memory is unchanged.
    """

    def __init__(self, geo: ConvGeometry, n_img: int, c: int, o: int, itemsize: int, budget: int,
                 threads: int, ones: bool):
        self.geo, self.c, self.o, self.ones, self.threads = geo, c, o, int(ones), threads
        self.k = prod(geo.kernel)
        self.rest = prod(geo.out_size[1:])
        row_bytes = c * self.k * self.rest * itemsize
        plan = plan_chunks(n_img, geo.out_size[0], row_bytes, budget // threads)
        self.groups = [(n0, n1, [(r0, r1) for _, _, r0, r1 in blocks])
                       for (n0, n1), blocks in itertools.groupby(plan, key=lambda b: b[:2])]
        self.n_max = max(n1 - n0 for n0, n1, _ in self.groups)
        self.r_max = max(r1 - r0 for _, _, rows in self.groups for r0, r1 in rows)
        self.wide = self.n_max > 1 and c * self.k >= o
        self.flat = flat_windows.applies(geo)
        self.phased = phase_windows.applies(geo)
        nsp = len(geo.kernel)
        # the windows' axes (n, G, C/G, *K, *O), kept per image, or as (G, C/G, *K, n, *O) side by side
        self.order = ((1, 2, *range(3, 3 + nsp), 0, *range(3 + nsp, 3 + 2 * nsp)) if self.wide
                      else tuple(range(3 + 2 * nsp)))
        self.unorder = tuple(int(i) for i in np.argsort(self.order))
        self.col_elems = max(self._col_items(n1 - n0, r1 - r0, itemsize) for n0, n1, rows in self.groups
                             for r0, r1 in rows)

    def _col_items(self, n: int, rows: int, itemsize: int) -> int:
        """Items of one chunk's columns, counting the slack between GEMM rows."""
        b, g = (1 if self.wide else n), self.geo.groups
        return b * (self.c * self.k + g * self.ones) * row_stride(n // b * rows * self.rest, itemsize)

    def buffer(self, channels: int, dtype) -> np.ndarray:
        """Scratch for one chunk with `channels` values per position."""
        return np.empty(self.n_max * channels * self.r_max * self.rest, dtype)

    def run(self, work, scratch, dynamic: bool = True) -> list:
        """work(group, state) for every image group, in parallel when there are several
        (see `parallel.run_blocks` for `dynamic`)."""
        if len(self.groups) < 2 or self.threads < 2:
            state = scratch()
            for group in self.groups:
                work(group, state)
            return [state]
        with parallel.single_threaded_blas():
            return parallel.run_blocks(self.groups, work, scratch, dynamic=dynamic)

    def to_gemm(self, a: np.ndarray, n0, n1, r0, r1, buf: np.ndarray) -> np.ndarray:
        """Chunk of a (N, O, *S_out) array as GEMM columns (b, G, O/G, positions)."""
        g, chunk = self.geo.groups, a[n0:n1, :, r0:r1]
        if not self.wide:
            return chunk.reshape(n1 - n0, g, chunk.shape[1] // g, -1)
        out = buf[: chunk.size].reshape(chunk.shape[1], n1 - n0, -1)
        np.copyto(out, chunk.reshape(n1 - n0, chunk.shape[1], -1).swapaxes(0, 1))
        return out.reshape(1, g, chunk.shape[1] // g, -1)

    def scratch(self, dtype, extra: int = 0, source: bool = True) -> dict:
        """One thread's buffers: the images to take `columns` from (unless not `source`),
        columns, and `extra` values per position."""
        geo = self.geo
        padded = source and any(lo or hi for lo, hi in geo.pads) and not (self.flat or self.phased)
        return {"pad": np.zeros((self.n_max, self.c, *geo.padded_size), dtype) if padded else None,
                "src": np.empty(flat_windows.source_items(geo, self.n_max, self.c), dtype)
                if source and self.flat else None,
                "phases": phase_windows.buffer(geo, self.n_max, self.c, dtype) if source and self.phased else None,
                "cols": np.empty(self.col_elems, dtype), "extra": self.buffer(extra, dtype) if extra else None}

    def columns(self, x: np.ndarray, group, st: dict):
        """Yield (r0, r1, cols (b, G, C/G * prod(K), positions)) for one image group.

        With `ones`, each group gets one more row, all ones: a bias as the weight's last column
        then comes out of the GEMM itself (a separate pass over the output cost up to 40% of a
        forward whose GEMM is small, measured on MNIST's first layer).
        """
        geo, g, order = self.geo, self.geo.groups, self.order
        n0, n1, rows = group
        n, b = n1 - n0, (1 if self.wide else n1 - n0)
        if self.flat:
            src = flat_windows.source(st["src"], x, n0, n1, geo)
        elif self.phased:
            planes = phase_windows.split(st["phases"], x[n0:n1], geo)
        else:
            xp = pad_into(st["pad"], x[n0:n1], geo.pads) if st["pad"] is not None else x[n0:n1]
        for r0, r1 in rows:
            shape = (n, g, self.c // g, *geo.kernel, r1 - r0, *geo.out_size[1:])
            cols = scratch_matrix(st["cols"], (b, g, self.c // g * self.k + self.ones), (n // b * (r1 - r0) * self.rest,))
            target = cols[:, :, : self.c // g * self.k].reshape(tuple(shape[i] for i in order))
            assert np.may_share_memory(target, cols), "the columns' layout must be a view"
            if self.phased:
                phase_windows.copy_windows(target.transpose(self.unorder), planes, geo, r0, g)
            else:
                view = (flat_windows.flat_window(src, n, self.c, geo, r0, r1) if self.flat else
                        row_window(xp, r0, r1, geo.kernel, geo.stride, geo.dilation, geo.out_size))
                np.copyto(target, view.reshape(shape).transpose(order))
            if self.flat:
                flat_windows.clear_outside(target, geo, r0, r1, order, lead=3)
            if self.ones:
                cols[:, :, -1] = 1
            yield r0, r1, cols

    def windows_of(self, dcols: np.ndarray, n: int, rows: int) -> np.ndarray:
        """GEMM columns (b, G, C/G * prod(K), positions) as windows (n, C, *K, rows, *rest)."""
        geo, nsp = self.geo, len(self.geo.kernel)
        if not self.wide:
            return dcols.reshape(n, self.c, *geo.kernel, rows, *geo.out_size[1:])
        back = (1 + nsp, 0, *range(1, 1 + nsp), *range(2 + nsp, 2 + 2 * nsp))  # (C, *K, n, *O) -> (n, C, *K, *O)
        return dcols.reshape(self.c, *geo.kernel, n, rows, *geo.out_size[1:]).transpose(back)


# Planning a lowering takes about 50 us, a noticeable part of a small conv, and a model asks for
# the same few plans again and again.
_planned = functools.lru_cache(maxsize=256)(_Lowering)


def _lowering(geo: ConvGeometry, n_img: int, c: int, o: int, itemsize: int, result_bytes: int,
              ones: bool = False) -> _Lowering:
    """The lowering of a conv whose result (output or input gradient) takes `result_bytes`."""
    total = n_img * c * prod(geo.kernel) * prod(geo.out_size) * itemsize  # all columns of the op
    threads = parallel.num_threads() if total >= PARALLEL_BYTES else 1
    return _planned(geo, n_img, c, o, itemsize, chunk_budget(result_bytes), threads, ones)


def _forward(x: np.ndarray, w: np.ndarray, geo: ConvGeometry, b=None) -> np.ndarray:
    """The convolution; a bias rides in the GEMM (see `_Lowering.columns`)."""
    n_img, c = x.shape[:2]
    o, g = w.shape[0], geo.groups
    if _is_depthwise(geo, w.shape):
        return _add_bias(depthwise.forward(x, w, geo), b)
    y = np.empty((n_img, o, *geo.out_size), x.dtype)
    wmat = w.reshape(g, o // g, -1)  # (G, O/G, C/G * prod(K))
    if _is_pointwise(geo):
        np.matmul(wmat, x.reshape(n_img, g, c // g, -1), out=y.reshape(n_img, g, o // g, -1))
        return _add_bias(y, b)
    low = _lowering(geo, n_img, c, o, x.itemsize, y.nbytes, ones=b is not None)
    if b is not None:  # the bias meets the columns' row of ones
        wmat = np.concatenate([wmat, b.reshape(g, o // g, 1)], axis=2)

    def work(group, st):
        n0, n1 = group[:2]
        for r0, r1, cols in low.columns(x, group, st):
            if low.wide:  # one image's positions after another: a view per image
                cols = cols.reshape(g, -1, n1 - n0, cols.shape[-1] // (n1 - n0)).transpose(2, 0, 1, 3)
            np.matmul(wmat, cols, out=y[n0:n1, :, r0:r1].reshape(n1 - n0, g, o // g, -1))
    low.run(work, lambda: low.scratch(x.dtype))
    return y


def _input_grad(dy: np.ndarray, w: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """dx = col2im(W^T dy): the adjoint of `_forward` in x, i.e. the transposed convolution."""
    n_img = dy.shape[0]
    o, cg = w.shape[:2]
    g = geo.groups
    c = cg * g
    if _is_depthwise(geo, w.shape):
        return depthwise.input_grad(dy, w, geo)
    wt = w.reshape(g, o // g, -1).transpose(0, 2, 1)  # (G, C/G * prod(K), O/G)
    if _is_pointwise(geo):
        dy4 = np.ascontiguousarray(dy).reshape(n_img, g, o // g, -1)
        return np.matmul(wt, dy4).reshape(n_img, c, *geo.in_size)
    dx = np.empty((n_img, c, *geo.in_size), dy.dtype)
    low = _lowering(geo, n_img, c, o, dy.itemsize, dx.nbytes)
    dy = np.ascontiguousarray(dy)
    flat = flat_windows.applies(geo, scatter=True)

    def scratch():
        st = low.scratch(dy.dtype, o if low.wide else 0, source=False)
        st["canvas"] = np.empty(flat_windows.source_items(geo, low.n_max, c) if flat else
                                (low.n_max, c, *geo.padded_size), dy.dtype)
        return st

    def work(group, st):
        n0, n1, rows = group
        canvas = st["canvas"] if flat else st["canvas"][: n1 - n0]
        canvas[...] = 0
        for r0, r1 in rows:
            grid = low.to_gemm(dy, n0, n1, r0, r1, st["extra"])
            dcols = np.matmul(wt, grid, out=st["cols"][: low.c * low.k * grid.shape[0] * grid.shape[-1]].reshape(
                grid.shape[0], g, cg * low.k, -1))
            wins = low.windows_of(dcols, n1 - n0, r1 - r0)
            if flat:
                flat_windows.add_windows(canvas, wins, geo, r0)
            else:
                scatter_windows(canvas, wins, geo.kernel, geo.stride, geo.dilation, (r1 - r0, *geo.out_size[1:]),
                                offset0=r0)
        dx[n0:n1] = flat_windows.image(canvas, n1 - n0, c, geo) if flat else crop(canvas, geo.pads, geo.in_size)
    low.run(work, scratch)
    return dx


def _weight_grad(x: np.ndarray, dy: np.ndarray, geo: ConvGeometry, w_shape) -> np.ndarray:
    """dw[o, c, t] = sum over images and positions of dy[o, p] * cols[c, t, p]."""
    n_img, c = x.shape[:2]
    o, g = w_shape[0], geo.groups
    if _is_depthwise(geo, w_shape):
        return depthwise.weight_grad(x, dy, geo, w_shape)
    dy = np.ascontiguousarray(dy)
    if _is_pointwise(geo):
        cols = np.ascontiguousarray(x).reshape(n_img, g, c // g, -1)
        return np.matmul(dy.reshape(n_img, g, o // g, -1), cols.transpose(0, 1, 3, 2)).sum(0).reshape(w_shape)
    low = _lowering(geo, n_img, c, o, x.itemsize, dy.nbytes)

    def scratch():
        st = low.scratch(x.dtype, o if low.wide else 0)
        st["dw"] = np.zeros((g, o // g, prod(w_shape[1:])), x.dtype)
        return st

    def work(group, st):
        n0, n1 = group[:2]
        for r0, r1, cols in low.columns(x, group, st):
            part = np.matmul(low.to_gemm(dy, n0, n1, r0, r1, st["extra"]), cols.transpose(0, 1, 3, 2))
            st["dw"] += part.sum(0) if len(part) > 1 else part[0]  # (G, O/G, C/G * prod(K))
    return sum(st["dw"] for st in low.run(work, scratch, dynamic=False)).reshape(w_shape)


# ---------------------------------------------------------------------------------------------
# Public ops

def conv(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False):
    """N-d convolution as the lecture and PyTorch define it (cross-correlation).

    Args:
        x: input (N, C, *S), 1 to 3 spatial axes, float32 or float64.
        w: weight (O, C/groups, *K).  b: optional bias (O,).
        stride, dilation: int or one per spatial axis.
        padding: 'valid' | 'same' | 'full' | int | tuple of ints | tuple of (lo, hi) pairs.
            'same' follows TensorFlow (o = ceil(i/s), extra pad on the high side).
        groups: input and output channels split into this many independent groups.
        flip: True for true convolution (kernel flipped on every spatial axis).

    Shape:
        y: (N, O, *S_out) with ``o = floor((i + p_lo + p_hi - d(k-1) - 1)/s) + 1`` per axis.

    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> conv(x, np.ones((1, 1, 3, 3), np.float32)).shape
    (1, 1, 2, 2)
    """
    x = check_array(x, "conv")
    w = _weight(w, x.dtype, "conv", "(out_channels, in_channels/groups, *kernel)")
    geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups, "conv")
    b = _bias(b, w.shape[0], x.dtype, "conv")
    return _forward(x, flip_kernel(w) if flip else w, geo, b)


def conv_backward(dy, x, w, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
                  input_grad=True, weight_grad=True):
    """Gradients of `conv` for the upstream gradient dy (N, O, *S_out).

    Returns (dx, dw, db); dx or dw is None when not asked for. db = dy summed over N and space
    (whether or not the forward had a bias).
    """
    x = check_array(x, "conv_backward")
    w_in = np.asarray(w)
    w = _weight(w, x.dtype, "conv_backward", "(out_channels, in_channels/groups, *kernel)")
    geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups, "conv_backward")
    dy = _grad_array(dy, (x.shape[0], w.shape[0], *geo.out_size), x.dtype, "conv_backward")
    wf = flip_kernel(w) if flip else w
    dx = _input_grad(dy, wf, geo) if input_grad else None
    dw = None
    if weight_grad:
        dw = _weight_grad(x, dy, geo, w.shape)
        dw = (flip_kernel(dw) if flip else dw).astype(w_in.dtype, copy=False)
    db = dy.sum(axis=(0, *range(2, dy.ndim)))
    return dx, dw, db


def conv_transpose(y, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Transposed convolution: the adjoint of `conv` with the same weight and settings.

    Args:
        y: input (N, C_in, *S).  w: weight (C_in, C_out/groups, *K), PyTorch's layout.
        padding: int, tuple of ints, or (lo, hi) pairs: removed from the border of the output.
        output_padding: extra cells on the high side of the output (< stride or < dilation).

    Shape:
        out: (N, C_out, *S_out), ``o = (i-1)s - p_lo - p_hi + d(k-1) + output_padding + 1``.

    >>> conv_transpose(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))).shape
    (1, 1, 4, 4)
    """
    y = check_array(y, "conv_transpose")
    w = _weight(w, y.dtype, "conv_transpose", "(in_channels, out_channels/groups, *kernel)")
    geo, _ = transposed_geometry(y.shape, w.shape, stride, padding, output_padding, dilation, groups)
    b = _bias(b, w.shape[1] * geo.groups, y.dtype, "conv_transpose")
    return _add_bias(_input_grad(y, w, geo), b)


def conv_transpose_backward(dout, y, w, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                            input_grad=True, weight_grad=True):
    """Gradients of `conv_transpose`: (dy, dw, db) for the upstream gradient dout (N, C_out, *S_out).

    Since conv_transpose(y) = C^T y, its input gradient is C dout = conv(dout), and its weight
    gradient is conv's weight gradient with the roles of input and upstream gradient swapped.
    """
    op = "conv_transpose_backward"
    y = check_array(y, op)
    w_in = np.asarray(w)
    w = _weight(w, y.dtype, op, "(in_channels, out_channels/groups, *kernel)")
    geo, out = transposed_geometry(y.shape, w.shape, stride, padding, output_padding, dilation, groups, op)
    dout = _grad_array(dout, (y.shape[0], w.shape[1] * geo.groups, *out), y.dtype, op)
    dy = _forward(dout, w, geo) if input_grad else None
    dw = _weight_grad(dout, y, geo, w.shape).astype(w_in.dtype, copy=False) if weight_grad else None
    db = dout.sum(axis=(0, *range(2, dout.ndim)))
    return dy, dw, db


def _grad_array(g, shape, dtype, op: str) -> np.ndarray:
    g = np.asarray(g)
    if g.shape != tuple(shape):
        raise ValueError(f"{op}: upstream gradient has shape {g.shape}, expected {tuple(shape)} "
                         "(the shape of the forward output)")
    return g.astype(dtype, copy=False)
