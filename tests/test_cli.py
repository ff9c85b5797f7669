"""The main job: the lecture's worked example, checked against PyTorch and printed by the CLI."""
import subprocess
import sys

import numpy as np
import torch

from convscope import cli, lecture


def test_matrix_example_numbers_match_torch():
    ex = lecture.matrix_example()
    x = torch.tensor(ex["x"])[None, None]
    w = torch.tensor(ex["w"])[None, None]
    y = torch.nn.functional.conv2d(x, w)
    np.testing.assert_allclose(ex["y"], y[0, 0].numpy())
    np.testing.assert_allclose(ex["C_x"], y.numpy().ravel())
    np.testing.assert_allclose(ex["CT_y"], torch.nn.functional.conv_transpose2d(y, w).numpy().ravel())
    assert ex["C"].shape == (4, 16) and ex["forward_matches"] and ex["transpose_matches"]


def test_cli_prints_the_worked_example(capsys):
    assert cli.main(["matrix"]) == 0
    out = capsys.readouterr().out
    assert "matrix C" in out and "(4, 16)" in out
    assert out.count("True") == 2 and "False" not in out


def test_console_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "convscope.cli", "matrix"], capture_output=True, text=True, check=True)
    assert "C.T @ y.ravel() == conv_transpose(y, w).ravel(): True" in done.stdout
