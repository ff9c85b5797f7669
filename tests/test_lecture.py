"""The lecture's errata: each true value checked against an independent computation."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from convscope import lecture, random


def test_stacking_ratio_is_area_times_layers():
    # torch counts the weights: one f x f conv versus n stacked 3x3 convs with the same field
    for f, n in ((5, 2), (7, 3)):
        one = torch.nn.Conv2d(8, 8, f, bias=False).weight.numel()
        stack = sum(torch.nn.Conv2d(8, 8, 3, bias=False).weight.numel() for _ in range(n))
        e = lecture.erratum(f"stacking {f}x{f}")
        assert e.value == Fraction(one, stack) == Fraction(f * f, n * 9)
        assert f"{f * f}/{n * 9}" in e.true and f"{f * f}/6" in e.writes  # the lecture's own formula, evaluated
    assert lecture.erratum("stacking 5x5").value == Fraction(25, 18)
    assert lecture.erratum("stacking 7x7").value == Fraction(49, 27)


def test_global_average_pooling_is_a_mean():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])
    assert lecture.erratum("global average pooling").value == torch.nn.AdaptiveAvgPool2d(1)(x).item()


def test_receptive_field_rows_are_layers_1_2_3():
    # by the chain rule r_l = r_(l-1) + (k - 1) with k = 3, r_0 = 1
    assert lecture.erratum("receptive field table").value == (3, 5, 7)
    assert "layer 3: 7x7" in lecture.erratum("receptive field table").true


def test_one_by_one_weights_mix_every_input_channel():
    assert lecture.erratum("1x1 weights").value == torch.nn.Conv2d(64, 16, 1, bias=False).weight.numel()


def test_errata_leave_the_random_stream_alone():
    random.manual_seed(3)
    expected = np.random.default_rng(3).random(4)
    lecture.errata()
    assert np.array_equal(random.generator().random(4), expected)


def test_unknown_erratum_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown key 'nope'; known: receptive field table"):
        lecture.erratum("nope")


def test_weights_per_kernel_are_channels_times_area():
    e = lecture.erratum("weights per kernel")
    kernel = torch.nn.Conv2d(lecture.STACKING_CHANNELS, 1, 5, bias=False).weight[0]  # one kernel, every input channel
    assert e.value == kernel.numel() == lecture.STACKING_CHANNELS * 25 and f"{e.value:,} weights" in e.true


def test_stacking_arithmetic_is_written_once():
    """analysis.stacking holds the arithmetic; the errata and the experiment ask it, never redo it."""
    import inspect

    from convscope.experiments import claims

    for module in (lecture, claims):
        source = inspect.getsource(module)
        assert "(f - 1) //" not in source and "f * f * channels" not in source, module.__name__
    assert f"with {lecture.STACKING_CHANNELS} channels in and out" in lecture.erratum("stacking 5x5").true
