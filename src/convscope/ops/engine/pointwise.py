"""1x1 convolutions that map every input cell to the same output cell: plain batched matmuls."""
from __future__ import annotations

import numpy as np


def forward(x: np.ndarray, w: np.ndarray, groups: int) -> np.ndarray:
    n_img, c = x.shape[:2]
    o = w.shape[0]
    y = np.empty((n_img, o, *x.shape[2:]), x.dtype)
    wmat = w.reshape(groups, o // groups, -1)  # (G, O/G, C/G)
    np.matmul(wmat, x.reshape(n_img, groups, c // groups, -1), out=y.reshape(n_img, groups, o // groups, -1))
    return y


def input_grad(dy: np.ndarray, w: np.ndarray, groups: int) -> np.ndarray:
    n_img = dy.shape[0]
    o, cg = w.shape[:2]
    wt = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)  # (G, C/G, O/G)
    dy4 = np.ascontiguousarray(dy).reshape(n_img, groups, o // groups, -1)
    return np.matmul(wt, dy4).reshape(n_img, cg * groups, *dy.shape[2:])


def weight_grad(x: np.ndarray, dy: np.ndarray, w_shape, groups: int) -> np.ndarray:
    n_img, c = x.shape[:2]
    o = w_shape[0]
    cols = np.ascontiguousarray(x).reshape(n_img, groups, c // groups, -1)
    dy4 = np.ascontiguousarray(dy).reshape(n_img, groups, o // groups, -1)
    return np.matmul(dy4, cols.transpose(0, 1, 3, 2)).sum(0).reshape(w_shape)
