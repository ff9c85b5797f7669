"""Figures of what convscope computes; each function returns a matplotlib Figure."""
from .cam import class_activation, saliency_and_cam
from .conv import StepsFigure, conv_steps
from .matrix import conv_matrix
from .receptive import receptive_field_1d, receptive_field_2d
from .training import confusion, feature_maps, history, kernels, pooling

__all__ = ["conv_steps", "StepsFigure", "conv_matrix", "receptive_field_1d", "receptive_field_2d", "feature_maps",
           "kernels", "history", "confusion", "pooling", "class_activation",
           "saliency_and_cam"]
