"""Element-wise ops: each output cell depends on the same cell of its inputs (after broadcasting).

Each forward computes in NumPy and returns the local backward: the chain rule for that one op.
"""
from __future__ import annotations

import numpy as np

from ..registry import ELEMENTWISE, define, keeps_input, keeps_output


def unbroadcast(grad: np.ndarray, shape) -> np.ndarray:
    """Sum a gradient over the axes that broadcasting added or stretched."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    axes = tuple(a for a, n in enumerate(shape) if n == 1 and grad.shape[a] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


@define("add", ELEMENTWISE, torch=("add",), onnx="Add", epilogue="add")
def add(x, y):
    # d(x + y) = dx + dy; broadcast axes sum back to each operand's shape
    return x + y, lambda g: (unbroadcast(g, x.shape), unbroadcast(g, y.shape))


@define("mul", ELEMENTWISE, saved=keeps_input, torch=("mul",), onnx="Mul")
def mul(x, y):
    # d(x y) = y dx + x dy
    return x * y, lambda g: (unbroadcast(g * y, x.shape), unbroadcast(g * x, y.shape))


def _pow_onnx(e, node):
    e.emit("Pow", [e.inputs[0], e.const(np.array(node.attrs["exponent"], np.float32))], e.output)


@define("pow", ELEMENTWISE, saved=keeps_input, onnx=_pow_onnx)
def power(x, *, exponent):
    # d(x^a) = a x^(a-1) dx
    return x ** exponent, lambda g: (g * exponent * x ** (exponent - 1),)


@define("exp", ELEMENTWISE, saved=keeps_output(), torch=("exp",), onnx="Exp")
def exp(x):
    y = np.exp(x)
    return y, lambda g: (g * y,)


@define("log", ELEMENTWISE, saved=keeps_input, torch=("log",), onnx="Log")
def log(x):
    return np.log(x), lambda g: (g / x,)


@define("tanh", ELEMENTWISE, saved=keeps_output(), torch=("tanh",), onnx="Tanh", activation=True)
def tanh(x):
    # d tanh = (1 - tanh^2) dx
    y = np.tanh(x)
    return y, lambda g: (g * (1 - y * y),)


@define("sigmoid", ELEMENTWISE, saved=keeps_output(), torch=("sigmoid",), onnx="Sigmoid", activation=True)
def sigmoid(x):
    # sigma = (1 + tanh(x/2)) / 2 is stable for large |x|; d sigma = sigma (1 - sigma) dx
    y = 0.5 * (1 + np.tanh(0.5 * x))
    return y, lambda g: (g * y * (1 - y),)


@define("relu", ELEMENTWISE, saved=keeps_output(1), torch=("relu",), onnx="Relu", activation=True,
        epilogue="relu")
def relu(x):
    mask = x > 0
    return x * mask, lambda g: (g * mask,)


def _leaky_onnx(e, node):
    e.emit("LeakyRelu", e.inputs, e.output, alpha=float(node.attrs["negative_slope"]))


@define("leaky_relu", ELEMENTWISE, saved=keeps_output(), torch=("leaky_relu",), onnx=_leaky_onnx, activation=True)
def leaky_relu(x, *, negative_slope=0.01):
    slope = np.where(x > 0, 1.0, negative_slope).astype(x.dtype)
    return x * slope, lambda g: (g * slope,)


@define("dropout", ELEMENTWISE, saved=keeps_output())
def dropout(x, *, keep):
    """`keep` is the scaled mask: 0 where dropped, 1/(1-p) elsewhere (drawn by the caller's generator)."""
    return x * keep, lambda g: (g * keep,)
