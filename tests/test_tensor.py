"""Tensor autograd against PyTorch autograd and float64 finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

import convscope as cs

rng = np.random.default_rng(0)


def both(*shapes):
    arrays = [rng.standard_normal(s) for s in shapes]
    return [cs.Tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]


CASES = {
    "add broadcast": (lambda a, b: a + b, [(3, 4), (4,)]),
    "mul broadcast": (lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    "sub and rsub": (lambda a, b: (a - b) - (2.0 - a), [(3, 4), (1, 4)]),
    "div and rdiv": (lambda a, b: a / (b * b + 1.0) + 1.0 / (a * a + 2.0), [(3, 4), (3, 4)]),
    "pow": (lambda a: (a * a + 1.0) ** 1.5, [(5,)]),
    "exp log": (lambda a: (a.exp() + 1.0).log(), [(4, 3)]),
    "tanh sigmoid relu": (lambda a: a.tanh() * a.sigmoid() + a.relu(), [(6,)]),
    "sum axis": (lambda a: a.sum(axis=1), [(3, 4, 2)]),
    "sum keepdims": (lambda a: a.sum(axis=(0, 2), keepdims=True) * a, [(3, 4, 2)]),
    "mean": (lambda a: a.mean(axis=0), [(5, 3)]),
    "mean over a list of axes": (lambda a: a.mean([2, 3]), [(2, 3, 4, 5)]),
    "max axis": (lambda a: a.max(axis=1), [(4, 6)]),
    "matmul batched": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "reshape transpose": (lambda a: a.reshape(4, 6).transpose(1, 0).reshape(2, 12), [(2, 3, 4)]),
    "index slice": (lambda a: a[1:, ::2], [(4, 5)]),
    "index fancy repeated": (lambda a: a[[0, 2, 0, 1]], [(3, 4)]),
}


def reference(name, *ts):
    """The same computation with torch's names where they differ."""
    fn = CASES[name][0]
    if name == "max axis":
        return ts[0].amax(dim=1)
    if name == "sum axis":
        return ts[0].sum(dim=1)
    if name == "sum keepdims":
        return ts[0].sum(dim=(0, 2), keepdim=True) * ts[0]
    if name == "mean":
        return ts[0].mean(dim=0)
    if name == "reshape transpose":
        return ts[0].reshape(4, 6).permute(1, 0).reshape(2, 12)
    return fn(*ts)


@pytest.mark.parametrize("name", list(CASES))
def test_op_value_and_gradients_match_torch(name):
    fn, shapes = CASES[name]
    ours, theirs = both(*shapes)
    y, ref = fn(*ours), reference(name, *theirs)
    np.testing.assert_allclose(y.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_concat_and_stack_route_gradient_slices():
    ours, theirs = both((2, 3), (2, 5))
    y = cs.concat(ours, axis=1) * 2.0
    ref = torch.cat(theirs, dim=1) * 2.0
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, t.grad.numpy())
    ours, theirs = both((2, 3), (2, 3))
    cs.stack(ours, axis=1).sum().backward()
    torch.stack(theirs, dim=1).sum().backward()
    np.testing.assert_allclose(ours[0].grad, theirs[0].grad.numpy())


def test_gradients_accumulate_over_shared_uses_and_calls():
    a = cs.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (a * a + a).sum().backward()
    (a * 3.0).sum().backward()
    np.testing.assert_allclose(a.grad, 2 * np.array([1.0, 2.0]) + 1 + 3)


def test_finite_differences_through_a_composite():
    (a, b), _ = both((3, 4), (4, 2))

    def f(x, y):
        return ((x @ y).tanh() * (x.sum(axis=1, keepdims=True) ** 2.0)).mean()

    f(a, b).backward()
    for t, other, first in ((a, b, True), (b, a, False)):
        num = np.zeros_like(t.data)
        for idx in np.ndindex(t.shape):
            hi, lo = t.data.copy(), t.data.copy()
            hi[idx] += 1e-6
            lo[idx] -= 1e-6
            args = (lambda v, o=other, fst=first: (cs.Tensor(v), o) if fst else (o, cs.Tensor(v)))  # noqa: E731
            num[idx] = (f(*args(hi)).item() - f(*args(lo)).item()) / 2e-6
        np.testing.assert_allclose(t.grad, num, rtol=1e-6, atol=1e-8)


def test_deep_chain_has_no_recursion_limit():
    x = cs.Tensor(np.ones(3), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 1.0001 ** 5000))


def test_no_grad_and_detach_record_nothing():
    x = cs.Tensor(np.ones(3), requires_grad=True)
    with cs.no_grad():
        y = x * 2.0
    assert not y.requires_grad
    assert not (x.detach() * 2.0).requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="only for a scalar"):
        (x * 2.0).backward()


def test_python_numbers_default_to_float32_and_ints_cannot_require_grad():
    assert cs.Tensor([1.0, 2.0]).dtype == np.float32
    assert cs.Tensor(np.zeros(2)).dtype == np.float64
    with pytest.raises(TypeError, match="floating-point"):
        cs.Tensor(np.arange(3), requires_grad=True)


@pytest.mark.parametrize("shape", [(3,), (2, 5), (4, 1, 3)])
def test_retain_grad_keeps_a_computed_value_gradient_as_torch_does(shape):
    """A value used twice (its gradient is the sum of both uses) and a leaf: both equal torch's."""
    a = np.random.default_rng(len(shape)).standard_normal(shape)
    ours, theirs = cs.Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    grads = []
    for t, tanh in ((ours, lambda v: v.tanh()), (theirs, torch.tanh)):
        y = t * 3.0
        y.retain_grad()
        ((tanh(y) * y).sum() + (y * y).mean()).backward()
        grads.append((np.asarray(y.grad), np.asarray(t.grad)))
    for g, h in zip(*grads):
        np.testing.assert_allclose(g, h, rtol=1e-12)


def test_relu_of_infinities_and_nan_is_pytorchs():
    """max(x, 0): -inf gives 0 (x * mask gave NaN; the plan's epilogue gave 0), NaN stays NaN."""
    torch = pytest.importorskip("torch")
    x = np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan], np.float32)
    np.testing.assert_array_equal(cs.nn.functional.relu(cs.Tensor(x)).numpy(), torch.relu(torch.tensor(x)).numpy())


UNARY = (lambda t: t.tanh(), lambda t: t * 2.0, lambda t: t.relu(), lambda t: t.sigmoid())
BINARY = (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=12),
       st.lists(st.integers(0, 99), min_size=1, max_size=5))
def test_gradients_of_random_graphs_with_shared_values_match_torch(steps, outputs):
    """Values reused at any depth (x beside f(x), a block's input beside its output) in random
    graphs of unary and binary ops, joined by a concat: every path's gradient arrives."""
    data = np.random.default_rng(len(steps)).standard_normal((2, 3))

    def build(lib, x):
        values = [x]
        for op, i, j in steps:
            a, b = values[i % len(values)], values[j % len(values)]
            values.append(UNARY[op](a) if op < len(UNARY) else BINARY[op - len(UNARY)](a, b))
        picked = [values[k % len(values)] for k in outputs]
        return (cs.concat(picked, axis=1) if lib is cs else torch.cat(picked, dim=1)) * 1.5

    ours, theirs = cs.Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ref = build(cs, ours), build(torch, theirs)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
