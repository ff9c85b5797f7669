"""The one place that chooses how a convolution, its gradients and its transpose are computed.

- 1x1 kernels with stride 1 and no padding: one batched matmul, no copies (`pointwise`);
- depthwise (one input channel per group): shifted-slice accumulation over the taps (`depthwise`);
- stride-1 forwards with few output channels and many input channels: one GEMM of the stacked
  taps' weights by the padded image, then shifted sums (`tap_stack`);
- 3x3 stride-1 2-D convolutions with enough channels and tiles, forwards and both gradients:
  Winograd's F(2x2, 3x3) or F(4x4, 3x3) (`winograd`), GEMMs over channels at a quarter to half
  of im2col's multiplies;
- everything else: im2col into reused, cache-sized buffers of columns and one GEMM per chunk
  (`lowering`), the columns copied from flat shifts of the unpadded input (stride 1, every axis
  but the first keeping its size: `flat_windows`), from the stride phases of the input (strided
  kernels with enough taps per phase: `phase_windows`), or from views of a padded copy.
The chunk budgets, thresholds and thread counts come from `tuning.current()`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..geometry import WindowGeometry
from ..windows import prod
from . import depthwise, flat_windows, lowering, phase_windows, pointwise, tap_stack, winograd
from .chunks import budget
from .epilogue import NONE, Epilogue
from .tuning import Tuning, current, num_threads

DIRECTIONS = ("forward", "input_grad", "weight_grad")


@dataclass(frozen=True)
class Plan:
    """How one op runs: `path` is 'empty' (nothing to compute: zeros), 'pointwise', 'depthwise',
    'taps' (a forward with few output channels, `tap_stack`), 'winograd' or 'lowering'; a
    lowering's `windows` are 'flat', 'phase' or 'padded', and `lowering` holds its chunks and
    threads, `winograd` the tiles, chunks and threads of a Winograd plan."""
    path: str
    windows: str | None = None
    lowering: lowering.Lowering | None = None
    winograd: winograd.Winograd | None = None


def plan(geo: WindowGeometry, w_shape, n_img: int, itemsize: int, direction: str = "forward",
         bias: bool = False, cached: bool = False) -> Plan:
    """The plan for a conv of weight (O, C/groups, *K) over n_img images: its forward, its
    input gradient (the transposed conv) or its weight gradient. With `bias`, a forward
    lowering gives its columns a row of ones for the bias column of the weight. With `cached`, a
    forward's caller supplies Winograd's transformed weights, which lowers Winograd's threshold."""
    assert direction in DIRECTIONS, direction
    if n_img == 0 or w_shape[0] == 0 or w_shape[1] == 0:  # no images, or no channels to sum over: all zeros
        return _EMPTY
    if geo.groups > 1 and w_shape[1] == 1:
        return _DEPTHWISE
    if all(k == 1 for k in geo.kernel) and geo.in_size == geo.out_size and not any(
            lo or hi for lo, hi in geo.pads):
        return _POINTWISE
    tuning = current()
    if direction == "forward" and tap_stack.applies(geo, w_shape, tuning.tap_stack_out, tuning.tap_stack_min_in):
        return _TAPS
    p = _winograd(geo, tuple(w_shape), n_img, itemsize, direction, tuning, num_threads(),
                  cached and direction == "forward")
    if p is not None:
        return p
    return _lowering(geo, tuple(w_shape), n_img, itemsize, direction, bias, tuning, num_threads())


_EMPTY, _DEPTHWISE, _POINTWISE, _TAPS = Plan("empty"), Plan("depthwise"), Plan("pointwise"), Plan("taps")


# Planning a lowering takes about 50 us, a noticeable part of a small conv, and a model asks for
# the same few plans again and again.
@functools.lru_cache(maxsize=256)
def _lowering(geo: WindowGeometry, w_shape, n_img: int, itemsize: int, direction: str, bias: bool,
              tuning: Tuning, threads: int) -> Plan:
    o, c = w_shape[0], w_shape[1] * geo.groups
    if direction == "input_grad":  # col2im adds flat shifts only where one tap never meets a cell twice
        windows = "flat" if flat_windows.applies(geo, scatter=True) else "padded"
    else:
        windows = ("flat" if flat_windows.applies(geo) else
                   "phase" if phase_windows.applies(geo, tuning.phase_taps) else "padded")
    result = (c * prod(geo.in_size) if direction == "input_grad" else o * prod(geo.out_size)) * n_img * itemsize
    columns = n_img * c * prod(geo.kernel) * prod(geo.out_size) * itemsize  # all columns of the op
    weights = prod(w_shape) * itemsize  # deep layers: small outputs, big weights (VGG's 512 -> 512 at 14x14)
    low = lowering.Lowering(geo, n_img, c, o, itemsize, budget(result + weights, tuning),
                            threads if columns >= tuning.parallel_bytes else 1, bias, windows,
                            tuning.row_slack_bytes)
    return Plan("lowering", windows, low)


@functools.lru_cache(maxsize=256)
def _winograd(geo: WindowGeometry, w_shape, n_img: int, itemsize: int, direction: str, tuning: Tuning,
              threads: int, cached: bool = False) -> Plan | None:
    """A Winograd plan where it pays (`tuning`'s rule), else None; the input gradient is planned as
    the forward of the transposed convolution of dy, the weight gradient as the forward's tiles."""
    o, c = w_shape[0], w_shape[1] * geo.groups
    if direction == "input_grad":
        if not winograd.transposed_applies(geo):
            return None
        geo, o, c = winograd.transposed(geo), c, o
    m = winograd.choose(geo, c, o, n_img, tuning, cached)
    if m is None:
        return None
    v = winograd.VARIANTS[m]
    result = (n_img * o * prod(geo.out_size) + v.a * v.a * c * o) * itemsize  # the output and U
    work = n_img * c * 9 * prod(geo.out_size) * itemsize  # as the lowering counts its columns
    scratch = min(tuning.winograd_chunk_bytes, max(tuning.min_chunk_bytes, 2 * result))
    return Plan("winograd", winograd=winograd.Winograd(
        geo, n_img, c, o, itemsize, m, scratch,
        threads if work >= tuning.parallel_bytes else 1))


def _add_bias(y: np.ndarray, b) -> np.ndarray:
    if b is not None:
        y += b.reshape(1, -1, *([1] * (y.ndim - 2)))
    return y


def forward(x: np.ndarray, w: np.ndarray, geo: WindowGeometry, b=None, epilogue: Epilogue = NONE,
            transform=None) -> np.ndarray:
    """epilogue(conv(x, w) + b), for arrays already checked against `geo`; the epilogue (a residual
    added, a ReLU) runs on each chunk of the output right after its GEMM, where the paths chunk.
    `transform(m)`, where given, returns w's Winograd `weight_transform` for F(m x m, 3 x 3) from a
    cache the caller keeps (valid as long as w is): the planner then takes Winograd from fewer tiles."""
    p = plan(geo, w.shape, x.shape[0], x.itemsize, "forward", b is not None, transform is not None)
    if p.path == "lowering":
        return lowering.forward(p.lowering, x, w, b, epilogue)
    if p.path == "winograd":
        u = transform(p.winograd.v.m) if transform is not None else None
        return winograd.forward(p.winograd, x, w, b, epilogue, u)
    if p.path == "pointwise":
        return pointwise.forward(x, w, geo.groups, b, epilogue)
    if p.path == "taps":
        tuning = current()
        threads = num_threads() if x.nbytes * prod(geo.kernel) >= tuning.parallel_bytes else 1  # ~ im2col's columns
        return tap_stack.forward(x, w, geo, b, epilogue, tuning.chunk_bytes // 4, threads)
    if p.path == "empty":
        y = _add_bias(np.zeros((len(x), len(w), *geo.out_size), x.dtype), b)
    else:
        y = _add_bias(depthwise.forward(x, w, geo), b)
    epilogue(y)
    return y


def input_grad(dy: np.ndarray, w: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """The adjoint of `forward` in x: the transposed convolution of dy."""
    p = plan(geo, w.shape, dy.shape[0], dy.itemsize, "input_grad")
    if p.path == "empty":
        return np.zeros((len(dy), w.shape[1] * geo.groups, *geo.in_size), dy.dtype)
    if p.path == "depthwise":
        return depthwise.input_grad(dy, w, geo)
    if p.path == "pointwise":
        return pointwise.input_grad(dy, w, geo.groups)
    if p.path == "winograd":
        return winograd.input_grad(p.winograd, dy, w)
    return lowering.input_grad(p.lowering, dy, w, flat=p.windows == "flat")


def weight_grad(x: np.ndarray, dy: np.ndarray, geo: WindowGeometry, w_shape) -> np.ndarray:
    """The gradient of `forward` in w for the upstream gradient dy."""
    p = plan(geo, w_shape, x.shape[0], x.itemsize, "weight_grad")
    if p.path == "empty":
        return np.zeros(w_shape, x.dtype)
    if p.path == "depthwise":
        return depthwise.weight_grad(x, dy, geo, w_shape)
    if p.path == "pointwise":
        return pointwise.weight_grad(x, dy, w_shape, geo.groups)
    if p.path == "winograd":
        return winograd.weight_grad(p.winograd, x, dy)
    return lowering.weight_grad(p.lowering, x, dy, w_shape)
