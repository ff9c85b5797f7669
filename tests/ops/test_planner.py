"""The engine's one planner picks the path each geometry needs, from the tuning in force."""
import pytest

from convscope.ops.engine import plan, tuning
from convscope.ops.geometry import conv_geometry


def planned(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1, direction="forward"):
    geo = conv_geometry(x_shape, w_shape, stride, padding, dilation, groups)
    return plan(geo, w_shape, x_shape[0], 4, direction)


@pytest.mark.parametrize("x_shape, w_shape, kw, direction, path, windows", [
    ((2, 8, 9, 9), (4, 8, 1, 1), {}, "forward", "pointwise", None),
    ((2, 8, 9, 9), (4, 8, 1, 1), dict(stride=2), "forward", "lowering", "padded"),  # strided 1x1: 1 tap, 4 phases
    ((2, 8, 9, 9), (16, 1, 3, 3), dict(groups=8, padding=1), "forward", "depthwise", None),
    ((2, 8, 9, 9), (4, 8, 3, 3), dict(padding=1), "forward", "lowering", "flat"),
    ((2, 8, 9, 9), (4, 8, 3, 3), dict(padding=1), "input_grad", "lowering", "flat"),
    ((2, 8, 1), (4, 8, 2), dict(padding="full"), "input_grad", "lowering", "padded"),  # a tap would meet a cell twice
    ((2, 8, 9, 9), (4, 8, 3, 3), {}, "forward", "lowering", "padded"),  # rows shrink: not a flat shift
    ((2, 3, 20, 20), (4, 3, 7, 7), dict(stride=2, padding=3), "forward", "lowering", "phase"),
    ((2, 3, 20, 20), (4, 3, 3, 3), dict(stride=2, padding=1), "forward", "lowering", "padded"),
    ((2, 3, 20, 20), (4, 3, 3, 3), dict(stride=2, padding=1), "weight_grad", "lowering", "padded"),
])
def test_plan_chooses_the_path(x_shape, w_shape, kw, direction, path, windows):
    p = planned(x_shape, w_shape, direction=direction, **kw)
    assert (p.path, p.windows) == (path, windows)
    assert (p.lowering is None) == (path != "lowering")


def test_phase_rule_and_threads_follow_the_tuning_in_force():
    args = (2, 3, 20, 20), (4, 3, 3, 3)
    assert planned(*args, stride=2, padding=1).windows == "padded"  # 9 taps over 4 phases < 4 per phase
    with tuning.override(phase_taps=2, parallel_bytes=0, threads=2) as t:
        assert t.phase_taps == 2 and tuning.current() is t
        p = planned(*args, stride=2, padding=1)
        assert p.windows == "phase" and p.lowering.threads == 2
    assert tuning.current() == tuning.Tuning()  # restored
    assert planned(*args, stride=2, padding=1).windows == "padded"


def test_small_chunk_budget_cuts_images_into_row_chunks():
    whole = planned((4, 8, 12, 12), (4, 8, 3, 3), padding=1).lowering
    with tuning.override(chunk_bytes=1, min_chunk_bytes=1):
        rows = planned((4, 8, 12, 12), (4, 8, 3, 3), padding=1).lowering
    assert len(whole.groups) == 1 and whole.groups[0][:2] == (0, 4)
    assert len(rows.groups) == 4 and all(len(r) == 12 for _, _, r in rows.groups)  # one output row per chunk


def test_override_refuses_unknown_settings():
    with pytest.raises(TypeError):
        with tuning.override(chunk_size=1):
            pass
