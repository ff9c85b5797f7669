"""Pooling beyond PyTorch's rules (ONNX's: padding over half the kernel, dilated average pools) against
a plain NumPy oracle that visits every window cell by cell, values and gradients (float64 finite
differences through the oracle); lp_pool against PyTorch's lp_pool1d/2d/3d and the oracle."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as tf
from hypothesis import assume, given, settings, strategies as st

import convscope as cs
from convscope.ops.primitives import pooling as P
from convscope.tensor import apply


def oracle(x, kind, kernel, stride, pads, dilation, ceil_mode, count_include_pad=False, p=2.0):
    """Each window's cells listed by index: max, mean (divisor: cells inside the input, or inside the
    input and its asked padding) or (sum |x|^p)^(1/p); ONNX's output size."""
    n = len(kernel)
    sizes = x.shape[2:]
    out = []
    for i, k, s, (lo, hi), d in zip(sizes, kernel, stride, pads, dilation):
        span = i + lo + hi - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= i + lo:  # the last window starts inside the input or the low padding
            o -= 1
        out.append(o)
    y = np.zeros((*x.shape[:2], *out))
    for o in itertools.product(*map(range, out)):
        cells = [[oa * s + t * d - lo for t in range(k)]
                 for oa, s, d, (lo, _), k in zip(o, stride, dilation, pads, kernel)]
        inside = [[c for c in axis if 0 <= c < i] for axis, i in zip(cells, sizes)]
        values = x[(slice(None), slice(None), *np.ix_(*inside))].reshape(*x.shape[:2], -1)
        if kind == "max":
            y[(..., *o)] = values.max(axis=-1)
        elif kind == "avg":
            padded = [[c for c in axis if -lo <= c < i + hi] for axis, i, (lo, hi) in zip(cells, sizes, pads)]
            count = np.prod([len(a) for a in (padded if count_include_pad else inside)])
            y[(..., *o)] = values.sum(axis=-1) / count
        else:
            y[(..., *o)] = (np.abs(values) ** p).sum(axis=-1) ** (1 / p)
    return y


@st.composite
def onnx_pools(draw):
    n = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(n))
    pads = tuple((draw(st.integers(0, d * (k - 1))), draw(st.integers(0, d * (k - 1))))
                 for k, d in zip(kernel, dilation))  # up to the window's reach: beyond PyTorch's k // 2
    size = tuple(draw(st.integers(2, 4 if n == 3 else 6)) for _ in range(n))
    assume(all(i + lo + hi >= d * (k - 1) + 1 for i, (lo, hi), k, d in zip(size, pads, kernel, dilation)))
    kw = dict(kernel_size=kernel, stride=stride, padding=pads, dilation=dilation, ceil_mode=draw(st.booleans()),
              any_padding=True)
    return (2, 2, *size), kw, draw(st.sampled_from(["max", "avg", "avg_pad", "lp"]))


def _op(kind, kw):
    if kind == "max":
        return P.max_pool, kw
    if kind.startswith("avg"):
        return P.avg_pool, dict(kw, count_include_pad=kind == "avg_pad")
    return P.lp_pool, dict(kw, norm_type=3, absolute=True)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=onnx_pools())
def test_onnx_pools_equal_the_window_by_window_oracle_with_their_gradients(case):
    shape, kw, kind = case
    x = np.random.default_rng(0).permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0  # no ties
    op, attrs = _op(kind, kw)
    try:
        a = cs.Tensor(x, requires_grad=True)
        y = apply(op, a, **attrs)
    except ValueError as err:  # a window of padding only: refused, and the oracle agrees it is empty
        assert "with no input cell" in str(err)
        return
    ref = oracle(x, kind[:3], kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"], kw["ceil_mode"],
                 kind == "avg_pad", 3.0)
    np.testing.assert_allclose(y.data, ref, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(g)
    v, eps = np.random.default_rng(2).standard_normal(shape), 1e-6  # the directional derivative of the oracle
    along = (oracle(x + eps * v, kind[:3], *(kw[k] for k in ("kernel_size", "stride", "padding", "dilation",
                                                               "ceil_mode")), kind == "avg_pad", 3.0)
             - oracle(x - eps * v, kind[:3], *(kw[k] for k in ("kernel_size", "stride", "padding", "dilation",
                                                                 "ceil_mode")), kind == "avg_pad", 3.0)) / (2 * eps)
    assert abs(float(np.vdot(a.grad, v)) - float(np.vdot(along, g))) < 1e-6 * max(1.0, np.abs(along).sum())


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 1.5])
@pytest.mark.parametrize("stride", [None, 2])
def test_lp_pool_equals_torch_lp_pool_values_and_gradients(n, p, stride):
    kernel = (3, 2, 2)[:n]
    x = np.random.default_rng(n).uniform(0.2, 2.0, (2, 3, *(7, 6, 5)[:n]))  # PyTorch's x^p: positive inputs
    a, t = cs.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = apply(P.lp_pool, a, norm_type=p, kernel_size=kernel, stride=stride)
    z = getattr(tf, f"lp_pool{n}d")(t, p, kernel[0] if n == 1 else kernel, stride)  # 1-D takes an int
    np.testing.assert_allclose(y.data, z.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(9).standard_normal(y.shape)
    y.backward(g)
    z.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_lp_pool_of_signed_values_is_pytorchs_and_the_absolute_one_is_onnxs():
    x = np.random.default_rng(3).standard_normal((1, 2, 8, 8))
    ours = apply(P.lp_pool, cs.Tensor(x), norm_type=3, kernel_size=2).data
    theirs = tf.lp_pool2d(torch.tensor(x), 3, 2).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))  # a negative sum has no real cube root
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True)
    absolute = apply(P.lp_pool, cs.Tensor(x), norm_type=3, kernel_size=2, absolute=True).data
    np.testing.assert_allclose(absolute, oracle(x, "lp", (2, 2), (2, 2), ((0, 0),) * 2, (1, 1), False, p=3.0),
                               rtol=1e-12)
