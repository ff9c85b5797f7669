"""Layers, containers, losses and functions of Tensors, with PyTorch's names."""
from . import functional, init
from .containers import Concat, Residual, Sequential
from .layers import (AvgPool1d, AvgPool2d, AvgPool3d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Conv3d,
                     ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Dropout, Flatten, GlobalAvgPool,
                     GlobalMaxPool, Identity, KMaxPool, LeakyReLU, Linear, MaxPool1d, MaxPool2d, MaxPool3d, ReLU, Sigmoid,
                     Softmax, Tanh)
from .loss import CrossEntropyLoss, MSELoss
from .module import Module, Parameter

LAYERS = {cls.__name__: cls for cls in (
    Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, MaxPool1d, MaxPool2d, MaxPool3d,
    AvgPool1d, AvgPool2d, AvgPool3d, GlobalAvgPool, GlobalMaxPool, KMaxPool, Identity, Linear, ReLU, LeakyReLU, Tanh,
    Sigmoid, Softmax, Flatten, Dropout, BatchNorm1d, BatchNorm2d, Sequential, Residual, Concat)}

__all__ = ["Module", "Parameter", "functional", "init", "LAYERS", "CrossEntropyLoss", "MSELoss", *LAYERS]
