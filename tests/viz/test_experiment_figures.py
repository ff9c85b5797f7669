"""The experiments' figures show the evidence they exist for (drawn here from given numbers, so the
checks do not wait for training)."""
import numpy as np
import pytest

from convscope.experiments import figures

from .slides import assert_slide_ready, render

ACC = {("fc", "original"): 0.972, ("fc", "permuted"): 0.969, ("cnn", "original"): 0.947, ("cnn", "permuted"): 0.908}
STACKING = [["one 5x5", 6400, 409600, 9, 0.9611, 0.2], ["2 x 3x3", 4608, 294912, 9, 0.9672, 0.2]]
BOTTLENECK = [["3x3, 64 -> 64", 36928, 2359296, 0.98, 1.0], ["1x1 64 -> 16, then 3x3 16 -> 64", 10320, 655360, 0.97, 0.5]]


def bar_heights(ax):
    return [p.get_height() for p in ax.patches]


def test_permutation_axis_is_zoomed_so_the_drop_shows_and_the_legend_is_off_the_bars():
    fig = figures.permutation(ACC)
    ax = fig.axes[0]
    assert sorted(bar_heights(ax)) == sorted(ACC.values())
    lo, hi = ax.get_ylim()
    assert 0.5 < lo < 0.908 and hi <= 1.01
    drop = (0.947 - 0.908) / (hi - lo)
    assert drop > 0.15  # the CNN's 3.9-point drop is at least 15% of the axis (on 0-1 it would be 4%)
    assert "axis from" in ax.get_ylabel()
    assert [t.get_text() for t in ax.texts] == ["97.2%", "94.7%", "96.9%", "90.8%"]
    assert "94.7% -> 90.8%" in fig._suptitle.get_text()
    assert_slide_ready(fig)


def test_stacking_shows_accuracy_beside_parameters():
    fig = figures.stacking(STACKING)
    params, accuracy = fig.axes
    np.testing.assert_allclose(bar_heights(params), [6.4, 4.608])
    np.testing.assert_allclose(bar_heights(accuracy), [0.9611, 0.9672])
    assert "accuracy" in accuracy.get_ylabel()
    assert_slide_ready(fig)


@pytest.mark.parametrize("make", [
    lambda: figures.translation({"fully connected": [0.9, 0.5, 0.2, 0.1], "CNN + global pooling": [0.95, 0.9, 0.85, 0.8]},
                                [359] * 4),
    lambda: figures.bottleneck(BOTTLENECK),
    lambda: figures.grouped("order", ["motif order", "MNIST-1D"], {"bag": [0.5, 0.3], "CNN": [0.99, 0.7]}, "test accuracy",
                            percent=True),
    lambda: figures.kernels(["a", "b"], np.ones((2, 3, 3)) * [[[1]], [[-2]]], np.arange(128.0).reshape(2, 8, 8) - 60, 3),
])
def test_experiment_figures_are_slide_ready_and_repeatable(make):
    assert render(make()) == render(make())
    assert_slide_ready(make())


def test_kernels_figure_scales_each_row_with_a_colour_bar():
    fig = figures.kernels(["a", "b"], np.ones((2, 3, 3)) * [[[1]], [[-2]]], np.arange(128.0).reshape(2, 8, 8) - 60, 3)
    assert sum(a.get_label() == "<colorbar>" for a in fig.axes) == 2
    for ax in fig.axes:
        for image in ax.images:
            assert image.get_clim() == (-1, 1) and np.abs(image.get_array()).max() == 1


def test_translation_says_how_many_test_images_each_point_rests_on():
    fig = figures.translation({"fully connected": [0.9, 0.5, 0.2], "CNN + global pooling": [0.95, 0.9, 0.85]},
                              [359, 359, 359])
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["0\n359 images", "1\n359 images", "2\n359 images"]


def test_bottleneck_shows_counts_not_wall_time():
    """Wall time depends on the machine's load (it reversed the lesson on a busy machine): the bars
    are the counted parameters and MACs, equal on every machine."""
    fig = figures.bottleneck(BOTTLENECK)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["parameters", "MACs"]
    np.testing.assert_allclose(sorted(bar_heights(ax)), sorted([1, 1, 10320 / 36928, 655360 / 2359296]))
