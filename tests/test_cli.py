"""The command line: the lecture's worked example checked against PyTorch, every mistake as one
line, the conventions (help, --version, python -m), the tables' widths, Ctrl-C and --resume."""
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import convscope as cs
from convscope import cli, lecture
from convscope import train as train_module

ROOT = Path(__file__).resolve().parents[1]


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


# ---------------------------------------------------------------------------- every mistake is one line

@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A `convscope train` run folder of the bundled LeNet (weights as initialised: nothing here trains)."""
    from convscope.model_files.examples import example_model
    from convscope.model_files.runs import write_run

    folder = tmp_path_factory.mktemp("runs") / "lenet_digits"
    cs.manual_seed(0)
    write_run(folder, cs.load_model(example_model("lenet_digits")), cs.History(), {"data": "digits"})
    return folder


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    conv = "layers:\n  - {type: Conv2d, in_channels: 1, out_channels: 2, kernel_size: 3}\n"
    files = {"zero_axis": "input_shape: 1x0x8\n" + conv, "bad_yaml": conv[:-2],
             "bad_layer": "layers:\n  - {type: Conv9d}\n",
             "no_kernel": "layers:\n  - {type: Conv2d, in_channels: 1, out_channels: 2}\n", "empty": "name: m\n",
             "three_classes": "layers:\n  - {type: Flatten}\n  - {type: Linear, in_features: 64, out_features: 3}\n"}
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    (folder / "not_onnx.onnx").write_bytes(b"not a protobuf")
    (folder / "plain_dir").mkdir()
    return folder


def failing_factory():
    raise KeyError("weights")


# (arguments, a phrase the one line must contain); RUN and MODELS are the fixtures' folders
MISTAKES = [
    ("draw conv --kernel 3", "needs --input"),
    ("draw matrix", "needs --input"),
    ("draw rf", "needs a model"),
    ("draw kernels", "needs a run folder"),
    ("draw maps RUN --index 5000", "0 <= index <= 358"),
    ("draw maps RUN --index -1", "not a test sample"),
    ("draw kernels RUN --layer fc1", "its convolutions are conv1, conv2"),
    ("draw cam RUN --index 400", "0 <= index <= 358"),
    ("draw cam RUN --layer conv9", "--layer 'conv9' is not"),
    ("draw history RUN", "no finished epoch"),
    ("draw conv --input 5x5 --padding wide", "--padding 'wide'"),
    ("draw conv --input 5x5 --kernel 9", "kernel 9"),
    ("draw rf lenet5 --unit a", "--unit 'a'"),
    ("draw kernels MODELS/plain_dir", "not a run folder"),
    ("size --input 3x32x32 --kernel 5 --padding abc", "must be an int or one of same, valid, full"),
    ("size --input 3xx32 --kernel 5", "--input '3xx32'"),
    ("size --input 3x32x32 --kernel 5 --stride 0", "stride"),
    ("size --input 3x8x8 --kernel 30", "kernel 30"),
    ("size --input 3x32x32 --kernel five", "invalid int value"),
    ("summary resnet18 --input 224x224", "no channel axis: Conv2d 'conv1' takes 3 channel(s) (channels x spatial "
                                         "sizes): --input 3x224x224"),
    ("summary lenet5 --input 1x32", "has 2 axes but Conv2d 'C1' takes 3 (channels x 2 spatial sizes): --input 1x32x32"),
    ("summary lenet5 --batch-size 0", "--batch-size: must be an int >= 1, got '0'"),
    ("size --input 3x8x8x8x8 --kernel 3", "channels and 1 to 3 spatial sizes"),
    ("size --input 8 --kernel 3", "channels and 1 to 3 spatial sizes"),
    ("summary lenet5 --input 1x-3x28", "must be positive sizes"),
    ("summary lenet5 --input 2x32x32", "2 channels"),
    ("summary lenet5 --json --markdown", "not allowed with"),
    ("summary no_such_model", "unknown zoo model 'no_such_model', and no model file, run folder or bundled"),
    ("summary missing.yaml", "missing.yaml does not exist"),
    ("summary missing.onnx", "missing.onnx does not exist"),
    ("summary MODELS/not_onnx.onnx", "not a valid ONNX model"),
    ("summary MODELS/zero_axis.yaml", "input_shape '1x0x8' must be positive sizes"),
    ("summary MODELS/bad_yaml.yaml", "not valid YAML"),
    ("summary MODELS/bad_layer.yaml", "Conv9d"),
    ("summary MODELS/no_kernel.yaml", "kernel_size"),
    ("summary MODELS/empty.yaml", "'layers' list"),
    ("summary MODELS/plain_dir", "not a run folder"),
    ("summary torch:no_such_package.models:net", "No module named 'no_such_package'"),
    ("summary torch:tests.test_cli:failing_factory", "KeyError"),
    ("summary torch:os:getcwd", "not a torch.nn.Module"),
    ("summary torch:os", "write torch:package.module:factory"),
    ("compare lenet5 resnet18", "different inputs (lenet5 1x32x32, resnet18 3x224x224)"),
    ("train MODELS/missing.yaml", "does not exist"),
    ("train lenet_digits --batch-size 0", "batch_size must be an int >= 1, got 0"),
    ("train lenet_digits --data cifar", "--data 'cifar': not a bundled data set"),
    ("train lenet_digits --lr -1", "lr must be > 0"),
    ("train lenet_digits --data mnist1d", "a mnist1d sample 1x40 has 2 axes but Conv2d 'conv1' takes 3"),
    ("train lenet5", "lenet5 cannot take a digits sample of shape 1x8x8"),
    ("train MODELS/three_classes.yaml", "has 10 classes: the last layer needs at least 10 outputs"),
    ("tour --out MODELS/zero_axis.yaml/tour", "zero_axis.yaml"),
    ("experiment stacking --out MODELS/zero_axis.yaml/out", "zero_axis.yaml"),
    ("experiment nope", "invalid choice"),
    ("nope", "invalid choice"),
]


@pytest.mark.parametrize("line, phrase", MISTAKES)
def test_a_mistake_is_one_line_on_stderr_with_exit_code_2(line, phrase, run_folder, model_files, capsys):
    argv = line.replace("RUN", str(run_folder)).replace("MODELS", str(model_files)).split()
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse's own usage errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("convscope"), err
    assert "Traceback" not in err and phrase in err, err


def test_train_takes_a_model_with_more_outputs_than_classes_as_fit_does(tmp_path, capsys):
    """One rule for the command and for `fit`: at least one output per class (extra ones are allowed)."""
    from convscope.train import scores_classes

    model = tmp_path / "twelve.yaml"
    model.write_text("layers:\n  - {type: Flatten}\n  - {type: Linear, in_features: 64, out_features: 12}\n")
    assert cli.main(["train", str(model), "--epochs", "1", "--quiet", "--out", str(tmp_path / "runs")]) == 0
    x, y = cs.data.digits()[:2]
    cs.fit(cs.load_model(model), (x, y), epochs=1, quiet=True)
    assert [scores_classes(s, 10) for s in ((1, 12), (1, 10), (1, 9), (1, 10, 2), (10,))] == \
        [True, True, False, False, False]


def test_a_diverging_run_says_so_in_one_line_without_numpy_warnings(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (overflow, invalid value) would fail here
        code = cli.main(["train", "lenet_digits", "--epochs", "1", "--lr", "1e30", "--optimizer", "sgd", "--quiet",
                         "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert re.search(r"loss is (nan|inf) at epoch 1, batch \d+ of 23", err), err


# ---------------------------------------------------------------------------- conventions

def test_bare_convscope_prints_help_naming_the_tour(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: convscope") and "convscope tour" in out
    assert "thin layer" not in out and out.count("(default") <= 1
    for command in ("tour", "matrix", "train", "summary", "size", "compare", "draw", "experiment"):
        assert f"    {command}" in out


def test_version_and_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "convscope", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"convscope {cs.__version__}"
    done = subprocess.run([sys.executable, "-m", "convscope", "matrix"], capture_output=True, text=True, check=True)
    assert "C @ x.ravel() == conv(x, w).ravel():            True" in done.stdout


def test_summary_fits_80_columns_and_wide_keeps_every_column(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["summary", "resnet18"]) == 0
    narrow = capsys.readouterr().out
    assert max(map(len, narrow.splitlines())) <= 80
    assert "RF size" in narrow and "params" in narrow and "RF start" not in narrow
    rows = cs.summary(cs.zoo.load("resnet18"), (3, 224, 224)).rows
    assert all(f"│ {'  ' * r.depth}{r.name} " in narrow for r in rows)  # one line per layer: nothing wraps
    assert cli.main(["summary", "resnet18", "--wide"]) == 0
    wide = capsys.readouterr().out
    assert all(column in wide for column in cs.analysis.Summary.HEAD)


def test_compare_aligns_long_names_and_gives_bytes(tmp_path, monkeypatch, capsys):
    long_file = tmp_path / "lenet5_with_a_rather_long_name.yaml"
    long_file.write_text((ROOT / "src" / "convscope" / "model_files" / "zoo" / "lenet5.yaml").read_text())
    specs = ["lenet5", str(long_file)]
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["compare", *specs, "--input", "1x32x32"]) == 0
    narrow = capsys.readouterr().out
    assert max(map(len, narrow.splitlines())) <= 80 and "…" not in narrow  # folded, never cut
    monkeypatch.setenv("COLUMNS", "120")
    assert cli.main(["compare", *specs, "--input", "1x32x32"]) == 0
    out = capsys.readouterr().out
    assert "bytes" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == ["lenet5", "lenet5_with_a_rather_long_name"]
    assert len({r.index("│", 2) for r in rows}) == 1  # one column width: the names line up
    expected = cs.compare(*map(cs.resolve_model, specs), input_shape=(1, 32, 32)).rows
    units = {"B": 1, "KB": 2 ** 10, "MB": 2 ** 20, "GB": 2 ** 30}
    for row, line in zip(expected, rows):
        value, unit = line.split("│")[4].split()
        assert abs(float(value) * units[unit] - row["activation_bytes"]) <= 0.005 * row["activation_bytes"]


def test_size_prints_a_transposed_receptive_field_as_numbers(capsys):
    assert cli.main(["size", "--input", "3x8x8", "--kernel", "5", "--stride", "2", "--padding", "1",
                     "--transposed", "--output-padding", "1"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("receptive field"))
    # stride 2 transposed: one output step is half an input step, so the jump is 0.5 per axis
    assert "jump 0.5x0.5" in line and "'" not in line and "/" not in line


# ---------------------------------------------------------------------------- train: Ctrl-C and --resume

def test_ctrl_c_leaves_weights_draw_reads_and_resume_says_where(tmp_path, monkeypatch, capsys):
    calls = {"n": 0}

    class InterruptingLoss(cs.nn.CrossEntropyLoss):
        def forward(self, logits, target):
            calls["n"] += 1
            if calls["n"] == 16:  # 12 batches and the test loss of epoch 1, then epoch 2, batch 3
                os.kill(os.getpid(), signal.SIGINT)
            return super().forward(logits, target)

    monkeypatch.setattr(train_module, "CrossEntropyLoss", InterruptingLoss)
    monkeypatch.setenv("COLUMNS", "400")  # so that rich folds no path
    argv = ["train", "lenet_digits", "--epochs", "2", "--batch-size", "128", "--quiet", "--out", str(tmp_path)]
    assert cli.main(argv) == 130
    assert "interrupted at epoch 2, batch 3" in " ".join(capsys.readouterr().out.split())  # rich folds lines
    folder = tmp_path / "lenet_digits"
    run = cs.load_run(folder)
    checkpoint = cs.load(folder / "checkpoint.safetensors")  # a checkpoint's model weights, by cs.load
    assert checkpoint.keys() == run.model.state_dict().keys()
    for name, value in run.model.state_dict().items():
        np.testing.assert_array_equal(value, checkpoint[name])
    assert [e["epoch"] for e in run.history["epochs"]] == [1]
    assert cli.main(["draw", "kernels", str(folder), "-o", str(tmp_path / "k.png")]) == 0
    assert (tmp_path / "k.png").stat().st_size > 0

    monkeypatch.setattr(train_module, "CrossEntropyLoss", cs.nn.CrossEntropyLoss)
    assert cli.main([*argv, "--resume"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"resuming from {folder / 'checkpoint.safetensors'}: epoch 2 of 2, after batch 3" in out


def test_a_run_folder_and_a_bundled_example_name_are_models(run_folder, capsys):
    import json

    assert cli.main(["summary", str(run_folder), "--json"]) == 0
    from_run = json.loads(capsys.readouterr().out)
    assert cli.main(["summary", "lenet_digits", "--json"]) == 0
    by_name = json.loads(capsys.readouterr().out)
    model = cs.load_model(ROOT / "examples" / "lenet_digits.yaml")
    assert from_run["totals"]["params"] == by_name["totals"]["params"] == sum(p.data.size for p in model.parameters())
    assert from_run["input_shape"] == by_name["input_shape"] == [1, 8, 8]


def test_a_trained_run_is_replaced_only_by_resume_or_overwrite(tmp_path, capsys):
    """Nothing the user did not name is overwritten: --epochs 0 is refused, and a run folder that holds a
    run keeps its weights and history unless --resume or --overwrite is given."""
    base = ["train", "fc_digits", "--quiet", "--out", str(tmp_path)]
    assert cli.main(base + ["--epochs", "1"]) == 0
    run = tmp_path / "fc_digits"
    kept = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(SystemExit) as stop:
        cli.main(base + ["--epochs", "0"])
    assert stop.value.code == 2 and "--epochs: must be an int >= 1, got '0'" in capsys.readouterr().err
    assert cli.main(base + ["--epochs", "1"]) == 2
    assert "already holds a run (model.safetensors, checkpoint.safetensors): continue it with --resume, replace it " \
           "with --overwrite" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == kept
    assert cli.main(base + ["--epochs", "1", "--overwrite"]) == 0


@pytest.mark.parametrize("argv", [["train", "fc_digits", "--quiet", "--epochs", "1", "--out", ""], ["tour", "--out", " "],
                                  ["experiment", "stacking", "--out", ""], ["explore", "lenet5", "-o", ""]])
def test_an_empty_output_is_refused(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2 and "is empty: name the folder or file to write" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_explore_checks_its_image_first_and_keeps_files_it_did_not_write(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    assert cli.main(["explore", "lenet5", "--image", "notes.txt"]) == 2
    assert "--image notes.txt: not an image file Pillow can read" in capsys.readouterr().err
    (tmp_path / "explore.html").write_text("<p>my page</p>")
    assert cli.main(["explore", "lenet_digits"]) == 2
    assert "explore.html exists and is not a page convscope wrote" in capsys.readouterr().err
    assert (tmp_path / "explore.html").read_text() == "<p>my page</p>"
    assert cli.main(["explore", "lenet_digits", "-o", "mine.html"]) == 0
    assert cli.main(["explore", "lenet_digits", "-o", "mine.html"]) == 0  # its own page is replaced


@pytest.mark.parametrize("argv, message", [
    (["draw", "matrix", "--input", "1x40", "--kernel", "1000000000"], "--kernel makes 1,000,000,000,000,000,000 cells"),
    (["draw", "conv", "--input", "5000x5000"], "--input makes 25,000,000 cells to draw"),
    (["draw", "conv", "--input", "5x5", "--kernel", "9"], "kernel 9"),
    (["size", "--input", "32x32", "--kernel", "3"], "--input 32x32 reads two ways: 32 channel(s) of a 1-D signal"),
    (["train", "fc_digits", "--nproc", "100000"], "100000 processes on a machine with"),
])
def test_sizes_are_checked_before_anything_is_allocated(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    assert code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_size_takes_a_1d_signal_when_told(capsys):
    assert cli.main(["size", "--input", "32x32", "--kernel", "3", "--1d"]) == 0
    assert "output shape: 1x30" in capsys.readouterr().out


def test_draw_cam_lays_each_method_over_the_test_image(run_folder, tmp_path):
    """The figure shows, for class --label, the very maps cs.analysis.cam computes."""
    out = tmp_path / "cam.png"
    assert cli.main(["draw", "cam", str(run_folder), "--index", "2", "--label", "7", "-o", str(out)]) == 0
    assert out.stat().st_size > 0
    run = cs.load_run(run_folder)
    x = cs.data.digits()[2][2]
    fig = cs.viz.class_activation(run.model, x, "conv2", 7)
    for ax, method in zip(fig.axes[1:4], ("gradcam", "layercam", "eigencam")):
        assert ax.get_title() == method
        np.testing.assert_array_equal(ax.images[-1].get_array(), cs.analysis.cam(run.model, x[None], "conv2", [7],
                                                                                  method=method)[0])


def test_predict_lists_each_image_most_probable_classes(run_folder, tmp_path, capsys):
    """--json gives, per file, the top classes of the run's model for the image as decoded to its input."""
    import json

    from PIL import Image

    from convscope.train import predict

    files = []
    for i, img in enumerate(cs.data.digits()[2][:2, 0]):
        files.append(tmp_path / f"digit{i}.png")
        Image.fromarray((img * 255).astype(np.uint8)).resize((20, 12)).save(files[-1])  # any size: resized
    assert cli.main(["predict", str(run_folder), *map(str, files), "--top", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    logits = predict(cs.load_run(run_folder).model, np.stack([cs.data.read_image(f, (1, 8, 8)) for f in files])).astype(np.float64)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for item, f, p in zip(result, files, probs):
        assert item["image"] == str(f) and [c["class"] for c in item["top"]] == list(np.argsort(-p)[:3])
        np.testing.assert_allclose([c["probability"] for c in item["top"]], np.sort(p)[::-1][:3], rtol=1e-9)
    assert cli.main(["predict", str(run_folder), str(files[0]), "--top", "0"]) == 2
    assert "convscope predict: --top must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["draw", "conv", "--input", "3x3", "--kernel", "5"], "convscope draw: conv --input 3x3 (spatial axis 0): kernel 5"),
    (["draw", "rf", "lenet5", "--unit", "0,99,99"], "convscope draw: unit (99, 99) is not a position of the layer's "
                                                    "output: its spatial shape is (1, 1)"),
])
def test_messages_speak_of_the_options_not_of_internal_functions(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv + ["-o", "f.png"]) == 2
    err = capsys.readouterr().err
    assert message in err and "output_size" not in err and "receptive_region" not in err


def test_onnx_initializer_with_an_unknown_data_type_is_one_line(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    model = cs.load_model(Path(__file__).parent / "fixtures" / "model_files_2026_12" / "layers.yaml").eval()
    path = tmp_path / "m.onnx"
    cs.to_onnx(model, (1, 8, 8), path)
    proto = onnx.load(path)
    proto.graph.initializer[0].data_type = 999
    onnx.save(proto, path)
    assert cli.main(["summary", str(path), "--input", "1x8x8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be read: its data_type is not one ONNX defines" in err
