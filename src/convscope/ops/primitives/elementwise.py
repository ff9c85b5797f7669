"""Element-wise ops: each output cell depends on the same cell of its inputs (after broadcasting).

Each forward computes in NumPy and returns the local backward: the chain rule for that one op.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from ..registry import ELEMENTWISE, define, keeps_input, keeps_nothing, keeps_output


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


@define("pow", ELEMENTWISE, saved=keeps_input, aten=("pow",), onnx=_pow_onnx)
def power(x, *, exponent):
    # d(x^a) = a x^(a-1) dx
    return x ** exponent, lambda g: (g * exponent * x ** (exponent - 1),)


@define("power", ELEMENTWISE, saved=keeps_input, onnx="Pow")
def power_of_tensors(x, y):
    """x ** y element-wise, the exponent a tensor broadcast against x (ONNX's Pow; torch.pow of two tensors)."""
    # d(x^y) = y x^(y-1) dx + x^y log(x) dy; the first is 0 where y = 0, the second where x = 0 and
    # y >= 0 (as PyTorch)
    e = np.asarray(y).astype(x.dtype, copy=False)  # an integer exponent too (ONNX allows it)
    out = np.power(x, e)

    def backward(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            dy = np.where((x == 0) & (e >= 0), 0, g * out * np.log(x))
            dx = np.where(e == 0, 0, g * e * np.power(x, e - 1))  # x^0 is flat, even at x = 0
            return unbroadcast(dx, x.shape), unbroadcast(dy, np.shape(y)).astype(e.dtype)
    return out, backward


@define("exp", ELEMENTWISE, saved=keeps_output(), torch=("exp",), aten=("exp",), onnx="Exp")
def exp(x):
    y = np.exp(x)
    return y, lambda g: (g * y,)


@define("log", ELEMENTWISE, saved=keeps_input, torch=("log",), aten=("log",), onnx="Log")
def log(x):
    return np.log(x), lambda g: (g / x,)


@define("tanh", ELEMENTWISE, saved=keeps_output(), torch=("tanh",), aten=("tanh",), onnx="Tanh", activation=True)
def tanh(x):
    # d tanh = (1 - tanh^2) dx
    y = np.tanh(x)
    return y, lambda g: (g * (1 - y * y),)


def logistic(x):
    """sigma(x) = (1 + tanh(x/2)) / 2: stable for large |x| (the sigmoid op, and the slopes of the
    activations built on it)."""
    return 0.5 * (1 + np.tanh(0.5 * x))


@define("sigmoid", ELEMENTWISE, saved=keeps_output(), torch=("sigmoid",), aten=("sigmoid",), onnx="Sigmoid", activation=True)
def sigmoid(x):
    # d sigma = sigma (1 - sigma) dx
    y = logistic(x)
    return y, lambda g: (g * y * (1 - y),)


@define("relu", ELEMENTWISE, saved=keeps_output(1), torch=("relu",), aten=("relu",), onnx="Relu", activation=True,
        epilogue="relu")
def relu(x):
    # max(x, 0), as PyTorch: 0 for -inf (x * mask would give -inf * 0 = NaN) and NaN kept
    mask = x > 0
    return np.maximum(x, 0, dtype=x.dtype), lambda g: (g * mask,)


def _leaky_onnx(e, node):
    e.emit("LeakyRelu", e.inputs, e.output, alpha=float(node.attrs["negative_slope"]))


@define("leaky_relu", ELEMENTWISE, saved=keeps_output(), torch=("leaky_relu",), aten=("leaky_relu",), onnx=_leaky_onnx, activation=True)
def leaky_relu(x, *, negative_slope=0.01):
    slope = np.where(x > 0, 1.0, negative_slope).astype(x.dtype)
    return x * slope, lambda g: (g * slope,)


@define("dropout", ELEMENTWISE, saved=keeps_output())
def dropout(x, *, keep):
    """`keep` is the scaled mask: 0 where dropped, 1/(1-p) elsewhere (drawn by the caller's generator)."""
    return x * keep, lambda g: (g * keep,)


# ------------------------------------------------------------------------------ more of ONNX's and torch's element-wise ops

@define("abs", ELEMENTWISE, saved=keeps_input, torch=("abs",), aten=("abs",), onnx="Abs")
def absolute(x):
    # d|x| = sign(x) dx (0 at 0, as PyTorch)
    return np.abs(x), lambda g: (g * np.sign(x),)


@define("sign", ELEMENTWISE, saved=keeps_nothing, torch=("sign",), aten=("sign",), onnx="Sign")
def sign(x):
    # piecewise constant: zero gradient everywhere (PyTorch's too)
    return np.sign(x), lambda g: (np.zeros_like(g),)


@define("erf", ELEMENTWISE, saved=keeps_input, torch=("erf",), aten=("erf",), onnx="Erf")
def erf(x):
    # d erf = 2 / sqrt(pi) exp(-x^2) dx
    return special.erf(x).astype(x.dtype, copy=False), \
        lambda g: (g * (2 / np.sqrt(np.pi) * np.exp(-x * x)).astype(x.dtype, copy=False),)


def _softplus_onnx(e, node):
    beta = float(node.attrs["beta"])
    if beta == 1:
        e.emit("Softplus", e.inputs, e.output)
        return
    scaled = e.emit("Softplus", [e.emit("Mul", [e.inputs[0], e.const(np.array(beta, np.float32))])])
    e.emit("Div", [scaled, e.const(np.array(beta, np.float32))], e.output)


@define("softplus", ELEMENTWISE, saved=keeps_input, torch=("softplus",), aten=("softplus",), onnx=_softplus_onnx, activation=True)
def softplus(x, *, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold, as PyTorch."""
    # derivative sigmoid(beta x) (1 where linear)
    bx = beta * x
    linear = bx > threshold
    y = np.where(linear, x, np.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)
    slope = np.where(linear, 1.0, logistic(bx)).astype(x.dtype, copy=False)
    return y, lambda g: (g * slope,)


@define("softsign", ELEMENTWISE, saved=keeps_input, torch=("softsign",), aten=("softsign",), onnx="Softsign", activation=True)
def softsign(x):
    # x / (1 + |x|); derivative 1 / (1 + |x|)^2
    d = 1 + np.abs(x)
    return x / d, lambda g: (g / (d * d),)


def _two_inputs(a, name):
    return tuple(a.values()), {}


def _extremum(name, pick, onnx):
    @define(name, ELEMENTWISE, saved=keeps_input, torch=(name,), aten=(name,), from_aten=_two_inputs, onnx=onnx)
    def forward(x, y):
        # the gradient goes to the operand picked; ties split it in halves (as PyTorch)
        out = pick(x, y)
        share = np.where(x == y, 0.5, 1.0)
        return out, lambda g: (unbroadcast(g * share * (out == x), x.shape), unbroadcast(g * share * (out == y), y.shape))
    return forward


maximum = _extremum("maximum", np.maximum, "Max")
minimum = _extremum("minimum", np.minimum, "Min")


def _threshold_onnx(e, node):
    t, value = float(node.attrs["threshold"]), float(node.attrs["value"])
    if value == 0:
        e.emit("ThresholdedRelu", e.inputs, e.output, alpha=t)
        return
    above = e.emit("Greater", [e.inputs[0], e.const(np.array(t, np.float32))])
    e.emit("Where", [above, e.inputs[0], e.const(np.array(value, np.float32))], e.output)


@define("threshold", ELEMENTWISE, saved=keeps_input, torch=("threshold",), aten=("threshold",), onnx=_threshold_onnx, activation=True)
def threshold(x, *, threshold, value):  # noqa: A002  (torch's argument names)
    """x where x > threshold, else value (ONNX's ThresholdedRelu is value 0)."""
    above = x > threshold
    return np.where(above, x, value).astype(x.dtype, copy=False), lambda g: (g * above,)


def _shrink_onnx(e, node):
    e.emit("Shrink", e.inputs, e.output, lambd=float(node.attrs["lambd"]), bias=float(node.attrs["bias"]))


@define("shrink", ELEMENTWISE, saved=keeps_input, torch=("hardshrink",), aten=("hardshrink",), onnx=_shrink_onnx, activation=True)
def shrink(x, *, lambd=0.5, bias=0.0):
    """ONNX's Shrink: x - bias above lambd, x + bias below -lambd, 0 between (hardshrink: bias 0;
    softshrink: bias lambd)."""
    above, below = x > lambd, x < -lambd
    y = np.where(above, x - bias, np.where(below, x + bias, 0)).astype(x.dtype, copy=False)
    return y, lambda g: (g * (above | below),)
