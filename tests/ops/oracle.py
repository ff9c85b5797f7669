"""The oracles the op tests check against: PyTorch when it is installed, and always the definition.

`check_op` compares an op's output and every gradient with PyTorch's autograd, and, given the
op's `reference` (`ops.reference_conv`, ...), with the definition as well: the output directly,
each gradient g of input i through the directional derivative <g, v> = <d ref(..., v, ...), dy>
for a random direction v (a convolution is linear in its input and in its weight, affine in its
bias). Without PyTorch the torch comparisons skip and the reference ones still run.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

from convscope.ops.engine import tuning

try:
    import torch
except ImportError:  # the reference and the identities still check every op
    torch = None

HAS_TORCH = torch is not None
requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def oracles_line() -> str:
    """What the op tests check against in this run, for pytest's report header."""
    ref = "the reference convolution (ops/reference.py), finite differences and algebraic identities"
    if HAS_TORCH:
        return f"oracles: PyTorch {torch.__version__}, {ref}"
    return f"oracles: {ref}; PyTorch is not installed, so the comparisons with it are skipped"


def assert_close(ours, ref, dtype, what=""):
    ref = ref.detach().numpy() if HAS_TORCH and isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    tol = TOL[dtype]
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * scale, err_msg=what)


def directional(reference, arrays, i, v):
    """The derivative of reference(x, w[, b]) along v in argument i."""
    x, w = arrays[:2]
    if i == 0:
        return reference(v, w)
    if i == 1:
        return reference(x, v)
    return reference(np.zeros_like(x), w, v)


def check_op(ours, theirs, arrays, grad=None, dtype=np.float64, seed=0, reference=None):
    """Run ours(*arrays); compare with reference(*arrays) and, when torch is installed, with
    theirs(*tensors); with `grad`, compare every gradient too.

    grad(dy, *arrays) returns one gradient per array (None where the op has none to check).
    Returns our output.
    """
    arrays = [np.asarray(a, dtype) for a in arrays]
    out = ours(*arrays)
    assert out.dtype == dtype, f"output dtype {out.dtype} != input dtype {dtype}"
    dy = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    grads = grad(dy, *arrays) if grad is not None else ()
    for i, g in enumerate(grads):
        assert g is None or g.dtype == dtype, f"gradient {i} dtype {g.dtype}"
    if reference is not None:
        assert_close(out, reference(*arrays), dtype, "forward against the reference")
        rng = np.random.default_rng(seed + 1)
        for i, g in enumerate(grads):
            if g is not None:
                v = rng.standard_normal(g.shape)
                along = float(np.vdot(directional(reference, arrays, i, v), dy))
                scale = max(1.0, float(np.abs(g).ravel() @ np.abs(v).ravel()))
                assert abs(float(np.vdot(g, v)) - along) <= TOL[dtype] * scale, f"gradient {i} against the reference"
    if HAS_TORCH and theirs is not None:
        tensors = [torch.tensor(a, requires_grad=grad is not None) for a in arrays]
        ref = theirs(*tensors)
        assert_close(out, ref, dtype, "forward against torch")
        if grad is not None:
            ref.backward(torch.tensor(dy))
            for i, (g, t) in enumerate(zip(grads, tensors)):
                if g is not None:
                    assert_close(g, t.grad, dtype, f"gradient of input {i} against torch")
    return out


def random_arrays(rng, *shapes, dtype=np.float64):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@contextlib.contextmanager
def tiny_chunks(enabled=True):
    """Force the chunked and threaded code paths: every image split into single rows, one channel
    per block, image groups spread over threads however small the op."""
    if not enabled:
        yield
        return
    with tuning.override(chunk_bytes=1, depthwise_block_bytes=1, parallel_bytes=0):
        yield


def torch_pads(pads):
    """(lo, hi) per spatial axis -> F.pad's flat order (last axis first)."""
    return [p for lo_hi in reversed(pads) for p in lo_hi]


if HAS_TORCH:
    F = torch.nn.functional
    CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
    MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
    AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
else:
    CONV = CONV_T = MAX_POOL = AVG_POOL = {}
