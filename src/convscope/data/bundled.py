"""Data sets generated or shipped with installed packages (no network)."""
from __future__ import annotations

import functools

import numpy as np


def _split(x, y, test_fraction: float, seed: int):
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


@functools.lru_cache(maxsize=None)
def _digits_arrays():
    from sklearn.datasets import load_digits  # bundled with scikit-learn: 1797 8x8 images

    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)


def digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 8x8 handwritten digits: (N, 1, 8, 8), 1438 train / 359 test with the defaults."""
    x, y = _digits_arrays()
    return tuple(a.copy() for a in _split(x, y, test_fraction, seed))


def translated_digits(canvas: int = 16, seed: int = 0, test_fraction: float = 0.2):
    """Each 8x8 digit pasted at a random position on a blank canvas x canvas image.

    The lecture's claim "a small 8 anywhere in the image is still an 8" made testable: a
    convolutional net with pooling should keep its accuracy, a dense net should lose some.
    """
    if canvas < 8:
        raise ValueError(f"translated_digits: canvas {canvas} must be at least the digit size 8")
    x, y = _digits_arrays()
    rng = np.random.default_rng(seed)
    out = np.zeros((len(x), 1, canvas, canvas), np.float32)
    rows, cols = rng.integers(0, canvas - 7, len(x)), rng.integers(0, canvas - 7, len(x))
    for i, (r, c) in enumerate(zip(rows, cols)):
        out[i, 0, r:r + 8, c:c + 8] = x[i, 0]
    return _split(out, y, test_fraction, seed)


@functools.lru_cache(maxsize=None)
def _mnist1d_arrays(seed: int):
    import random

    from mnist1d.data import get_dataset_args, make_dataset  # the benchmark's own generator

    args = get_dataset_args()
    args.seed = seed
    saved = np.random.get_state(), random.getstate()  # the generator seeds the global RNGs: restore them
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(saved[0])
        random.setstate(saved[1])
    to_x = lambda a: np.asarray(a, np.float32)[:, None, :]  # noqa: E731
    return to_x(d["x"]), np.asarray(d["y"], np.int64), to_x(d["x_test"]), np.asarray(d["y_test"], np.int64)


def mnist1d(seed: int = 42):
    """MNIST-1D (Greydanus 2020), generated procedurally: (N, 1, 40), 4000 train / 1000 test."""
    return tuple(a.copy() for a in _mnist1d_arrays(seed))


# the bundled sets by name (`convscope train --data NAME`)
DATASETS = {"digits": digits, "mnist1d": mnist1d, "translated_digits": translated_digits}
