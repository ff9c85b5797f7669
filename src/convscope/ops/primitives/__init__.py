"""Every primitive op, declared once per family; importing this package registers them all."""
from . import activations, convolution, einsum, elementwise, normalization, padding, pooling, rearrange, resize, shape

__all__ = ["activations", "convolution", "einsum", "elementwise", "normalization", "padding", "pooling", "rearrange",
           "resize", "shape"]
