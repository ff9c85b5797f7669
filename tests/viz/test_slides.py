"""Every figure is slide-ready: titled, text inside the canvas, legends off the data, readable text,
colour bars where colour is a value, 150 dpi by default, byte-for-byte repeatable."""
import io
import pathlib

import numpy as np
import pytest
from PIL import Image

import convscope as cs
from convscope import cli, viz
from convscope.viz import style

from .slides import assert_slide_ready, contrast, render

nn = cs.nn
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained():
    cs.manual_seed(0)
    model = cs.load_model(ROOT / "examples" / "lenet_digits.yaml")
    x, y, xt, yt = cs.data.digits()
    h = cs.fit(model, (x[:256], y[:256]), (xt[:64], yt[:64]), epochs=3, quiet=True)
    return model, h, xt, yt


def _figures(trained):
    model, h, xt, yt = trained
    x, w = np.arange(16.0).reshape(4, 4), np.arange(1.0, 10.0).reshape(3, 3)
    return {
        "conv_steps": viz.conv_steps((5, 5), 3, stride=2, padding=1),
        "conv_values": viz.conv_steps(x, w),
        "conv_transposed": viz.conv_steps((2, 2), 3, stride=2, padding=1, transposed=True),
        "conv_1d": viz.conv_steps((9,), 3, stride=2, padding=1),
        "matrix": viz.conv_matrix((1, 4, 4), w[None, None]),
        "matrix_1d": viz.conv_matrix((1, 6), np.arange(1.0, 4.0)[None, None]),
        "matrix_large": viz.conv_matrix((1, 16, 16), w[None, None]),
        "rf_1d": viz.receptive_field_1d(nn.Sequential(nn.Conv1d(1, 1, 3), nn.Conv1d(1, 1, 3)), 2),
        "rf_2d": viz.receptive_field_2d(model, (1, 8, 8), (0, 1, 1), image=xt[0]),
        "pooling": viz.pooling(np.round(xt[1, 0], 2), "max", 2),
        "feature_maps": viz.feature_maps(model, xt[0], "conv1"),
        "kernels": viz.kernels(model, "conv1"),
        "history": viz.history(h),
        "confusion": viz.confusion(model, xt, yt),
        "saliency_cam": viz.saliency_and_cam(model, xt[:4], "conv2", labels=yt[:4]),
    }


@pytest.fixture(scope="module")
def figures(trained):
    return _figures(trained)


NAMES = ["conv_steps", "conv_values", "conv_transposed", "conv_1d", "matrix", "matrix_1d", "matrix_large", "rf_1d",
         "rf_2d", "pooling", "feature_maps", "kernels", "history", "confusion", "saliency_cam"]


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_is_titled_inside_its_canvas_and_keeps_legends_off_the_data(figures, name):
    assert_slide_ready(figures[name])


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_saves_at_150_dpi_and_at_most_4000_pixels(figures, name):
    fig = figures[name]
    size = Image.open(io.BytesIO(render(fig))).size
    expected = np.round(fig.get_size_inches() * min(150, 4000 / max(fig.get_size_inches()))).astype(int)
    assert max(size) <= 4000
    assert abs(size[0] - expected[0]) <= 1 and abs(size[1] - expected[1]) <= 1


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_two_renders_of_the_same_figure_are_the_same_bytes(trained, fmt):
    first, second = _figures(trained), _figures(trained)
    for name in ("conv_values", "matrix", "rf_2d", "history", "feature_maps"):
        assert render(first[name], fmt) == render(second[name], fmt), name


def test_gif_is_repeatable(tmp_path):
    for path in (tmp_path / "a.gif", tmp_path / "b.gif"):
        viz.conv_steps((5, 5), 3, stride=2, padding=1).save_animation(path)
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()


def test_svg_when_asked_is_vector(tmp_path, figures):
    figures["matrix"].savefig(tmp_path / "C.svg")
    text = (tmp_path / "C.svg").read_text()
    assert text.lstrip().startswith("<?xml") and text.count("<path") > 50  # cells, edges and glyphs as paths


# ------------------------------------------------------------------------------ matrix C

@pytest.mark.parametrize("shape,k", [((1, 4, 4), 3), ((1, 6), 3), ((1, 5, 5), 5), ((1, 5, 5), 2)])
def test_matrix_gives_every_weight_its_own_colour_and_readable_text(shape, k):
    w = np.arange(1.0, k ** (len(shape) - 1) + 1).reshape(1, 1, *([k] * (len(shape) - 1)))
    fig = viz.conv_matrix(shape, w)
    cmap = fig.axes[0].images[0].get_cmap()
    colours = [tuple(cmap(i)) for i in range(w.size + 1)]
    assert len(set(colours)) == w.size + 1  # white and one colour per weight
    c = cs.ops.conv_matrix(shape, w)
    drawn = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(w.ravel()[drawn[c != 0].astype(int) - 1], c[c != 0])
    cells = [t for t in fig.axes[0].texts if t.get_text().startswith("w")]
    assert len(cells) == int((c != 0).sum())
    for t in cells:
        x, y = t.get_position()
        under = colours[int(drawn[int(round(y)), int(round(x))])]
        assert contrast(t.get_color(), under) >= 4.5


def test_large_matrix_draws_the_pattern_with_a_note_and_stays_under_4000_pixels(tmp_path):
    assert cli.main(["draw", "matrix", "--input", "16x16", "-o", str(tmp_path / "C.png")]) == 0
    assert max(Image.open(tmp_path / "C.png").size) <= 4000
    fig = viz.conv_matrix((1, 16, 16), np.ones((1, 1, 3, 3)))
    assert not [t for t in fig.axes[0].texts]  # no labelled cells
    assert "too large to label" in fig.axes[0].get_title()
    assert (np.asarray(fig.axes[0].images[0].get_array()) != 0).sum() == 14 * 14 * 9


@pytest.mark.parametrize("make", [
    lambda: viz.conv_steps((4, 4), 3, stride=2, transposed=True),  # 81 output positions
    lambda: viz.conv_steps((9, 9), 3),
    lambda: viz.conv_steps(np.arange(49.0).reshape(7, 7), np.ones((3, 3))),
    lambda: viz.conv_steps((40,), 3),
    lambda: viz.conv_matrix((1, 7, 7), np.ones((1, 1, 2, 2))),
    lambda: viz.conv_matrix((1, 8, 8), np.ones((1, 1, 3, 3))),
    lambda: viz.conv_matrix((1, 40), np.ones((1, 1, 3))),
])
def test_large_inputs_still_fit_a_slide_as_do_their_animation_frames(make):
    fig = make()
    assert_slide_ready(fig)
    if hasattr(fig, "frames"):
        assert_slide_ready(fig.frame_figure(fig.frames[-1]))
        assert len(fig.axes) >= min(len(fig.frames), 4)  # as many frames as fit, not one giant grid
        if len(fig.axes) < len(fig.frames):
            assert f"first {len(fig.axes)} of {len(fig.frames)} frames" in fig._suptitle.get_text().replace("\n", " ")


def test_big_figures_are_capped_at_4000_pixels_a_side(tmp_path):
    fig = style.figure(60, 10)
    fig.savefig(tmp_path / "big.png", dpi=300)
    assert Image.open(tmp_path / "big.png").size == (4000, 666)


# ------------------------------------------------------------------------------ conv steps

def test_conv_steps_window_outlines_the_padding_instead_of_hiding_it():
    fig = viz.conv_steps((5, 5), 3, stride=2, padding=1)
    padding = 7 * 7 - 5 * 5
    for ax in fig.axes:
        assert len([p for p in ax.patches if p.get_gid() == "padding"]) == padding
        windows = [p for p in ax.patches if p.get_gid() == "window"]
        assert len(windows) == 9 and all(p.get_facecolor()[3] == 0 for p in windows)  # outlines only


@pytest.mark.parametrize("args,kw,expect", [
    (((5, 5), 3), dict(stride=2, padding=1), ["input 5x5", "kernel 3x3", "stride 2", "padding 1", "output 3x3"]),
    (((9,), 3), dict(stride=2, padding=1), ["input 9,", "kernel 3,", "stride 2,", "padding 1", "output 5"]),
    (((2, 2), 3), dict(stride=2, padding=1, transposed=True),
     ["transposed", "input 2x2", "stride 2", "padding 1", "output 3x3", "d(k-1) - p = 1"]),
    (((6, 7), 2), dict(stride=(1, 2), dilation=2), ["stride 1x2", "dilation 2", "output 4x3"]),
])
def test_conv_steps_title_states_every_setting(args, kw, expect):
    title = viz.conv_steps(*args, **kw)._suptitle.get_text().replace("\n", " ")
    for part in expect:
        assert part in title
    assert "see frames" not in title and "(1, " not in title


def test_conv_values_show_the_kernel_weights_and_the_outputs_so_far():
    x, w = np.arange(16.0).reshape(4, 4), np.arange(1.0, 10.0).reshape(3, 3)
    fig = viz.conv_steps(x, w)
    y = cs.ops.conv(x[None, None], w[None, None]).ravel()
    for i, ax in enumerate(fig.axes):
        weights = [t.get_text() for t in ax.texts if t.get_gid() == "weight"]
        assert weights == [f"w={v:g}" for v in w.ravel()]
        outputs = [float(t.get_text()) for t in ax.texts if t.get_gid() == "output value"]
        np.testing.assert_allclose(outputs, y[: i + 1])


def test_weights_and_input_cells_have_distinct_symbols_in_every_figure():
    """w names a kernel weight and x an input cell, in the sliding kernel and in the matrix C alike."""
    x, w = np.arange(16.0).reshape(4, 4), np.arange(1.0, 10.0).reshape(3, 3)
    steps, matrix = viz.conv_steps(x, w), viz.conv_matrix((1, 4, 4), w[None, None])
    weights = [t.get_text() for t in steps.axes[0].texts if t.get_gid() == "weight"]
    weights += [t.get_text() for t in matrix.axes[0].get_legend().get_texts()]
    inputs = [t.get_text() for t in matrix.axes[0].get_xticklabels()]
    assert weights and all(t.startswith("w") for t in weights)
    assert inputs == [f"x{j}" for j in range(16)]


# ------------------------------------------------------------------------------ receptive fields

def test_rf_2d_legend_gives_the_full_field_and_the_clipped_part():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1), nn.MaxPool2d(2))
    fig = viz.receptive_field_2d(model, (1, 8, 8), (0, 1, 1))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    field = cs.receptive_field(model, (1, 8, 8)).size
    box = cs.receptive_region(model, (1, 8, 8), (1, 1))
    inside = f"{box[0].stop - box[0].start}x{box[1].stop - box[1].start}"
    assert labels[-1] == f"layer 4: MaxPool2d 2x2 stride 2: field {field[0]}x{field[1]}, {inside} inside the input"
    assert labels[0].startswith("layer 1: Conv2d 3x3")
    assert f"field {field[0]}x{field[1]} ({inside} inside the input)" in fig._suptitle.get_text().replace("\n", " ")
    rects = [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in fig.axes[0].patches]
    assert len(set(rects)) == len(rects)  # equal regions are drawn apart, none hidden under another


def test_rf_2d_deep_model_gets_one_box_per_stage_and_a_chosen_layer():
    blocks = [nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1)) for _ in range(6)]
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), *blocks, nn.MaxPool2d(2))
    fig = viz.receptive_field_2d(model, (1, 32, 32), (0, 3, 3))
    assert len(fig.legends[0].get_texts()) <= 8
    assert_slide_ready(fig)
    fig = viz.receptive_field_2d(model, (1, 32, 32), (0, 5, 5), layer="2")
    box = cs.receptive_region(model, (1, 32, 32), (0, 5, 5), layer="2")
    assert list(fig.boxes.values())[-1] == ((box[0].start, box[0].stop - 1), (box[1].start, box[1].stop - 1))
    with pytest.raises(ValueError, match="no spatial axes"):
        viz.receptive_field_2d(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten()), (1, 8, 8), layer="1")


def test_draw_rf_works_with_every_bundled_small_model_and_a_layer(tmp_path):
    assert cli.main(["draw", "rf", "lenet5", "-o", str(tmp_path / "a.png")]) == 0
    assert cli.main(["draw", "rf", "lenet5", "--layer", "C3", "--unit", "0,3,3", "-o", str(tmp_path / "b.png")]) == 0
    assert cli.main(["draw", "rf", "lenet5", "--layer", "C3", "-o", str(tmp_path / "d.png")]) == 0
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()
    assert cli.main(["draw", "rf", "lenet5", "-o", str(tmp_path / "e.png")]) == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "e.png").read_bytes()  # seeded weights


# ------------------------------------------------------------------------------ pooling, maps, history

def test_pooling_outlines_each_window_and_writes_readable_values():
    x = np.random.default_rng(3).random((6, 6))
    fig = viz.pooling(x, "max", 2)
    layer = nn.MaxPool2d(2)
    windows = [p for p in fig.axes[0].patches if p.get_gid() == "window"]
    assert len(windows) == 9
    for p, (r, c) in zip(windows, [(r, c) for r in range(3) for c in range(3)]):
        box = cs.receptive_region(layer, (1, 6, 6), (r, c))
        assert (p.get_y() + 0.5, p.get_x() + 0.5, p.get_height(), p.get_width()) == \
            (box[0].start, box[1].start, box[0].stop - box[0].start, box[1].stop - box[1].start)
    for ax in fig.axes[:2]:
        image = ax.images[0]
        rgba = image.to_rgba(np.asarray(image.get_array()))
        for t in ax.texts:
            c, r = (int(round(v)) for v in t.get_position())
            assert contrast(t.get_color(), rgba[r, c, :3]) >= 4.5
    assert any(a.get_label() == "<colorbar>" for a in fig.axes)


def test_feature_maps_show_the_input_one_scale_and_say_before_the_activation(trained):
    model, _, xt, _ = trained
    fig = viz.feature_maps(model, xt[0], "conv1")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    np.testing.assert_array_equal(images[0].get_array(), xt[0, 0])
    limits = {im.get_clim() for im in images[1:]}
    assert len(limits) == 1
    lo, hi = limits.pop()
    assert lo <= fig.maps.min() and hi >= fig.maps.max() and lo == -hi  # signed: one symmetric scale
    assert fig.maps.min() < 0
    title = fig._suptitle.get_text().replace("\n", " ")
    assert "before the ReLU" in title and "after" not in title
    assert any(a.get_label() == "<colorbar>" for a in fig.axes)


def test_history_ticks_whole_epochs(trained):
    fig = viz.history(trained[1])
    render(fig)
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()


@pytest.mark.parametrize("args,kw", [(((5, 5), 3), dict(stride=2, padding=1)), (((9,), 3), dict(stride=2)),
                                     (((2, 2), 3), dict(stride=2, padding=1, transposed=True))])
def test_every_animation_frame_is_slide_ready(args, kw):
    fig = viz.conv_steps(*args, **kw)
    for frame in (fig.frames[0], fig.frames[-1]):
        assert_slide_ready(fig.frame_figure(frame))
