"""Every tuning constant of the fast paths, in one frozen record.

The engine reads `current()` when it plans an op; `override(...)` swaps in other values inside a
block (tests force the chunked and threaded paths on tiny inputs this way). Plans are cached per
`Tuning` value, so an override never meets a plan made under other settings.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os

# Bytes of output a step works on before its next pass (a pointwise conv's bias and epilogue after
# its matmul, an eval-mode BatchNorm's scale, shift and ReLU): about one core's L2 cache (512 KB
# here), so each pass finds the previous one's output still in cache.
CHUNK_BYTES = 1 << 19


@dataclasses.dataclass(frozen=True)
class Tuning:
    # Working-set size of one chunk of im2col columns. Big enough that each GEMM keeps both BLAS
    # threads busy (measured: 4 MB chunks beat 1 MB ones by 15-25% end to end), small enough to
    # sit in L3 while the GEMM reads it back; never above half the result and weights (see
    # `chunks.budget`), so that a forward's peak extra memory stays within 2x (output + weights).
    chunk_bytes: int = 4 << 20
    min_chunk_bytes: int = 256 << 10
    # OpenBLAS packs a GEMM operand about 1.4x slower when its rows lie a multiple of 2 KB apart
    # (they compete for the same cache sets; measured on (32 x 144) x (144 x 2048), 63 against
    # 90 GFLOP/s on one thread). Scratch matrices get this much slack per row instead.
    row_slack_bytes: int = 64
    # Below this many bytes of columns, two threads cost more than they overlap (measured: the
    # digits and first-MNIST-layer cases, 0.6 and 1.8 MB, got 1.5-2x slower threaded).
    parallel_bytes: int = 8 << 20
    # Depthwise blocks of (image, channel) planes: small enough to stay in cache across the taps.
    depthwise_block_bytes: int = 1 << 20
    # Phase windows pay from this many kernel taps per stride phase (measured on one thread: the
    # 7x7/2 stem's columns 2.7 -> 2.0 ms, its split taking 0.5; 3x3/2's 2.0 -> 2.6 ms).
    phase_taps: int = 4
    # Stride-1 convolutions with at most this many output channels and at least `tap_stack_min_in`
    # input channels stack their taps into one GEMM (`tap_stack`; measured with 32 out, 128 in:
    # 1.4x faster than im2col on one thread; with 64 out, 1.2x slower).
    tap_stack_out: int = 32
    tap_stack_min_in: int = 64
    # Winograd for 3x3 stride-1 convolutions (`winograd.choose`): F(m x m, 3 x 3) for these m, where
    # m divides the output's sizes. Measured single-threaded (thread time, Xeon), against the
    # lowering: 64 -> 64 at 56x56, batch 8, F(4x4) 16.7 against 25-33 ms, F(2x2) 20-25; 128 -> 128
    # at 28x28, batch 8, F(4x4) 12 against 13-20; 256 -> 256 at 14x14, F(2x2) 18-22 against 19.
    # F(2x2) gains too little over the lowering to bet on it on another CPU; tests allow it.
    winograd_tiles: tuple[int, ...] = (4,)
    # ... with at least this many channels in and out: fewer make GEMMs too thin to run near
    # BLAS's peak (32 -> 64 at 14x14, batch 64: F(4x4) 7.2, F(2x2) 5.9, lowering 6.0 ms) ...
    winograd_min_channels: int = 64
    # ... and at least this many tiles in all: the weights are transformed on every call,
    # (a*a) * C * O values, which fewer tiles do not pay for (512 -> 512 at 14x14, batch 2, 32
    # F(4x4) tiles: 64 against the lowering's 20 ms; 128 -> 128 at 16x16, batch 32, 512 tiles:
    # 17.4 against 18).
    winograd_min_tiles: int = 256
    # ... or this many where the caller supplies the transformed weights (an eval plan's
    # convolution transforms its weights once): the transforms of the input and output then
    # carry the whole overhead (measured per layer, docs/performance.md's Winograd section: 196
    # tiles gain 1.8x over the lowering, 49-98 tiles of 512 channels none).
    winograd_min_tiles_cached: int = 128
    # Scratch of a Winograd op (all threads' chunks), at most twice its output and transformed
    # weights: GEMMs of a few dozen tiles per point run far from peak (128 -> 128 at 28x28, batch
    # 8, two threads: 59-66 ms with 2-4 MB, 35 with 8 (a chunk per image), 58 with 16; 64 -> 64
    # at 56x56: 85 with 4, 96 with 8; the lowering 105 and 127; measured together under a load
    # of 12 on the 2 cores).
    winograd_chunk_bytes: int = 8 << 20
    # Threads for the lowering and the depthwise blocks; None: CONVSCOPE_NUM_THREADS, else the CPUs.
    threads: int | None = None
    # Compiled kernels (numba, when installed) for the depthwise convolutions; False runs the NumPy
    # path, which is the fallback without numba (tests run both).
    compiled: bool = True
    # Compiled depthwise forwards with output rows shorter than this many cells run several rows
    # as one loop, over at most `depthwise_merge_cells` cells (see `depthwise._Layout`).
    depthwise_merge_below: int = 64
    depthwise_merge_cells: int = 2048


_current = Tuning()


def current() -> Tuning:
    return _current


@contextlib.contextmanager
def override(**changes):
    """Run the block with some tuning values changed, e.g. ``override(chunk_bytes=1)``."""
    global _current
    saved = _current
    _current = dataclasses.replace(saved, **changes)
    try:
        yield _current
    finally:
        _current = saved


def num_threads() -> int:
    if _current.threads is not None:
        return max(1, _current.threads)
    setting = os.environ.get("CONVSCOPE_NUM_THREADS")
    return max(1, int(setting) if setting else _cpus())


@functools.cache
def _cpus() -> int:
    """The number of CPUs, read once: os.cpu_count() reads a file (about 7 us a call)."""
    return os.cpu_count() or 1
