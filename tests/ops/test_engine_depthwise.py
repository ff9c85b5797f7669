"""Depthwise convolutions on both engine paths, the compiled kernels (numba, when installed) and the
NumPy fallback: each against PyTorch and the reference convolution (forward, input and weight
gradients), and against each other, over random geometries with channel multipliers, strides,
dilations, asymmetric padding, 1-D to 3-D, and blocks forced down to one plane on two threads."""
import importlib.util

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from convscope import ops
from convscope.ops.engine import compiled, depthwise, tuning
from convscope.ops.geometry import WindowGeometry
from tests.ops.test_conv import reference_pads, run_conv_case

PATHS = {"compiled": True, "numpy": False}
HAS_NUMBA = importlib.util.find_spec("numba") is not None


@pytest.fixture(params=list(PATHS))
def path(request):
    with tuning.override(compiled=PATHS[request.param]):
        yield request.param


def on(path: str, **changes):
    return tuning.override(compiled=PATHS[path], **changes)


def test_compiled_kernels_run_exactly_when_numba_is_installed():
    """Without numba the fallback is the NumPy path; with it, float32 and float64 compile and other
    dtypes (and compiled=False) take the NumPy path."""
    assert (compiled.kernels(np.float32) is not None) == HAS_NUMBA
    assert (compiled.kernels(np.float64) is not None) == HAS_NUMBA
    assert compiled.kernels(np.float16) is None
    with tuning.override(compiled=False):
        assert compiled.kernels(np.float32) is None


@st.composite
def depthwise_cases(draw):
    n = draw(st.integers(1, 3))
    groups, m = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3 if n == 3 else 5)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    in_size = tuple(draw(st.integers(1, 6 if n == 3 else 12)) for _ in range(n))
    padding = draw(st.one_of(st.sampled_from(["valid", "same", "full"]), st.integers(0, 2),
                             st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3)) for _ in range(n)])))
    if padding == "same":
        assume(all(s == 1 for s in stride))  # PyTorch refuses 'same' with a stride
    pads = reference_pads(padding, in_size, kernel, stride, dilation)
    assume(all(i + lo + hi >= d * (k - 1) + 1 for i, (lo, hi), k, d in zip(in_size, pads, kernel, dilation)))
    return dict(n=n, batch=draw(st.integers(1, 3)), c=groups, o=groups * m, groups=groups, kernel=kernel,
                stride=stride, dilation=dilation, padding=padding, pads=pads, in_size=in_size,
                bias=draw(st.booleans()), flip=draw(st.integers(0, 4)) == 0, tiny=draw(st.booleans()),
                merge_cells=draw(st.sampled_from([1, 24, 40, 2048])))


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=depthwise_cases())
@settings(max_examples=60)
def test_depthwise_matches_torch_and_the_reference(path, case, dtype):
    """`tiny` forces one plane per block and two threads, so block and thread boundaries fall
    between every pair of planes (and between the channels of one image); `merge_cells` cuts the
    compiled forward's merged runs of rows anywhere from one row to the whole plane."""
    with on(path, threads=2, depthwise_merge_cells=case["merge_cells"]):
        run_conv_case(case, dtype)


@given(case=depthwise_cases())
@settings(max_examples=40)
def test_the_two_paths_agree(case):
    """Same forward to the bit (the same products summed in the same order); gradients within
    float64 rounding (their sums run in other orders)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((case["batch"], case["c"], *case["in_size"]))
    w = rng.standard_normal((case["o"], 1, *case["kernel"]))
    kw = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    dy = rng.standard_normal(ops.conv(x, w, **kw).shape)
    runs = []
    for compiled_on in (True, False):
        with tuning.override(compiled=compiled_on, depthwise_merge_cells=case["merge_cells"]):
            runs.append((ops.conv(x, w, **kw), *ops.conv_backward(dy, x, w, **kw)[:2]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1:], runs[1][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, float(np.abs(b).max())))


@pytest.mark.parametrize("stride", [1, 2])
def test_threaded_depthwise_is_bitwise_repeatable(path, stride):
    """Blocks of planes on two threads: the same bytes from call to call, weight gradient included
    (its per-thread partial sums take their blocks in a fixed order)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6, 13, 11)).astype(np.float32)
    w = rng.standard_normal((12, 1, 3, 3)).astype(np.float32)
    kw = dict(stride=stride, padding=1, groups=6)
    dy = rng.standard_normal(ops.conv(x, w, **kw).shape).astype(np.float32)
    with tuning.override(threads=2, depthwise_block_bytes=1, parallel_bytes=0):
        runs = [(ops.conv(x, w, **kw), *ops.conv_backward(dy, x, w, **kw)[:2]) for _ in range(3)]
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            np.testing.assert_array_equal(a, b)


def test_layout_reads_every_tap_from_the_padded_cell_it_names():
    """The compiled layout's offsets, stride phases included, against the padded input itself:
    cell bases[r] + offsets[t] + l of the scratch plane holds padded cell (r*s + t*d, l*s + t*d)."""
    geo = WindowGeometry((7, 10), (2, 3), (2, 3), (1, 2), ((1, 0), (2, 1)), (4, 3), 1)
    layout = depthwise._Layout(geo, tuning.current())
    x = np.arange(1.0, 71.0).reshape(7, 10)
    xp = np.zeros(layout.plane)
    for i, row in enumerate(x):
        xp[layout.rows[i] + layout.cols] = row
    padded = np.pad(x, geo.pads)
    for t, (ty, tx) in enumerate(np.ndindex(*geo.kernel)):
        for r in range(geo.out_size[0]):
            got = xp[layout.bases[r] + layout.offsets[t] + np.arange(layout.length)]
            want = padded[r * 2 + ty, np.arange(layout.length) * 3 + tx * 2]
            np.testing.assert_array_equal(got, want)
