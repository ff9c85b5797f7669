"""Every primitive op, declared once per family; importing this package registers them all."""
from . import convolution, elementwise, normalization, pooling, shape

__all__ = ["convolution", "elementwise", "normalization", "pooling", "shape"]
