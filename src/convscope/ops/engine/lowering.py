"""Convolution lowered to GEMMs: im2col of cache-sized chunks, one matrix product per chunk.

The forward multiplies the weight by the columns straight into the channels-first output; the
input gradient is col2im of W^T dy (which IS the transposed convolution); the weight gradient is
dy times the columns. Which windows fill the columns (flat shifts, stride phases, or views of a
padded copy) and how the work is chunked and threaded is decided by `planner.plan`.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..geometry import WindowGeometry
from ..windows import crop, pad_into, prod, row_window, scatter_windows
from . import flat_windows, parallel, phase_windows
from .chunks import plan_chunks, row_stride, scratch_matrix
from .epilogue import NONE, Epilogue


class Lowering:
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

    def __init__(self, geo: WindowGeometry, n_img: int, c: int, o: int, itemsize: int, budget: int,
                 threads: int, ones: bool, windows: str, slack_bytes: int):
        self.geo, self.c, self.o, self.ones, self.threads = geo, c, o, int(ones), threads
        self.slack = slack_bytes
        self.k = prod(geo.kernel)
        self.rest = prod(geo.out_size[1:])
        row_bytes = c * self.k * self.rest * itemsize
        plan = plan_chunks(n_img, geo.out_size[0], row_bytes, budget // threads)
        self.groups = [(n0, n1, [(r0, r1) for _, _, r0, r1 in blocks])
                       for (n0, n1), blocks in itertools.groupby(plan, key=lambda b: b[:2])]
        self.n_max = max(n1 - n0 for n0, n1, _ in self.groups)
        self.r_max = max(r1 - r0 for _, _, rows in self.groups for r0, r1 in rows)
        self.wide = self.n_max > 1 and c * self.k >= o
        self.flat, self.phased = windows == "flat", windows == "phase"
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
        return b * (self.c * self.k + g * self.ones) * row_stride(n // b * rows * self.rest, itemsize, self.slack)

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
            cols = scratch_matrix(st["cols"], (b, g, self.c // g * self.k + self.ones), (n // b * (r1 - r0) * self.rest,),
                                  self.slack)
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



def forward(low: Lowering, x: np.ndarray, w: np.ndarray, b=None, epilogue: Epilogue = NONE) -> np.ndarray:
    """The convolution; a bias rides in the GEMM (see `Lowering.columns`, planned with `ones`), and
    the epilogue runs on each chunk of the output while the GEMM has just left it in cache."""
    n_img, c = x.shape[:2]
    o, g = w.shape[0], low.geo.groups
    y = np.empty((n_img, o, *low.geo.out_size), x.dtype)
    wmat = w.reshape(g, o // g, -1)  # (G, O/G, C/G * prod(K))
    if b is not None:  # the bias meets the columns' row of ones
        wmat = np.concatenate([wmat, b.reshape(g, o // g, 1)], axis=2)

    def work(group, st):
        n0, n1 = group[:2]
        for r0, r1, cols in low.columns(x, group, st):
            if low.wide:  # one image's positions after another: a view per image
                cols = cols.reshape(g, -1, n1 - n0, cols.shape[-1] // (n1 - n0)).transpose(2, 0, 1, 3)
            np.matmul(wmat, cols, out=y[n0:n1, :, r0:r1].reshape(n1 - n0, g, o // g, -1))
            epilogue(y[n0:n1, :, r0:r1], (slice(n0, n1), slice(None), slice(r0, r1)))
    low.run(work, lambda: low.scratch(x.dtype))
    return y


def input_grad(low: Lowering, dy: np.ndarray, w: np.ndarray, flat: bool) -> np.ndarray:
    """dx = col2im(W^T dy): the adjoint of `forward` in x, i.e. the transposed convolution.
    With `flat`, the windows are added back as shifts of the flattened image (`flat_windows`)."""
    geo, g = low.geo, low.geo.groups
    n_img = dy.shape[0]
    o, cg = w.shape[:2]
    c = cg * g
    wt = w.reshape(g, o // g, -1).transpose(0, 2, 1)  # (G, C/G * prod(K), O/G)
    dx = np.empty((n_img, c, *geo.in_size), dy.dtype)
    dy = np.ascontiguousarray(dy)

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


def weight_grad(low: Lowering, x: np.ndarray, dy: np.ndarray, w_shape) -> np.ndarray:
    """dw[o, c, t] = sum over images and positions of dy[o, p] * cols[c, t, p]."""
    o, g = w_shape[0], low.geo.groups
    dy = np.ascontiguousarray(dy)

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
