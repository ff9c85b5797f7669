"""Windows of strided convolutions, read from the stride phases of the padded input.

A stride-s window view reads every s-th cell: short strided runs, which NumPy copies at about
half the speed of contiguous ones (measured: 200 against 107 us for a chunk of the 7x7/2 stem's
columns). Phase a of an axis holds the padded cells a, a + s, a + 2s, ...; writing tap t as
s*u + a, output o reads phase a at o + u. So after one split of the input into phases, every
tap reads contiguous runs, and all the taps of a kernel box whose extent is a multiple of s are
one strided view of the phases: a window copy takes at most 2 ** axes copies.

Axes with stride 1 have one phase (tap t reads o + t*d); a strided axis needs dilation 1.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..geometry import WindowGeometry, ceil_div
from ..windows import prod


def applies(geo: WindowGeometry, taps_per_phase: int) -> bool:
    """Whether the phases pay. The split is itself a strided copy of the input, so the kernel must
    have at least `taps_per_phase` taps per phase (see `Tuning.phase_taps`). Strided axes also
    need dilation 1."""
    return (any(s > 1 for s in geo.stride) and all(s == 1 or d == 1 for s, d in zip(geo.stride, geo.dilation))
            and prod(geo.kernel) >= taps_per_phase * prod(geo.stride))


def _phase_size(geo: WindowGeometry) -> tuple[int, ...]:
    return tuple(ceil_div(p, s) for p, s in zip(geo.padded_size, geo.stride))


def buffer(geo: WindowGeometry, n: int, c: int, dtype) -> np.ndarray:
    """Zeroed phases (n, *stride, C, *phase size) for n images. Only the cells that hold input are
    ever written, the same ones for every chunk, so the padding stays zero."""
    return np.zeros((n, *geo.stride, c, *_phase_size(geo)), dtype)


def split(buf: np.ndarray, x: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """Write the images x (n, C, *S) into their phases in `buf`; return the phases of these n."""
    planes = buf[: len(x)]
    for phase in itertools.product(*(range(s) for s in geo.stride)):
        dst, src = [], []
        for a, s, (lo, _), i in zip(phase, geo.stride, geo.pads, geo.in_size):
            first = ceil_div(lo - a, s) if lo > a else 0  # first phase cell that holds an input cell
            count = max(0, ceil_div(lo + i - a, s) - first)
            start = s * first + a - lo
            dst.append(slice(first, first + count))
            src.append(slice(start, start + s * (count - 1) + 1, s))
        if all(d.stop > d.start for d in dst):
            planes[(slice(None), *phase, slice(None), *dst)] = x[(slice(None), slice(None), *src)]
    return planes


def _pieces(geo: WindowGeometry):
    """Per axis, the runs of taps [lo, hi) that are each one (u, a) box: all taps when the kernel
    fits one phase or is a multiple of the stride, else the whole strides and the rest."""
    for k, s in zip(geo.kernel, geo.stride):
        whole = k // s * s
        yield [(0, k)] if s == 1 or k <= s or whole == k else [(0, whole), (whole, k)]


def copy_windows(dst: np.ndarray, planes: np.ndarray, geo: WindowGeometry, r0: int, groups: int) -> None:
    """Copy the windows of output rows r0:r0 + rows into dst (n, G, C/G, *K, rows, *S_out[1:])."""
    nsp = len(geo.kernel)
    n, c = planes.shape[0], planes.shape[1 + nsp]
    ph_st = planes.strides[1: 1 + nsp]
    c_st, cell_st = planes.strides[1 + nsp], planes.strides[2 + nsp:]
    rows = dst.shape[3 + nsp]
    for box in itertools.product(*_pieces(geo)):
        shape, strides, offset = [n, groups, c // groups], [planes.strides[0], c // groups * c_st, c_st], 0
        for (lo, hi), s, d, p, cs in zip(box, geo.stride, geo.dilation, ph_st, cell_st):
            if s == 1:  # tap t reads cell o + t*d
                shape.append(hi - lo), strides.append(d * cs)
                offset += lo * d * cs
            else:  # tap t = s*u + a reads phase a at o + u
                na = min(s, hi - lo)
                shape += [(hi - lo) // na, na]
                strides += [cs, p]
                offset += lo // s * cs  # lo is a whole number of strides
        target = dst[(slice(None),) * 3 + tuple(slice(lo, hi) for lo, hi in box)]
        out = target.reshape(*shape, *target.shape[3 + nsp:])  # each strided tap axis split in (u, a)
        assert np.may_share_memory(out, dst), "a box of taps must be a view of the columns"
        shape += [rows, *dst.shape[4 + nsp:]]
        strides += list(cell_st)
        offset += r0 * cell_st[0]
        np.copyto(out, np.ndarray(tuple(shape), planes.dtype, planes, offset, tuple(strides)))  # bounds-checked
