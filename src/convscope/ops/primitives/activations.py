"""The activation functions of modern CNNs (MobileNet v3, EfficientNet, ConvNeXt, RegNet, ...):
clamp (ReLU6, Hardtanh), hard swish, hard sigmoid, SiLU (swish), GELU (erf and tanh forms), Mish,
the exponential units (ELU, SELU, CELU), PReLU and ONNX's Hardmax.

Each is element-wise; the ONNX rules write opset-17 nodes (GELU and Mish have no single op there,
so they are written out from Erf, Tanh, Softplus and products).
"""
from __future__ import annotations

import numpy as np
from scipy import special

from ..engine.tuning import CHUNK_BYTES
from ..registry import ELEMENTWISE, define, keeps_input
from .elementwise import logistic as _sigmoid, unbroadcast as _unbroadcast
from .shape import _over_space, _softmax_onnx


def _in_chunks(x: np.ndarray, fill) -> np.ndarray:
    """y of x's shape and dtype with fill(x_part, y_part) run on flat pieces of CHUNK_BYTES, so that
    a function of several in-place passes finds each piece in cache for the next pass (measured:
    SiLU over 8 x 96 x 112 x 112 float32, 24 ms in whole-array passes, 15 in pieces)."""
    y = np.empty(x.shape, x.dtype)
    if not x.flags.c_contiguous:
        fill(x, y)
        return y
    xf, yf, step = x.reshape(-1), y.reshape(-1), max(1, CHUNK_BYTES // max(x.itemsize, 1))
    for i in range(0, xf.size, step):
        fill(xf[i:i + step], yf[i:i + step])
    return y


def _silu_into(x, y):
    """y = x / (1 + exp(-x)), as PyTorch computes it: within an ulp or two of x sigma(x) even where
    sigma(x) is tiny (0.5 (1 + tanh(x/2)) cancels there). exp(-x) overflows to inf for x below
    about -88.7 in float32, giving x / inf = -0 as in PyTorch (the true value is below 3e-37)."""
    np.negative(x, out=y)
    with np.errstate(over="ignore"):
        np.exp(y, out=y)
    y += 1
    np.divide(x, y, out=y)


def _hardswish_into(x, y):
    np.add(x, 3, out=y)
    np.clip(y, 0, 6, out=y)
    y *= x
    y /= 6  # x relu6(x + 3) / 6, in that order


def _hardsigmoid_into(x, y):
    np.add(x, 3, out=y)
    np.clip(y, 0, 6, out=y)
    y /= 6


def _clip_onnx(e, node):
    a, dtype = node.attrs, np.float32
    lo = e.const(np.array(-np.inf if a["min"] is None else a["min"], dtype))
    hi = e.const(np.array(np.inf if a["max"] is None else a["max"], dtype))
    e.emit("Clip", [e.inputs[0], lo, hi], e.output)


def _clamp_from_aten(a, name):
    """aten.hardtanh(self, min_val, max_val), aten.clamp_min(self, min) and clamp(self, min, max)."""
    x = a.pop("self")
    return (x,), {"min": a.pop("min", a.pop("min_val", None)), "max": a.pop("max", a.pop("max_val", None))}


@define("clamp", ELEMENTWISE, saved=keeps_input, torch=("clamp", "clip"), aten=("clamp", "clip", "hardtanh", "clamp_min", "clamp_max"),
        from_aten=_clamp_from_aten, onnx=_clip_onnx, activation=True)
def clamp(x, *, min=None, max=None):  # noqa: A002  (torch's argument names)
    """min(max(x, min), max); ReLU6 is clamp(0, 6), Hardtanh clamp(-1, 1). The gradient passes
    where the input lies strictly inside the range."""
    y = np.clip(x, min, max)
    inside = (x > (-np.inf if min is None else min)) & (x < (np.inf if max is None else max))
    return y.astype(x.dtype, copy=False), lambda g: (g * inside,)


@define("hardswish", ELEMENTWISE, saved=keeps_input, torch=("hardswish",), aten=("hardswish",), onnx="HardSwish", activation=True)
def hardswish(x):
    # x * relu6(x + 3) / 6; derivative 0 below -3, 1 above 3, (2x + 3) / 6 between, made only
    # when a backward asks for it (x is kept)
    def backward(g):
        slope = np.where(x < -3, 0, np.where(x > 3, 1, (2 * x + 3) / 6)).astype(x.dtype)
        return (g * slope,)
    return _in_chunks(x, _hardswish_into), backward


def _hardsigmoid_onnx(e, node):
    e.emit("HardSigmoid", e.inputs, e.output, alpha=1 / 6, beta=0.5)


@define("hardsigmoid", ELEMENTWISE, saved=keeps_input, torch=("hardsigmoid",), aten=("hardsigmoid",), onnx=_hardsigmoid_onnx,
        activation=True)
def hardsigmoid(x):
    # relu6(x + 3) / 6; derivative 1/6 strictly inside (-3, 3)
    return _in_chunks(x, _hardsigmoid_into), lambda g: (g * ((x > -3) & (x < 3)) / 6,)


def _silu_onnx(e, node):
    e.emit("Mul", [e.inputs[0], e.emit("Sigmoid", e.inputs)], e.output)


@define("silu", ELEMENTWISE, saved=keeps_input, torch=("silu",), aten=("silu",), onnx=_silu_onnx, activation=True)
def silu(x):
    # x s(x); derivative s (1 + x (1 - s)), s made only when a backward asks for it (x is kept)
    def backward(g):
        s = _sigmoid(x)
        return (g * s * (1 + x * (1 - s)),)
    return _in_chunks(x, _silu_into), backward


_SQRT_2_PI = np.sqrt(2 / np.pi)


def _gelu_onnx(e, node):
    x, c = e.inputs[0], lambda v: e.const(np.array(v, np.float32))  # noqa: E731
    if node.attrs["approximate"] == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = e.emit("Mul", [e.emit("Pow", [x, c(3.0)]), c(0.044715)])
        inner = e.emit("Mul", [e.emit("Add", [x, cube]), c(_SQRT_2_PI)])
        gate = e.emit("Add", [e.emit("Tanh", [inner]), c(1.0)])
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        gate = e.emit("Add", [e.emit("Erf", [e.emit("Div", [x, c(np.sqrt(2.0))])]), c(1.0)])
    e.emit("Mul", [e.emit("Mul", [x, gate]), c(0.5)], e.output)


@define("gelu", ELEMENTWISE, saved=keeps_input, torch=("gelu",), aten=("gelu",), onnx=_gelu_onnx, activation=True)
def gelu(x, *, approximate="none"):
    """x Phi(x) with Phi the normal CDF ('none'), or its tanh approximation ('tanh'), as in PyTorch."""
    if approximate == "tanh":
        u = _SQRT_2_PI * (x + 0.044715 * x ** 3)
        t = np.tanh(u)
        y = 0.5 * x * (1 + t)
        slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_PI * (1 + 3 * 0.044715 * x * x)
    elif approximate == "none":
        cdf = 0.5 * (1 + special.erf(x / np.sqrt(2.0)))
        y = x * cdf
        slope = cdf + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)  # Phi(x) + x phi(x)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return y.astype(x.dtype, copy=False), lambda g: (g * slope.astype(x.dtype, copy=False),)


def _mish_onnx(e, node):
    e.emit("Mul", [e.inputs[0], e.emit("Tanh", [e.emit("Softplus", e.inputs)])], e.output)


@define("mish", ELEMENTWISE, saved=keeps_input, torch=("mish",), aten=("mish",), onnx=_mish_onnx, activation=True)
def mish(x):
    # x tanh(softplus(x)); derivative tanh(sp) + x s(x) (1 - tanh(sp)^2)
    t = np.tanh(np.logaddexp(0, x))
    return x * t, lambda g: (g * (t + x * _sigmoid(x) * (1 - t * t)),)


# The exponential linear units: ELU (Clevert et al. 2016), SELU (Klambauer et al. 2017) and CELU
# (Barron 2017) are one curve, scale * (x if x > 0 else alpha (exp(x input_scale) - 1)), as in ATen.

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _exponential_unit(x, alpha, scale=1.0, input_scale=1.0):
    # derivative scale for x > 0, scale alpha input_scale exp(x input_scale) at and below 0 (PyTorch's side)
    neg = x <= 0
    e = np.exp(np.minimum(x, 0) * input_scale)  # no overflow where the positive branch is taken
    y = (scale * np.where(neg, alpha * (e - 1), x)).astype(x.dtype, copy=False)
    slope = (scale * np.where(neg, alpha * input_scale * e, 1.0)).astype(x.dtype, copy=False)
    return y, lambda g: (g * slope,)


def _elu_onnx(e, node):
    e.emit("Elu", e.inputs, e.output, alpha=float(node.attrs["alpha"]))


@define("elu", ELEMENTWISE, saved=keeps_input, torch=("elu",), aten=("elu",), onnx=_elu_onnx, activation=True)
def elu(x, *, alpha=1.0):
    """x for x > 0, alpha (exp(x) - 1) at and below 0."""
    return _exponential_unit(x, alpha)


@define("selu", ELEMENTWISE, saved=keeps_input, torch=("selu",), aten=("selu",), onnx="Selu", activation=True)
def selu(x):
    """scale * elu(x, alpha) with SELU's fixed point constants (alpha 1.6733, scale 1.0507)."""
    return _exponential_unit(x, _SELU_ALPHA, _SELU_SCALE)


def _celu_onnx(e, node):
    e.emit("Celu", e.inputs, e.output, alpha=float(node.attrs["alpha"]))


@define("celu", ELEMENTWISE, saved=keeps_input, torch=("celu",), aten=("celu",), onnx=_celu_onnx, activation=True)
def celu(x, *, alpha=1.0):
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1)): ELU whose slope is 1 at 0 for every alpha."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x)")
    return _exponential_unit(x, alpha, 1.0, 1.0 / alpha)


@define("prelu", ELEMENTWISE, saved=keeps_input, onnx="PRelu", activation=True)
def prelu(x, slope):
    """x for x > 0, slope * x below, `slope` broadcast against x as NumPy (and ONNX's PRelu) do;
    PyTorch's per-channel weight is reshaped to (C, 1, ...) by the caller (`nn.functional.prelu`)."""
    # d/dx = 1 or slope; d/dslope = 0 or x, summed over the axes the slope was broadcast along
    pos = x > 0
    y = np.where(pos, x, slope * x).astype(x.dtype, copy=False)
    return y, lambda g: (np.where(pos, g, g * slope).astype(x.dtype, copy=False),
                         _unbroadcast(np.where(pos, 0, g * x), np.shape(slope)).astype(slope.dtype, copy=False))


@define("hardmax", _over_space, onnx=_softmax_onnx("Hardmax"))
def hardmax(x, *, axis):
    """1 at the first maximum along `axis`, 0 elsewhere (ONNX's Hardmax); piecewise constant, so its
    gradient is 0."""
    y = np.zeros_like(x)
    np.put_along_axis(y, np.expand_dims(x.argmax(axis=axis), axis), 1, axis=axis)
    return y, lambda g: (np.zeros_like(x),)
