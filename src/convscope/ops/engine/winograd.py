"""3x3 stride-1 convolutions by Winograd's minimal filtering F(m x m, 3 x 3) (Lavin & Gray, 2015).

A tile of (m + 2) x (m + 2) input cells gives m x m outputs as A^T [(G g G^T) * (B^T d B)] A: the
input tile d and the kernel g are carried into a space of a = m + 2 points per axis where the
correlation becomes an elementwise product, and A^T brings the product back. Summed over input
channels, the product at each of the a x a points is a matrix product: (O x C) transformed weights
times (C x tiles) transformed inputs. So a convolution becomes a x a GEMMs with the channels as
their inner dimension, with a^2 / (9 m^2) of im2col's multiplies: F(2x2, 3x3) 2.25x fewer,
F(4x4, 3x3) 4x fewer. The price: the transforms (over a^2 / m^2 times the input and output) and
rounding, since B, G and A are not orthogonal (F(4x4, 3x3) in float32 adds about 1e-5 of the
output's scale per layer; see docs/performance.md).

Work runs in chunks of whole tile rows of a few images, each through scratch buffers within the
budget the planner gives (`tuning.winograd_chunk_bytes`), on the engine's threads when big enough.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..geometry import WindowGeometry, ceil_div
from ..windows import prod
from . import parallel
from .chunks import plan_chunks
from .epilogue import NONE, Epilogue


@dataclass(frozen=True, eq=False)
class Variant:
    """F(m x m, 3 x 3): B^T (a x a) carries input tiles, G (a x 3) kernels, A^T (m x a) brings back."""
    m: int
    bt: np.ndarray
    g: np.ndarray
    at: np.ndarray

    @property
    def a(self) -> int:
        return self.m + 2


# Points 0, 1, -1 and infinity (Lavin & Gray's F(2, 3)).
F2 = Variant(2, np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float),
             np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]]),
             np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float))
# Points 0, 1, -1, 2, -2 and infinity (Lavin & Gray's F(4, 3)).
F4 = Variant(4, np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                          [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float),
             np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                       [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
             np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], float))
VARIANTS = {2: F2, 4: F4}


def applies(geo: WindowGeometry) -> bool:
    """2-D, a 3x3 kernel, stride 1, no dilation."""
    return (len(geo.kernel) == 2 and geo.kernel == (3, 3) and geo.stride == (1, 1)
            and geo.dilation == (1, 1))


def choose(geo: WindowGeometry, c: int, o: int, n_img: int, tuning, cached: bool = False) -> int | None:
    """m of the F(m x m, 3 x 3) to run a forward with, or None where the lowering is the better bet.

    Winograd needs GEMMs with enough channels to run near BLAS's peak, and enough tiles to pay for
    transforming the weights on every call (fewer where they come `cached`). The largest m allowed
    whose tiles cover the output exactly: tiles reaching past it compute cells that are thrown away.
    """
    if not applies(geo) or geo.groups != 1 or min(c, o) < tuning.winograd_min_channels:
        return None
    m = next((m for m in sorted(tuning.winograd_tiles, reverse=True)
              if all(s % m == 0 for s in geo.out_size)), None)
    least = tuning.winograd_min_tiles_cached if cached else tuning.winograd_min_tiles
    if m is None or n_img * prod(s // m for s in geo.out_size) < least:
        return None
    return m


def transposed_applies(geo: WindowGeometry) -> bool:
    """Whether the input gradient is itself such a convolution of dy: padding 2 - p per side
    needs p <= 2 (more would crop dy, which the tiles do not do)."""
    return applies(geo) and all(lo <= 2 and hi <= 2 for lo, hi in geo.pads)


def transposed(geo: WindowGeometry) -> WindowGeometry:
    """The geometry of dx = conv(dy, flipped transposed w): padding 2 - p per side maps dy's
    out_size back to in_size."""
    return WindowGeometry(geo.out_size, geo.kernel, geo.stride, geo.dilation,
                          tuple((2 - lo, 2 - hi) for lo, hi in geo.pads), geo.in_size, geo.groups)


def transposed_weight(w: np.ndarray, groups: int) -> np.ndarray:
    """(O, C/G, 3, 3) -> (C, O/G, 3, 3), each kernel flipped: the weight of the transposed conv."""
    o, cg = w.shape[:2]
    wt = w.reshape(groups, o // groups, cg, 3, 3).swapaxes(1, 2)[..., ::-1, ::-1]
    return wt.reshape(groups * cg, o // groups, 3, 3)


def weight_transform(w: np.ndarray, v: Variant, groups: int) -> np.ndarray:
    """U = G g G^T for every kernel, as (a*a, G, C/G, O/G): one GEMM's right matrix per point.
    One GEMM with kron(G, G) in w's dtype (its entries 1/6, 1/24, ... round by half an ulp)."""
    o, cg = w.shape[:2]
    taps = np.ascontiguousarray(w.reshape(groups, o // groups, cg, 9).transpose(3, 0, 2, 1))  # (9, G, C/G, O/G)
    u = _kron(v.m, w.dtype)[2] @ taps.reshape(9, -1)  # (a*a, G * C/G * O/G)
    return u.reshape(v.a * v.a, groups, cg, o // groups)


@functools.cache
def _kron(m: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B^T, A^T and G of both axes at once: kron(B^T, B^T) (a*a x a*a), kron(A^T, A^T) (m*m x a*a)
    and kron(G, G) (a*a x 9), a tile's transforms as one GEMM each over all tiles and channels
    (B's and A's entries are small integers, exact in any float type)."""
    v = VARIANTS[m]
    return tuple(np.kron(t, t).astype(dtype) for t in (v.bt, v.at, v.g))


def take(buf: np.ndarray, shape) -> np.ndarray:
    """The first items of the flat scratch `buf` as a contiguous array of `shape`."""
    return buf[: prod(shape)].reshape(shape)


class Winograd:
    """One convolution's Winograd plan: variant, tiles, chunks (images n0:n1, tile rows t0:t1)
    and threads.

    A chunk runs channels-last, so that gathering the overlapping tiles and scattering their
    outputs copy runs of channels rather than of every m-th cell: the padded source (n, rows, W, C),
    its tiles D (a*a, tiles, C), V = kron(B^T, B^T) D, M = V U per point, Y = kron(A^T, A^T) M
    (m*m, tiles, O), scattered into the channels-first output.
    """

    def __init__(self, geo: WindowGeometry, n_img: int, c: int, o: int, itemsize: int, m: int,
                 budget: int, threads: int):
        self.geo, self.v, self.c, self.o, self.threads = geo, VARIANTS[m], c, o, threads
        self.tiles = tuple(ceil_div(s, m) for s in geo.out_size)  # the last tile may reach past the output
        self.src_w = self.tiles[1] * m + 2  # padded source width the tiles read
        self.chunks = plan_chunks(n_img, self.tiles[0], self.scratch_items(1, 1) * itemsize,
                                  max(budget // threads, 1))
        self.n_max = max(n1 - n0 for n0, n1, _, _ in self.chunks)
        self.rows_max = max(t1 - t0 for _, _, t0, t1 in self.chunks)

    def shapes(self, n: int, rows: int) -> dict:
        """Scratch arrays' shapes for n images of `rows` tile rows: the padded source, the tiles D,
        V, M and Y (which takes D's place: D is read by then)."""
        v, tw, c, o = self.v, self.tiles[1], self.c, self.o
        m, a, t = v.m, v.a, n * rows * tw
        return {"src": (n, rows * m + 2, self.src_w, c), "D": (a * a, t, max(c, o * m * m // (a * a) + 1)),
                "V": (a * a, t, c), "M": (a * a, t, o)}

    def scratch_items(self, n: int, rows: int) -> int:
        return sum(prod(s) for s in self.shapes(n, rows).values())

    def scratch(self, dtype) -> dict:
        return {k: np.empty(prod(s), dtype) for k, s in self.shapes(self.n_max, self.rows_max).items()}

    def run(self, work, scratch, dynamic: bool = True) -> list:
        """work(chunk, state) for every chunk, on the threads when planned so; the states
        (see `parallel.run_blocks` for `dynamic`)."""
        if len(self.chunks) < 2 or self.threads < 2:
            st = scratch()
            for chunk in self.chunks:
                work(chunk, st)
            return [st]
        with parallel.single_threaded_blas():
            return parallel.run_blocks(self.chunks, work, scratch, dynamic=dynamic)

    def source(self, x: np.ndarray, chunk, buf: np.ndarray) -> np.ndarray:
        """The padded input cells that tile rows t0:t1 of images n0:n1 read, channels-last, zero
        outside the image."""
        n0, n1, t0, t1 = chunk
        m, (plo, _), (qlo, _) = self.v.m, *self.geo.pads
        h, w = self.geo.in_size
        src = take(buf, self.shapes(n1 - n0, t1 - t0)["src"])
        lo = t0 * m - plo  # input row of the source's first row (may lie outside)
        a, b = max(lo, 0), min(lo + src.shape[1], h)
        src[:, : a - lo] = 0
        src[:, b - lo:] = 0
        src[:, a - lo: b - lo, :qlo] = 0
        src[:, a - lo: b - lo, qlo + w:] = 0
        src[:, a - lo: b - lo, qlo: qlo + w] = x[n0:n1, :, a:b].transpose(0, 2, 3, 1)
        return src

    def transform_input(self, src: np.ndarray, st: dict, rows: int) -> np.ndarray:
        """V (a*a, tiles, C) = B^T d B for every tile of `src`, tiles ordered (image, row, column)."""
        n, tw, c, (m, a) = len(src), self.tiles[1], self.c, (self.v.m, self.v.a)
        t = n * rows * tw
        s = src.strides
        tiles = np.ndarray((a, a, n, rows, tw, c), src.dtype, src, 0,
                           (s[1], s[2], s[0], m * s[1], m * s[2], s[3]))  # checked against src's bounds
        d = take(st["D"], (a * a, t, c))
        np.copyto(d.reshape(tiles.shape), tiles)
        vv = take(st["V"], (a * a, t, c))
        np.matmul(_kron(m, src.dtype)[0], d.reshape(a * a, -1), out=vv.reshape(a * a, -1))
        return vv

    def transform_output(self, mm: np.ndarray, st: dict) -> np.ndarray:
        """Y (m*m, tiles, O) = A^T M A for every tile, from M (a*a, tiles, O)."""
        m, a, t = self.v.m, self.v.a, mm.shape[1]
        y = take(st["D"], (m * m, t, self.o))
        np.matmul(_kron(m, mm.dtype)[1], mm.reshape(a * a, -1), out=y.reshape(m * m, -1))
        return y

    def cells(self, chunk):
        """(i, j, rows, cols): for each of a tile's m*m output cells, the output rows and columns
        it covers in the chunk (the last tiles may reach past the output: cut)."""
        n0, n1, t0, t1 = chunk
        m, (ho, wo) = self.v.m, self.geo.out_size
        for i in range(m):
            for j in range(m):
                yield i, j, range(t0 * m + i, min(t1 * m, ho), m), range(j, wo, m)

    def gather(self, dy: np.ndarray, chunk, buf: np.ndarray) -> np.ndarray:
        """The chunk's output cells of dy (N, O, *S_out) as tiles (m*m, tiles, O), the inverse of
        `scatter`; zero past the output."""
        n0, n1, t0, t1 = chunk
        m, tw = self.v.m, self.tiles[1]
        tiles = take(buf, (m * m, (n1 - n0) * (t1 - t0) * tw, self.o))
        tv = tiles.reshape(m, m, n1 - n0, t1 - t0, tw, self.o)
        for i, j, rows, cols in self.cells(chunk):
            tv[i, j, :, len(rows):] = 0
            tv[i, j, :, : len(rows), len(cols):] = 0
            np.copyto(tv[i, j, :, : len(rows), : len(cols)],
                      dy[n0:n1, :, rows.start: rows.stop: m, j:: m].transpose(0, 2, 3, 1))
        return tiles

    def scatter(self, tiles: np.ndarray, y: np.ndarray, chunk) -> None:
        """Write the tiles' outputs (m*m, tiles, O) into y, the channels-first output, each of the
        m*m cells of a tile a strided view (the last tiles may reach past the output: cut)."""
        n0, n1, t0, t1 = chunk
        m, tw = self.v.m, self.tiles[1]
        tv = tiles.reshape(m, m, n1 - n0, t1 - t0, tw, self.o)
        for i, j, rows, cols in self.cells(chunk):
            target = y[n0:n1, :, rows.start: rows.stop: m, j:: m]  # (n, O, rows, cols)
            np.copyto(target, tv[i, j, :, : len(rows), : len(cols)].transpose(0, 3, 1, 2))


def forward(plan: Winograd, x: np.ndarray, w: np.ndarray, b=None, epilogue: Epilogue = NONE,
            u: np.ndarray | None = None) -> np.ndarray:
    """epilogue(conv(x, w) + b) by Winograd tiles; `u` is w's `weight_transform` if already made."""
    geo, g = plan.geo, plan.geo.groups
    n_img, o = len(x), w.shape[0]
    m, a, c = plan.v.m, plan.v.a, plan.c
    u = weight_transform(w, plan.v, g) if u is None else u
    y = np.empty((n_img, o, *geo.out_size), x.dtype)

    def work(chunk, st):
        n0, n1, t0, t1 = chunk
        vv = plan.transform_input(plan.source(x, chunk, st["src"]), st, t1 - t0)
        t = vv.shape[1]
        mm = take(st["M"], (a * a, t, o))
        # per point and group: (tiles x C/G) times (C/G x O/G), channels-last on both sides
        np.matmul(vv.reshape(a * a, t, g, c // g).transpose(0, 2, 1, 3), u,
                  out=mm.reshape(a * a, t, g, o // g).transpose(0, 2, 1, 3))
        tiles = plan.transform_output(mm, st)
        if b is not None:
            np.add(tiles, b, out=tiles)
        plan.scatter(tiles, y, chunk)
        r0, r1 = t0 * m, min(t1 * m, geo.out_size[0])
        epilogue(y[n0:n1, :, r0:r1], (slice(n0, n1), slice(None), slice(r0, r1)))

    plan.run(work, lambda: plan.scratch(x.dtype))
    return y


def input_grad(plan: Winograd, dy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dx: the forward of `plan` (planned on `transposed(geo)`) applied to dy with the flipped,
    transposed weight."""
    return forward(plan, dy, transposed_weight(w, plan.geo.groups))


def weight_grad(plan: Winograd, x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dw: the gradient of `forward` in w (groups = 1).

    A tile's output A^T [U * V] A is bilinear in U and V, so the gradient of <tile, dy_tile> in
    U is (A dy_tile A^T) * V, pointwise; summed over the tiles it is one GEMM per point, with the
    tiles as its inner dimension: dU_p (O x C) = dM_p^T V_p. Then dw = G^T dU G per kernel.
    Partial sums per thread, each thread taking fixed chunks, so that the result never depends
    on timing.
    """
    m, a, c, o = plan.v.m, plan.v.a, plan.c, plan.o
    at_kron, g_kron = _kron(m, x.dtype)[1:]

    def scratch():
        st = plan.scratch(x.dtype)
        st["dU"], st["part"] = np.zeros((a * a, o, c), x.dtype), np.empty((a * a, o, c), x.dtype)
        return st

    def work(chunk, st):
        vv = plan.transform_input(plan.source(x, chunk, st["src"]), st, chunk[3] - chunk[2])
        t = vv.shape[1]
        tiles = plan.gather(dy, chunk, st["D"])  # the tiles of the input are read by now
        dm = take(st["M"], (a * a, t, o))
        np.matmul(at_kron.T, tiles.reshape(m * m, -1), out=dm.reshape(a * a, -1))
        np.matmul(dm.transpose(0, 2, 1), vv, out=st["part"])
        st["dU"] += st["part"]

    du = sum(st["dU"] for st in plan.run(work, scratch, dynamic=False))
    dw = g_kron.T @ du.reshape(a * a, -1)  # (9, O * C)
    return np.ascontiguousarray(dw.reshape(3, 3, o, c).transpose(2, 3, 0, 1))
