"""The reference convolution itself: by hand, against PyTorch, and adjoint to its transpose."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import assume, given

from convscope import ops
from tests.ops.oracle import CONV, CONV_T, assert_close, requires_torch, torch, torch_pads

from .test_conv import conv_cases, transposed_cases


def test_lecture_example_by_hand():
    """A 3x3 kernel of ones over 0..15 sums each 3x3 window: 0+1+2+4+5+6+8+9+10 = 45, and each
    step right adds 3 * 1, each step down 3 * 4 (and a stride of 2 keeps only the first)."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(ops.reference_conv(x, np.ones((1, 1, 3, 3)))[0, 0], [[45, 54], [81, 90]])
    np.testing.assert_array_equal(ops.reference_conv(x, np.ones((1, 1, 3, 3)), stride=2)[0, 0], [[45]])
    # padding 1: the corner window sees only 0, 1, 4, 5
    assert ops.reference_conv(x, np.ones((1, 1, 3, 3)), padding=1)[0, 0, 0, 0] == 0 + 1 + 4 + 5


def test_transpose_by_hand():
    """Each input cell stamps the kernel, times its value, at s * its position: [1, 2] with
    kernel [1, 10, 100] and stride 2 -> [1, 10, 100 + 2, 20, 200]."""
    out = ops.reference_conv_transpose(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0, 100.0]]]), stride=2)
    np.testing.assert_array_equal(out[0, 0], [1, 10, 102, 20, 200])


@given(case=conv_cases())
def test_reference_conv_transpose_is_the_adjoint(case):
    """<conv(x), y> == <x, conv_transpose(y)> between the two definitions."""
    assume(not case["flip"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case["batch"], case["c"], *case["in_size"]))
    w = rng.standard_normal((case["o"], case["c"] // case["groups"], *case["kernel"]))
    kw = dict(stride=case["stride"], dilation=case["dilation"], groups=case["groups"])
    y_conv = ops.reference_conv(x, w, padding=case["padding"], **kw)
    y = rng.standard_normal(y_conv.shape)
    out_pad = tuple((i + lo + hi - d * (k - 1) - 1) % s for i, (lo, hi), k, s, d in
                    zip(case["in_size"], case["pads"], case["kernel"], case["stride"], case["dilation"]))
    assume(all(q < s or q < d for q, s, d in zip(out_pad, case["stride"], case["dilation"])))
    back = ops.reference_conv_transpose(y, w, padding=tuple(case["pads"]), output_padding=out_pad, **kw)
    np.testing.assert_allclose(np.vdot(y_conv, y), np.vdot(x, back), rtol=1e-10, atol=1e-10)


@requires_torch
@given(case=conv_cases())
def test_reference_conv_matches_torch(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((case["batch"], case["c"], *case["in_size"]))
    w = rng.standard_normal((case["o"], case["c"] // case["groups"], *case["kernel"]))
    b = rng.standard_normal(case["o"])
    xt = torch.nn.functional.pad(torch.tensor(x), torch_pads(case["pads"]))
    ref = CONV[case["n"]](xt, torch.tensor(w), torch.tensor(b), stride=case["stride"], dilation=case["dilation"],
                          groups=case["groups"])
    ours = ops.reference_conv(x, w, b, stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                              groups=case["groups"])
    assert_close(ours, ref, np.float64, "reference_conv")


@requires_torch
@given(case=transposed_cases())
def test_reference_conv_transpose_matches_torch(case):
    kw = {k: case[k] for k in ("stride", "padding", "output_padding", "dilation", "groups")}
    rng = np.random.default_rng(2)
    y = rng.standard_normal((case["batch"], case["cin"], *case["in_size"]))
    w = rng.standard_normal((case["cin"], case["cout"] // case["groups"], *case["kernel"]))
    b = rng.standard_normal(case["cout"])
    ref = CONV_T[case["n"]](torch.tensor(y), torch.tensor(w), torch.tensor(b), **kw)
    assert_close(ops.reference_conv_transpose(y, w, b, **kw), ref, np.float64, "reference_conv_transpose")


def test_without_torch_the_reference_checks_still_run(tmp_path):
    """With torch unimportable, the conv tests skip their torch comparisons, run against the
    reference, pass, and the report header says so."""
    block = tmp_path / "torch"
    block.mkdir()
    (block / "__init__.py").write_text("raise ImportError('torch is blocked for this test')\n")
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(map(str, [tmp_path, root / "src", root]))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-q",
         "tests/ops/test_conv.py::test_conv_edge_geometries",
         "tests/ops/test_conv.py::test_same_padding_stride_one_equals_torch_same"],
        cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PyTorch is not installed, so the comparisons with it are skipped" in result.stdout
    assert "80 passed, 1 skipped" in result.stdout
