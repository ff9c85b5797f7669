"""The lecture's worked examples, computed (not typed in) so every number is checked."""
from __future__ import annotations

import numpy as np

from . import ops


def matrix_example(dtype=np.float64) -> dict:
    """Convolution as matrix multiplication: a 4x4 input, a 3x3 kernel, the 2x2 output, the 4x16 C.

    Returns the arrays and the two checks: ``C @ x.ravel()`` equals the convolution and
    ``C.T @ y.ravel()`` equals the transposed convolution of y with the same kernel.
    """
    x = np.arange(16, dtype=dtype).reshape(1, 1, 4, 4)
    w = np.arange(1, 10, dtype=dtype).reshape(1, 1, 3, 3)
    y = ops.conv(x, w)  # (1, 1, 2, 2)
    c = ops.conv_matrix(x.shape[1:], w)  # (4, 16)
    back = ops.conv_transpose(y, w)  # (1, 1, 4, 4)
    return {
        "x": x[0, 0], "w": w[0, 0], "y": y[0, 0], "C": c,
        "C_x": c @ x.ravel(), "CT_y": c.T @ y.ravel(), "conv_transpose_y": back[0, 0],
        "forward_matches": bool(np.allclose(c @ x.ravel(), y.ravel())),
        "transpose_matches": bool(np.allclose(c.T @ y.ravel(), back.ravel())),
    }
