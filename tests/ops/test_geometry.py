"""output_size / transposed_output_size against brute-force window counting and PyTorch shapes."""
import numpy as np
from hypothesis import assume, given, strategies as st

from convscope import ops
from tests.ops.oracle import requires_torch, torch

sizes = st.integers(1, 12)


@given(i=sizes, k=st.integers(1, 5), s=st.integers(1, 4), lo=st.integers(0, 3), hi=st.integers(0, 3),
       d=st.integers(1, 3))
def test_output_size_counts_the_windows_that_fit(i, k, s, lo, hi, d):
    span = d * (k - 1) + 1
    assume(i + lo + hi >= span)
    fits = [start for start in range(0, i + lo + hi) if start % s == 0 and start + span <= i + lo + hi]
    assert ops.output_size(i, k, s, (lo, hi), d) == len(fits)


@requires_torch
@given(i=sizes, k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2))
def test_ceil_mode_matches_torch_max_pool(i, k, s, p, d):
    assume(p <= k // 2 and i + 2 * p >= d * (k - 1) + 1)
    ref = torch.nn.functional.max_pool1d(torch.zeros(1, 1, i), k, s, p, d, ceil_mode=True)
    assert ops.output_size(i, k, s, p, d, ceil_mode=True) == ref.shape[-1]


@requires_torch
@given(i=st.integers(1, 8), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2),
       q=st.integers(0, 2))
def test_transposed_output_size_matches_torch(i, k, s, p, d, q):
    assume(q < s or q < d)
    assume((i - 1) * s - 2 * p + d * (k - 1) + q + 1 > 0)
    ref = torch.nn.functional.conv_transpose1d(torch.zeros(1, 1, i), torch.zeros(1, 1, k), stride=s, padding=p,
                                               output_padding=q, dilation=d)
    assert ops.transposed_output_size(i, k, s, p, d, q) == ref.shape[-1]


def test_full_padding_grows_by_the_dilated_kernel():
    assert ops.conv(np.ones((1, 1, 5)), np.ones((1, 1, 3)), padding="full", dilation=2).shape[-1] == 5 + 2 * 2
