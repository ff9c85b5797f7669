"""The element-wise ops added for ONNX's and PyTorch's CNN op sets (abs, erf, softplus, softsign,
maximum/minimum, the power of two tensors, threshold, shrink, hardmax, the exponential units, prelu): values and gradients against
PyTorch in float64, over inputs with ties and kinks, and their ONNX export against onnxruntime."""
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as tf

import convscope as cs
from convscope.nn import functional as F
from convscope.nn.module import Module
from convscope.ops.primitives import elementwise as E
from convscope.ops.primitives.activations import hardmax
from convscope.tensor import apply
from tests.nn.parity import check_function

rng = np.random.default_rng(0)

ONE_INPUT = {  # name -> (ours, torch's)
    "abs": (lambda x: apply(E.absolute, x), torch.abs),
    "erf": (lambda x: apply(E.erf, x), torch.erf),
    "softplus": (lambda x: apply(E.softplus, x), tf.softplus),
    "softplus beta threshold": (lambda x: apply(E.softplus, x, beta=2.0, threshold=3.0),
                                lambda x: tf.softplus(x, beta=2.0, threshold=3.0)),
    "softsign": (lambda x: apply(E.softsign, x), tf.softsign),
    "threshold": (lambda x: apply(E.threshold, x, threshold=0.5, value=-2.0), lambda x: tf.threshold(x, 0.5, -2.0)),
    "hardshrink": (lambda x: apply(E.shrink, x, lambd=0.7), lambda x: tf.hardshrink(x, 0.7)),
    "softshrink": (lambda x: apply(E.shrink, x, lambd=0.7, bias=0.7), lambda x: tf.softshrink(x, 0.7)),
    "elu": (lambda x: F.elu(x, 0.4), lambda x: tf.elu(x, 0.4)),
    "selu": (F.selu, tf.selu),
    "celu": (lambda x: F.celu(x, 2.5), lambda x: tf.celu(x, 2.5)),
}


@pytest.mark.parametrize("name", ONE_INPUT)
def test_one_input_ops_equal_torch_in_float64(name):
    ours, theirs = ONE_INPUT[name]
    x = rng.uniform(-4, 4, (3, 4, 5))
    x[0, 0, :3] = [0.0, 0.5, -0.7]  # the kinks, where PyTorch's one-sided choices are matched
    check_function(ours, theirs, x, forward_tol=1e-13, tol=1e-12)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5))])
@pytest.mark.parametrize("which", ["maximum", "minimum"])
def test_maximum_and_minimum_split_ties_and_sum_broadcast_gradients_as_torch(which, shapes):
    p, q = (rng.integers(-2, 3, s).astype(np.float64) for s in shapes)  # many ties
    a, b = cs.Tensor(p, requires_grad=True), cs.Tensor(q, requires_grad=True)
    s, t = torch.tensor(p, requires_grad=True), torch.tensor(q, requires_grad=True)
    y, z = apply(getattr(E, which), a, b), getattr(torch, which)(s, t)
    np.testing.assert_array_equal(y.data, z.detach().numpy())
    g = rng.standard_normal(y.shape)
    y.backward(g)
    z.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad, s.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(b.grad, t.grad.numpy(), rtol=1e-13)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5))])
def test_power_of_two_tensors_equals_torch_pow(shapes):
    p = rng.uniform(-2, 2, shapes[0])
    p.flat[:3] = [0.0, 1.0, -1.5]  # a zero, and a negative base (integer exponents there)
    q = rng.integers(-2, 4, shapes[1]).astype(np.float64)
    q.flat[:1] = [0.0]
    a, b = cs.Tensor(p, requires_grad=True), cs.Tensor(q, requires_grad=True)
    s, t = torch.tensor(p, requires_grad=True), torch.tensor(q, requires_grad=True)
    y, z = apply(E.power_of_tensors, a, b), torch.pow(s, t)
    np.testing.assert_allclose(y.data, z.detach().numpy(), rtol=1e-14)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    z.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad, s.grad.numpy(), rtol=1e-13, equal_nan=True)
    np.testing.assert_allclose(b.grad, t.grad.numpy(), rtol=1e-13, equal_nan=True)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_hardmax_is_the_one_hot_of_the_first_maximum_and_has_no_gradient(axis):
    x = rng.integers(0, 3, (3, 4, 5)).astype(np.float64)  # ties everywhere
    a = cs.Tensor(x, requires_grad=True)
    y = apply(hardmax, a, axis=axis)
    first = torch.tensor(x).argmax(dim=axis)  # PyTorch's argmax picks the first maximum
    expected = tf.one_hot(first, x.shape[axis]).movedim(-1, axis).double().numpy()
    np.testing.assert_array_equal(y.data, expected)
    y.backward(rng.standard_normal(y.shape))
    np.testing.assert_array_equal(a.grad, np.zeros_like(x))


@pytest.mark.parametrize("slope_shape", [(), (1,), (5,), (4, 1, 1), (3, 4, 1, 5)])
def test_prelu_op_broadcasts_its_slope_as_onnx_and_its_gradients_equal_torch(slope_shape):
    from convscope.ops.primitives.activations import prelu

    x, w = rng.standard_normal((3, 4, 2, 5)), rng.uniform(-1, 1, slope_shape)
    a, b = cs.Tensor(x, requires_grad=True), cs.Tensor(w, requires_grad=True)
    s, t = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = apply(prelu, a, b)
    z = torch.where(s > 0, s, t * s)  # ONNX's PRelu: NumPy broadcasting
    np.testing.assert_allclose(y.data, z.detach().numpy(), rtol=1e-14)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    z.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad, s.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(b.grad, t.grad.numpy(), rtol=1e-12, atol=1e-13)


class _Ops(Module):
    def __init__(self, value=1.5):
        super().__init__()
        self.value = value

    def forward(self, x):
        y = apply(E.absolute, x) + apply(E.erf, x) + apply(E.softplus, x) + apply(E.softplus, x, beta=3.0)
        y = y + apply(E.softsign, x) + apply(E.threshold, x, threshold=0.2, value=0.0)
        y = y + apply(E.threshold, x, threshold=-0.3, value=self.value) + apply(E.shrink, x, lambd=0.4, bias=0.1)
        y = y + F.elu(x, 0.6) + F.selu(x) + F.celu(x, 1.3)
        y = y + apply(E.power_of_tensors, apply(E.absolute, x) + 0.5, cs.Tensor(np.full((5,), 1.5, np.float32)))
        y = y + apply(hardmax, x, axis=1)
        return apply(E.maximum, y, x * 0.5) + apply(E.minimum, y, x)


def test_the_ops_export_to_onnx_and_agree_with_onnxruntime(tmp_path):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    cs.to_onnx(_Ops(), (3, 4, 5), tmp_path / "ops.onnx")
    got = ort.InferenceSession(str(tmp_path / "ops.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, _Ops()(cs.Tensor(x)).data, rtol=1e-5, atol=1e-5)
    # and the file comes back through the ONNX rules (threshold to a value other than 0 is written with
    # Greater and Where, which convscope does not import)
    cs.to_onnx(_Ops(value=0.0), (3, 4, 5), tmp_path / "back.onnx")
    back = cs.from_onnx(tmp_path / "back.onnx")
    np.testing.assert_allclose(back(cs.Tensor(x)).data, _Ops(value=0.0)(cs.Tensor(x)).data, rtol=1e-5, atol=1e-5)
