"""Windows of stride-1 convolutions as shifted runs of the flattened, unpadded input.

When the stride is 1 and every spatial axis but the first keeps its size (3x3 with padding 1, any
'same' convolution), output cell q of an image reads input cell q + shift(tap) of the same
flattened image, for every tap. So one tap of a whole run of output rows is ONE contiguous run of
the input, and im2col copies long runs instead of short padded rows (measured: 2.5x faster for
32 x 14 x 14 maps, whose padded rows are 14 values long).

Reads that fall outside the image (padding, or wrapping into the next row, channel or image) take
whatever is there, and `clear_outside` then zeroes them: the copy never needs a padded input.
"""
from __future__ import annotations

import functools

import numpy as np

from ..geometry import WindowGeometry, window_cell
from ..windows import cell_steps, prod


def applies(geo: WindowGeometry, scatter: bool = False) -> bool:
    """Whether the windows are flat shifts; for `add_windows` also whether one tap never reaches
    the same cell twice (an image's run of output cells must not outgrow its input)."""
    return (all(s == 1 for s in geo.stride) and geo.out_size[1:] == geo.in_size[1:]
            and (not scatter or geo.out_size[0] <= geo.in_size[0]))


def _reach(geo: WindowGeometry) -> tuple[int, int]:
    """How far before and after an image's flattened cells its windows read."""
    steps = cell_steps(geo.in_size)
    return (sum(lo * s for (lo, _), s in zip(geo.pads, steps)),
            sum(hi * s for (_, hi), s in zip(geo.pads, steps)))


def source_items(geo: WindowGeometry, n: int, c: int) -> int:
    """Size of the flat source buffer for n images of c channels."""
    return n * c * prod(geo.in_size) + sum(_reach(geo))


def fill_source(buf: np.ndarray, x: np.ndarray, geo: WindowGeometry) -> None:
    """Copy the images x (n, C, *S) into `buf`, leaving room to read before and after them."""
    image(buf, *x.shape[:2], geo)[...] = x


def source(buf: np.ndarray, x: np.ndarray, n0: int, n1: int, geo: WindowGeometry) -> np.ndarray:
    """A flat array holding the images x[n0:n1] as `fill_source` lays them out.

    That is x's own memory (no copy) when x is contiguous and the room read before and after
    the images lies inside x (every chunk of images but the first and the last), else `buf`
    filled with a copy. What is read there is cleared from the windows anyway.
    """
    before, after = _reach(geo)
    size = prod(x.shape[1:])
    lo, hi = n0 * size - before, n1 * size + after
    if x.flags.c_contiguous and lo >= 0 and hi <= x.size:
        return x.reshape(-1)[lo:hi]
    fill_source(buf, x[n0:n1], geo)
    return buf


def image(buf: np.ndarray, n: int, c: int, geo: WindowGeometry) -> np.ndarray:
    """The images (n, C, *S) held in `buf` (a view)."""
    before = _reach(geo)[0]
    return buf[before: before + n * c * prod(geo.in_size)].reshape(n, c, *geo.in_size)


def flat_window(buf: np.ndarray, n: int, c: int, geo: WindowGeometry, r0: int, r1: int,
                writeable: bool = False) -> np.ndarray:
    """Zero-copy view (n, C, *K, r1 - r0, *S[1:]) of the windows of output rows r0:r1.

    Element [m, ch, *t, *o] is input cell o + t*d - pad_lo (o on the first axis counted from r0)
    where that lies inside the image, and an arbitrary cell of `buf` where it does not.
    """
    size, it = geo.in_size, buf.itemsize
    steps = cell_steps(size)
    start = r0 * steps[0]  # the room left before the images is exactly the low padding's reach
    shape = (n, c, *geo.kernel, r1 - r0, *size[1:])
    strides = (c * prod(size) * it, prod(size) * it, *(d * s * it for d, s in zip(geo.dilation, steps)),
               *(s * it for s in steps))
    view = np.ndarray(shape, buf.dtype, buf, start * it, strides)  # checked against buf's bounds
    view.flags.writeable = writeable
    return view


def add_windows(buf: np.ndarray, wins: np.ndarray, geo: WindowGeometry, r0: int) -> None:
    """col2im onto images held in `buf`: add each window entry of wins (n, C, *K, rows, *S[1:])
    onto the cell it was read from. Clears the entries that were read outside the image first
    (their cells are padding), so that they add nothing to the cells the view maps them to."""
    nsp = len(geo.kernel)
    rows = wins.shape[2 + nsp]
    clear_outside(wins, geo, r0, r0 + rows, tuple(range(2 + 2 * nsp)))
    target = flat_window(buf, *wins.shape[:2], geo, r0, r0 + rows, writeable=True)
    for t in np.ndindex(*geo.kernel):  # one tap's cells never collide (see `applies`), so += is exact
        target[(slice(None), slice(None), *t)] += wins[(slice(None), slice(None), *t)]


def clear_outside(win: np.ndarray, geo: WindowGeometry, r0: int, r1: int, order: tuple[int, ...],
                  lead: int = 2) -> None:
    """Zero the entries of copied windows `win` that read outside the image (see `outside`)."""
    for index in outside(geo, r0, r1, order, lead):
        win[index] = 0


@functools.lru_cache(maxsize=256)
def outside(geo: WindowGeometry, r0: int, r1: int, order: tuple[int, ...], lead: int = 2) -> tuple[tuple, ...]:
    """Index tuples of the window entries of output rows r0:r1 that read outside the image.

    For windows (*lead axes, *K, rows, *S[1:]), e.g. (n, C, ...) or (n, G, C/G, ...), with their
    axes permuted by `order`; cached because every chunk of a lowering asks for the same few.
    """
    nsp = len(geo.kernel)
    out = (r1 - r0, *geo.out_size[1:])
    found = []
    for a, (k, d, (lo, _), size) in enumerate(zip(geo.kernel, geo.dilation, geo.pads, geo.in_size)):
        for t in range(k):
            shift = window_cell(r0 if a == 0 else 0, t, 1, d, lo)  # input index = local output index + shift
            valid = (min(max(-shift, 0), out[a]), max(min(size - shift, out[a]), 0))
            for part in (slice(0, valid[0]), slice(valid[1], out[a])):
                if part.start < part.stop:
                    index = [slice(None)] * (lead + 2 * nsp)
                    index[lead + a], index[lead + nsp + a] = t, part
                    found.append(tuple(index[j] for j in order))
    return tuple(found)
