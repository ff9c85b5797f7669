"""The lecture's design arithmetic, model comparisons and the analysis commands."""
import json
from fractions import Fraction

import pytest

import convscope as cs
from convscope import cli, zoo

nn = cs.nn


def params(model):
    return sum(p.data.size for p in model.parameters())


@pytest.mark.parametrize("f,g,ratio", [(5, 3, Fraction(25, 18)), (7, 3, Fraction(49, 27)), (7, 4, Fraction(49, 32))])
def test_stacking_ratio_is_the_true_parameter_ratio(f, g, ratio):
    r = cs.analysis.stacking(f, g, channels=8)
    assert r["ratio"] == ratio
    n = r["stack"]["layers"]
    single = nn.Conv2d(8, 8, f, bias=False)
    stack = nn.Sequential(*[nn.Conv2d(8, 8, g, bias=False) for _ in range(n)])
    assert (r["single"]["params"], r["stack"]["params"]) == (params(single), params(stack))
    # same receptive field, as the lecture says
    assert cs.receptive_field(single, (8, 20, 20)).size == cs.receptive_field(stack, (8, 20, 20)).size == (f, f)
    with pytest.raises(ValueError, match="only if"):
        cs.analysis.stacking(6, 3, 8)


def test_bottleneck_saving_matches_real_layers():
    r = cs.analysis.bottleneck(256, 256, 3, 64, size=(14, 14))
    direct = nn.Conv2d(256, 256, 3, padding=1, bias=False)
    reduced = nn.Sequential(nn.Conv2d(256, 64, 1, bias=False), nn.Conv2d(64, 256, 3, padding=1, bias=False))
    assert r["direct"]["params"] == params(direct) and r["bottleneck"]["params"] == params(reduced)
    assert r["direct"]["macs"] == cs.summary(direct, (256, 14, 14)).totals["macs"]
    assert r["bottleneck"]["macs"] == cs.summary(reduced, (256, 14, 14)).totals["macs"]
    assert r["param_saving"] == Fraction(256 * 256 * 9 - (256 * 64 + 9 * 64 * 256), 256 * 256 * 9)


def test_compare_models_side_by_side():
    c = cs.compare(zoo.load("resnet18"), zoo.load("vgg16"), input_shape=(3, 224, 224), names=["r18", "vgg"])
    rows = {r["name"]: r for r in c.rows}
    assert rows["r18"]["params"] == 11_689_512 and rows["vgg"]["params"] == 138_357_544
    assert rows["vgg"]["rf_size"] == (212, 212) and rows["vgg"]["depth"] == 15
    assert "r18" in str(c)


def test_conv_arithmetic_fills_in_the_formula():
    r = cs.analysis.conv_arithmetic((3, 32, 32), 5, stride=1, padding=2, filters=16)
    assert r["output_shape"] == (16, 32, 32)
    assert r["steps"][0].endswith("floor((32 + 2 + 2 - 1*(5-1) - 1)/1) + 1 = 32")
    assert r["params"] == 5 * 5 * 3 * 16 + 16 and r["macs"] == 32 * 32 * 16 * 75
    t = cs.analysis.conv_arithmetic((4, 7), 3, stride=2, padding=1, filters=2, transposed=True, output_padding=1)
    assert t["output_shape"] == (2, 14) and t["rf_jump"] == ("1/2",)


def test_cli_summary_size_and_compare(capsys, tmp_path):
    assert cli.main(["summary", "lenet5", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["params"] == 61_706
    assert cli.main(["summary", "resnet18", "--markdown", "--input", "3x64x64"]) == 0
    assert "| fc | Linear | 1000 | 513,000 |" in capsys.readouterr().out
    assert cli.main(["size", "--input", "3x32x32", "--kernel", "5", "--padding", "2", "--filters", "16"]) == 0
    out = capsys.readouterr().out
    assert "= floor((32 + 2 + 2 - 1*(5-1) - 1)/1) + 1 = 32" in out and "parameters: 1,216" in out
    assert cli.main(["compare", "resnet18", "mobilenet_v1", "--input", "3x224x224"]) == 0
    assert "mobilenet_v1" in capsys.readouterr().out
    assert cli.main(["summary", "lenet5", "--input", "1x13x13"]) == 2
    assert "Conv2d 'C3'" in capsys.readouterr().err
    assert cli.main(["summary", "nosuchnet"]) == 2
    assert "unknown zoo model 'nosuchnet'" in capsys.readouterr().err


def test_conv_arithmetic_states_the_formula_of_ops_geometry_and_types_no_copy():
    import inspect

    from convscope.analysis import compare
    from convscope.ops.geometry import CONV_FORMULA, TRANSPOSED_FORMULA

    r = cs.analysis.conv_arithmetic((3, 9, 9), 3, stride=2, dilation=2, filters=4)
    t = cs.analysis.conv_arithmetic((4, 7), 3, stride=2, padding=1, filters=2, transposed=True, output_padding=1)
    assert r["steps"][0].startswith(CONV_FORMULA + " = ") and t["steps"][0].startswith(TRANSPOSED_FORMULA + " = ")
    source = inspect.getsource(compare)
    assert "o = floor((i" not in source and "o = (i-1)s" not in source  # the rule lives in ops.geometry only


def test_stacking_in_one_and_two_dimensions_counts_what_torch_layers_hold():
    import torch

    for dims, conv in ((1, torch.nn.Conv1d), (2, torch.nn.Conv2d)):
        for f, g, n in ((5, 3, 2), (7, 3, 3), (9, 5, 2)):
            r = cs.analysis.stacking(f, g, 4, bias=True, dims=dims)
            assert r["single"]["params"] == sum(p.numel() for p in conv(4, 4, f).parameters())
            assert r["stack"]["params"] == sum(p.numel() for _ in range(n) for p in conv(4, 4, g).parameters())
            assert r["stack"]["layers"] == n
