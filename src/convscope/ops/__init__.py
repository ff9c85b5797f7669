"""Pure NumPy operations of convolutional networks (no Tensor, no state).

Arrays are channels-first, (N, C, *spatial) with 1 to 3 spatial axes, float32 or float64;
results come back in the input's dtype.
"""
from . import registry
from .conv import conv, conv_backward, conv_transpose, conv_transpose_backward, flip_kernel
from .geometry import output_size, transposed_output_size
from .matrix import col2im, conv_matrix, im2col
from .pool import (avg_pool, avg_pool_backward, global_avg_pool, global_avg_pool_backward, global_max_pool,
                   global_max_pool_backward, kmax_pool, kmax_pool_backward, max_pool, max_pool_backward)
from .reference import reference_conv, reference_conv_transpose
from . import primitives  # noqa: E402  (registers every op; needs the functions above)

__all__ = [
    "registry", "primitives",
    "output_size", "transposed_output_size",
    "conv", "conv_backward", "conv_transpose", "conv_transpose_backward", "flip_kernel",
    "max_pool", "max_pool_backward", "avg_pool", "avg_pool_backward",
    "global_avg_pool", "global_avg_pool_backward", "global_max_pool", "global_max_pool_backward",
    "kmax_pool", "kmax_pool_backward",
    "im2col", "col2im", "conv_matrix",
    "reference_conv", "reference_conv_transpose",
]
