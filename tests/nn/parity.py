"""Run a convscope module and its PyTorch twin on the same weights and input; compare everything."""
import numpy as np
import torch

import convscope as cs


def copy_weights(ours: cs.nn.Module, theirs: torch.nn.Module) -> None:
    """Give ours exactly the PyTorch module's parameters and buffers (same names)."""
    state = {k: v.detach().numpy().astype(np.float64 if v.dtype == torch.float64 else np.float32)
             for k, v in theirs.state_dict().items() if not k.endswith("num_batches_tracked")}
    ours.load_state_dict(state)


def check_function(ours, theirs, x, *, forward_tol=1e-12, tol=1e-12, seed=1):
    """theirs(torch tensor) and ours(convscope Tensor) of the same input agree in value (within
    forward_tol; 0 means equal) and in the input's gradient for a random output gradient. PyTorch
    runs first, so a test can treat its RuntimeError as an input it refuses."""
    t = torch.tensor(x, requires_grad=True)
    yt = theirs(t)
    a = cs.Tensor(x, requires_grad=True)
    ya = ours(a)
    np.testing.assert_allclose(ya.data, yt.detach().numpy(), rtol=forward_tol, atol=forward_tol)
    g = np.random.default_rng(seed).standard_normal(ya.shape)
    ya.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=tol, atol=tol)
    return ya


def check_module(ours, theirs, x, *, target=None, rtol=1e-5, atol=1e-5, seed=0):
    """Forward and backward (input and every parameter) equal to PyTorch's."""
    if x.dtype == np.float64:
        theirs, ours = theirs.double(), ours.double()
    copy_weights(ours, theirs)
    xt = torch.tensor(x, requires_grad=True)
    xs = cs.Tensor(x, requires_grad=True)
    y, ref = ours(xs), theirs(xt)
    np.testing.assert_allclose(y.data, ref.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    y.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=rtol, atol=atol, err_msg="input gradient")
    named = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, named[name].grad.numpy(), rtol=rtol, atol=atol, err_msg=name)
    return y
