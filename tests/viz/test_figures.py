"""Figures are checked for what they show, against the computation they draw."""
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import convscope as cs
from convscope import cli, viz

nn = cs.nn
ROOT = pathlib.Path(__file__).resolve().parents[2]


def patches(ax, gid):
    return [p for p in ax.patches if p.get_gid() == gid]


@pytest.mark.parametrize("shape,k,s,p,d", [((5, 5), 3, 2, 1, 1), ((6, 7), 2, 1, 0, 2), ((4, 6), 3, 3, 1, 1), ((9,), 3, 2, 1, 1)])
def test_conv_steps_one_frame_per_output_each_window_at_its_receptive_region(shape, k, s, p, d):
    fig = viz.conv_steps(shape, k, s, p, d)
    out = [cs.ops.output_size(i, k, s, p, d) for i in shape]
    assert len(fig.frames) == int(np.prod(out)) >= len(fig.axes)  # the figure draws the frames a slide holds
    layer = (nn.Conv1d if len(shape) == 1 else nn.Conv2d)(1, 1, k, stride=s, padding=p, dilation=d)
    for ax in fig.axes:
        window = patches(ax, "window")
        assert len(window) == k ** len(shape)  # prod(kernel) cells under the kernel
        assert len(patches(ax, "current")) == 1
    for frame in fig.frames:
        o = frame["output"][-len(shape):]
        box = cs.receptive_region(layer, (1, *shape), o)
        rows = [r for r, _ in frame["inputs"]] if len(shape) == 2 else [0]
        cols = [c for _, c in frame["inputs"]]
        got = (slice(min(rows), max(rows) + 1), slice(min(cols), max(cols) + 1)) if len(shape) == 2 \
            else (slice(min(cols), max(cols) + 1),)
        assert got == box


def test_conv_steps_numeric_values_are_the_convolution():
    x, w = np.arange(16.0).reshape(4, 4), np.arange(1.0, 10.0).reshape(3, 3)
    fig = viz.conv_steps(x, w)
    np.testing.assert_allclose([f["value"] for f in fig.frames], cs.ops.conv(x[None, None], w[None, None]).ravel())
    assert fig.axes[0].get_title() == "output (0, 0) = 303"


def test_transposed_steps_cover_the_transposed_output(tmp_path):
    fig = viz.conv_steps((2, 2), 3, stride=2, padding=1, transposed=True)
    assert len(fig.frames) == cs.ops.transposed_output_size(2, 3, 2, 1) ** 2
    fig.save_animation(tmp_path / "t.gif")
    gif = Image.open(tmp_path / "t.gif")
    assert gif.n_frames == len(fig.frames)


def test_conv_matrix_draws_the_matrix_nonzero_pattern():
    w = np.random.default_rng(0).standard_normal((2, 1, 3, 3))
    fig = viz.conv_matrix((1, 5, 4), w, stride=(1, 2), padding=1)
    c = cs.ops.conv_matrix((1, 5, 4), w, stride=(1, 2), padding=1)
    drawn = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(drawn) != 0, c != 0)
    ids = np.asarray(drawn).astype(int)
    np.testing.assert_allclose(w.ravel()[ids[c != 0] - 1], c[c != 0])  # each colour is its weight


def test_receptive_field_1d_colours_exactly_the_region():
    model = nn.Sequential(nn.Conv1d(1, 1, 3, padding=1), nn.Conv1d(1, 1, 3, stride=2), nn.MaxPool1d(2))
    fig = viz.receptive_field_1d(model, 2, input_length=20)
    box = cs.receptive_region(model, (1, 20), (2,))
    assert fig.coloured["input"] == list(range(box[0].start, box[0].stop))
    drawn = sorted(int(p.get_gid().split(":")[1]) for p in fig.axes[0].patches
                   if p.get_gid() and p.get_gid().startswith("input:"))
    assert drawn == fig.coloured["input"]


def test_receptive_field_1d_numbers_layers_as_the_erratum_does():
    """The lecture's table is corrected to layers 1, 2, 3 (the input is layer 0): the figure agrees."""
    fig = viz.receptive_field_1d(nn.Sequential(*[nn.Conv1d(1, 1, 3) for _ in range(3)]), 0)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows == ["input", "layer 1: Conv1d 3", "layer 2: Conv1d 3", "layer 3: Conv1d 3"]
    fields = cs.lecture.erratum("receptive field table").true
    coloured = list(fig.coloured.values())  # bottom row first: the input, then layers 1, 2, 3
    assert all(f"layer {d}: {s}x{s}" in fields and len(coloured[d]) == 1 + 2 * (3 - d)
               for d, s in ((1, 3), (2, 5), (3, 7)))


def test_receptive_field_2d_boxes_and_saliency():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3))
    fig = viz.receptive_field_2d(model, (1, 12, 12), (0, 1, 2))
    last = list(fig.boxes.values())[-1]
    box = cs.receptive_region(model, (1, 12, 12), (1, 2))
    assert last == ((box[0].start, box[0].stop - 1), (box[1].start, box[1].stop - 1))
    nonzero = np.argwhere(fig.saliency > 0)
    assert (nonzero.min(0) >= [box[0].start, box[1].start]).all() and (nonzero.max(0) < [box[0].stop, box[1].stop]).all()


def test_training_figures_show_the_model_and_history():
    cs.manual_seed(0)
    model = cs.load_model(ROOT / "examples" / "lenet_digits.yaml")
    x, y, xt, yt = cs.data.digits()
    h = cs.fit(model, (x[:256], y[:256]), (xt[:64], yt[:64]), epochs=2, quiet=True)
    fm = viz.feature_maps(model, xt[0], "conv1")
    maps = [a for a in fm.axes if a.get_title().startswith("channel")]
    assert fm.maps.shape == (16, 8, 8) and len(maps) == 16
    np.testing.assert_allclose([a.images[0].get_array() for a in maps], fm.maps)
    kernels = [a for a in viz.kernels(model, "conv1").axes if a.images]
    np.testing.assert_array_equal([a.images[0].get_array() for a in kernels], model.conv1.weight.data[:, 0])
    lines = viz.history(h).axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), h["loss"])
    np.testing.assert_allclose(lines[1].get_ydata(), h["val_loss"])
    conf = viz.confusion(model, xt[:64], yt[:64])
    assert conf.counts.sum() == 64 and np.trace(conf.counts) / 64 == pytest.approx(cs.evaluate(model, xt[:64], yt[:64])[1])


def test_pooling_marks_the_kept_cells():
    x = np.random.default_rng(1).random((6, 6))
    fig = viz.pooling(x, "max", 2)
    y, idx = cs.ops.max_pool(x[None, None], 2, return_indices=True)
    assert sorted(fig.kept) == sorted(zip(*np.unravel_index(idx.ravel(), x.shape)))
    assert len(patches(fig.axes[0], "kept")) == 9
    fig = viz.pooling(x, "kmax", 2)
    assert len(fig.kept) == 12 and all(x[r, c] >= np.sort(x[r])[-2] for r, c in fig.kept)


def test_png_decodes_to_the_requested_size(tmp_path):
    fig = viz.conv_matrix((1, 4, 4), np.ones((1, 1, 3, 3)))
    fig.set_size_inches(6, 3)
    fig.savefig(tmp_path / "c.png", dpi=50)
    assert Image.open(tmp_path / "c.png").size == (300, 150)


def test_draw_commands(tmp_path, capsys):
    assert cli.main(["draw", "conv", "--input", "5x5", "--kernel", "3", "--stride", "2", "--padding", "1",
                     "-o", str(tmp_path / "conv.gif")]) == 0
    assert Image.open(tmp_path / "conv.gif").n_frames == 9
    assert cli.main(["draw", "matrix", "--input", "4x4", "--kernel", "3", "-o", str(tmp_path / "C.png")]) == 0
    assert cli.main(["draw", "rf", "lenet5", "--layer", "C3", "--unit", "0,0,0", "-o", str(tmp_path / "rf.png")]) == 0
    run = tmp_path / "runs"
    assert cli.main(["train", str(ROOT / "examples" / "lenet_digits.yaml"), "--epochs", "1", "--out", str(run),
                     "--quiet"]) == 0
    for what in ("kernels", "maps", "history"):
        assert cli.main(["draw", what, str(run / "lenet_digits"), "-o", str(tmp_path / f"{what}.png")]) == 0
        assert Image.open(tmp_path / f"{what}.png").size[0] > 100
    assert cli.main(["draw", "maps", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_tour_quick_writes_a_page_whose_files_all_exist(tmp_path):
    done = subprocess.run([sys.executable, "-m", "convscope.cli", "tour", "--quick", "--out", str(tmp_path / "tour")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "tour" / "index.html").read_text()
    refs = re.findall(r'src="([^"]+)"', page)
    assert len(refs) >= 10
    for ref in refs:
        assert (tmp_path / "tour" / ref).stat().st_size > 0
    assert "C @ x == conv(x, w): True" in done.stdout
