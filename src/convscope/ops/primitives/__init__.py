"""Every primitive op, declared once per family; importing this package registers them all."""
from . import activations, convolution, elementwise, normalization, padding, pooling, resize, shape

__all__ = ["activations", "convolution", "elementwise", "normalization", "padding", "pooling", "resize", "shape"]
