"""One helper to check an op against PyTorch: shape, dtype, values and every gradient."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from convscope.ops.engine import tuning

TOL = {np.float64: 1e-10, np.float32: 1e-4}


def assert_close(ours, ref, dtype, what=""):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    tol = TOL[dtype]
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * scale, err_msg=what)


def check_op(ours, theirs, arrays, grad=None, dtype=np.float64, seed=0):
    """Run ours(*arrays) and theirs(*tensors); compare outputs and, with `grad`, all gradients.

    grad(dy, *arrays) returns one gradient per array (None where the op has none to check).
    Returns our output.
    """
    arrays = [np.asarray(a, dtype) for a in arrays]
    tensors = [torch.tensor(a, requires_grad=grad is not None) for a in arrays]
    ref = theirs(*tensors)
    out = ours(*arrays)
    assert out.dtype == dtype, f"output dtype {out.dtype} != input dtype {dtype}"
    assert_close(out, ref, dtype, "forward")
    if grad is not None:
        dy = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
        ref.backward(torch.tensor(dy))
        for i, (g, t) in enumerate(zip(grad(dy, *arrays), tensors)):
            if g is not None:
                assert g.dtype == dtype, f"gradient {i} dtype {g.dtype}"
                assert_close(g, t.grad, dtype, f"gradient of input {i}")
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


CONV = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}
CONV_T = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
          3: torch.nn.functional.conv_transpose3d}
MAX_POOL = {1: torch.nn.functional.max_pool1d, 2: torch.nn.functional.max_pool2d,
            3: torch.nn.functional.max_pool3d}
AVG_POOL = {1: torch.nn.functional.avg_pool1d, 2: torch.nn.functional.avg_pool2d,
            3: torch.nn.functional.avg_pool3d}
