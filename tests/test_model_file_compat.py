"""Model files written before the layers, graph runtime and model-file code moved (December 2026)
still open: both forms, their weights, and a `convscope train` run folder. The expected outputs
were computed by PyTorch (the layer form's twin, and the torch module the graph was converted from)."""
from pathlib import Path

import numpy as np
import pytest

import convscope as cs

HERE = Path(__file__).parent / "fixtures" / "model_files_2026_12"
EXPECTED = np.load(HERE / "torch_outputs.npz")


def _relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("form", ["layers", "graph"])
@pytest.mark.parametrize("planned", [False, True])
def test_a_saved_model_file_reopens_and_computes_what_torch_did(form, planned):
    model = cs.load_model(HERE / f"{form}.yaml")
    model.load_state_dict(cs.load(HERE / f"{form}.safetensors"))
    model.eval()
    x = cs.Tensor(EXPECTED[f"{form}_x"])
    if planned:
        with cs.no_grad():
            y = model(x).numpy()
    else:
        y = model(x).numpy()
    assert _relative(y, EXPECTED[f"{form}_y"]) < 1e-5


def test_a_saved_run_folder_reopens_with_its_history():
    run = cs.load_run(HERE / "runs" / "fc_digits")
    assert len(run.history["epochs"]) == 1 and run.facts["epochs"] == 1
    assert run.model(cs.Tensor(np.zeros((2, 1, 8, 8), np.float32))).shape == (2, 10)


@pytest.mark.parametrize("form", ["layers", "graph"])
def test_a_saved_model_file_summarises_shape_only(form):
    shape = {"layers": (1, 8, 8), "graph": (3, 6, 6)}[form]
    rows = cs.summary(str(HERE / f"{form}.yaml"), shape).rows
    assert rows[-1].output_shape[-1] == EXPECTED[f"{form}_y"].shape[-1]
