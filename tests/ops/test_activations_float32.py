"""SiLU, hard swish and hard sigmoid in float32, computed in cache-sized pieces with in-place passes:
against PyTorch element by element (SiLU within 1e-6 relative even where sigma(x) is tiny, the hard
ones exactly), over generated shapes that straddle the pieces' boundaries, wide ranges, special
values and non-contiguous views; gradients against PyTorch's."""
import numpy as np
import pytest
import torch
import torch.nn.functional as tf
from hypothesis import given, settings, strategies as st

from convscope.ops.engine.tuning import CHUNK_BYTES
from convscope.ops.primitives import activations as A

OPS = {"silu": (A.silu.forward, tf.silu, 1e-6), "hardswish": (A.hardswish.forward, tf.hardswish, 0.0),
       "hardsigmoid": (A.hardsigmoid.forward, tf.hardsigmoid, 0.0)}
PIECE = CHUNK_BYTES // 4  # float32 items per piece


def _close(got, want, rel):
    assert got.dtype == want.dtype and got.shape == want.shape
    both_nan = np.isnan(got) & np.isnan(want)
    same = (got == want) | both_nan
    err = np.abs(got.astype(np.float64) - want) <= rel * np.abs(want.astype(np.float64))
    bad = ~(same | err)
    assert not bad.any(), (got[bad][:5], want[bad][:5])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(OPS)), size=st.sampled_from([1, 7, PIECE - 1, PIECE, PIECE + 3, 2 * PIECE + 5]),
       scale=st.sampled_from([0.1, 4.0, 40.0, 200.0]), strided=st.booleans(), seed=st.integers(0, 2**16))
def test_float32_forward_equals_torch(name, size, scale, strided, seed):
    ours, theirs, rel = OPS[name]
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(2 * size if strided else size) * scale).astype(np.float32)
    x[: min(size, 6)] = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -3.0], np.float32)[: min(size, 6)]
    if strided:
        x = x[::2]
    with np.errstate(invalid="ignore"):  # -inf * 0 and -inf / inf: NaN, as in PyTorch
        y, _ = ours(x)
        _close(y, theirs(torch.from_numpy(np.ascontiguousarray(x))).numpy(), rel)


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradients_equal_torch(name):
    ours, theirs, _ = OPS[name]
    x = np.random.default_rng(1).uniform(-8, 8, (3, 5, 7))
    x[np.abs(np.abs(x) - 3) < 1e-3] += 0.01  # off the kinks
    g = np.random.default_rng(2).standard_normal(x.shape)
    xt = torch.from_numpy(x).requires_grad_()
    theirs(xt).backward(torch.from_numpy(g))
    # PyTorch's float64 hard sigmoid backward multiplies by a float32 1/6 (3e-8 relative off)
    rtol = 1e-7 if name == "hardsigmoid" else 1e-12
    np.testing.assert_allclose(ours(x)[1](g)[0], xt.grad.numpy(), rtol=rtol, atol=1e-14)

