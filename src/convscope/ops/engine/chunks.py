"""Cutting a lowering's work into cache-sized chunks, and the scratch GEMM matrices they fill."""
from __future__ import annotations

import numpy as np

from ..geometry import ceil_div
from ..windows import prod
from .tuning import Tuning


def budget(result_bytes: int, tuning: Tuning) -> int:
    """Bytes of columns per chunk for an op whose result and weights take `result_bytes`: at most
    half of them, so that the columns keep the op's peak memory within 2x (result + weights).
    Counting the result alone cut deep layers (big weights, small outputs) into GEMMs of a few
    dozen columns: VGG's 512 -> 512 at 14x14, batch 2, ran 14-position chunks at 3.3x PyTorch."""
    return min(tuning.chunk_bytes, max(tuning.min_chunk_bytes, result_bytes // 2))


def plan_chunks(n_images: int, rows: int, row_bytes: int, budget: int):
    """Split the work into (n0, n1, r0, r1) blocks of about `budget` bytes of columns.

    Several whole images per block when an image is small; otherwise one image, cut into runs of
    output rows along the first spatial axis.
    """
    image_bytes = rows * row_bytes
    if image_bytes <= budget:
        step = balanced(n_images, max(1, budget // max(image_bytes, 1)))
        return [(n, min(n + step, n_images), 0, rows) for n in range(0, n_images, step)]
    step = balanced(rows, max(1, budget // max(row_bytes, 1)))
    return [(n, n + 1, r, min(r + step, rows)) for n in range(n_images) for r in range(0, rows, step)]


def balanced(total: int, step: int) -> int:
    """The step that splits `total` into as many pieces as `step` would, but of equal size
    (a small last piece makes a small, inefficient GEMM)."""
    return ceil_div(total, ceil_div(total, step))


def row_stride(width: int, itemsize: int, slack_bytes: int) -> int:
    """Items from one row of a scratch GEMM matrix `width` items wide to the next: rows that
    would lie a multiple of 2 KB apart get `slack_bytes` more (see `Tuning.row_slack_bytes`)."""
    return width + slack_bytes // itemsize if width * itemsize % 2048 == 0 else width


def scratch_matrix(buf: np.ndarray, lead, trail, slack_bytes: int) -> np.ndarray:
    """A writable view of `buf` shaped (*lead, *trail): a matrix of prod(lead) rows, each of
    prod(trail) contiguous items, with rows `row_stride` apart. `buf` needs room for the slack."""
    step = row_stride(prod(trail), buf.itemsize, slack_bytes) * buf.itemsize
    inner = [buf.itemsize * prod(trail[i + 1:]) for i in range(len(trail))]
    outer = [step * prod(lead[i + 1:]) for i in range(len(lead))]
    return np.ndarray((*lead, *trail), buf.dtype, buf, 0, (*outer, *inner))  # checked against buf's bounds
