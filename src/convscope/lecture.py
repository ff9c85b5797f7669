"""The lecture's worked examples and its errata, computed (not typed in) so every number is checked.

`errata()` is the one place that says where the lecture's text is wrong: the experiments, the tour,
the notebook and the docs all print its records, so they can never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import nn, ops, random


def matrix_example(dtype=np.float64) -> dict:
    """Convolution as matrix multiplication: a 4x4 input, a 3x3 kernel, the 2x2 output, the 4x16 C.

    Returns the arrays and the two checks: ``C @ x.ravel()`` equals the convolution and
    ``C.T @ y.ravel()`` equals the transposed convolution of y with the same kernel.
    """
    x = np.arange(16, dtype=dtype).reshape(1, 1, 4, 4)
    w = np.arange(1, 10, dtype=dtype).reshape(1, 1, 3, 3)
    y = ops.conv(x, w)  # (1, 1, 2, 2)
    c = ops.conv_matrix(x.shape[1:], w)  # (4, 16)
    back = ops.conv_transpose(y, w)  # (1, 1, 4, 4)
    return {
        "x": x[0, 0], "w": w[0, 0], "y": y[0, 0], "C": c,
        "C_x": c @ x.ravel(), "CT_y": c.T @ y.ravel(), "conv_transpose_y": back[0, 0],
        "forward_matches": bool(np.allclose(c @ x.ravel(), y.ravel())),
        "transpose_matches": bool(np.allclose(c.T @ y.ravel(), back.ravel())),
    }


@dataclass(frozen=True)
class Erratum:
    """One place where the lecture's text is wrong: what it writes, what it states, the true value, why.

    ``value`` is the true value as a number (a Fraction for ratios) so tests can check it.
    """
    key: str
    section: str
    writes: str
    states: str
    true: str
    why: str
    value: object = None

    def sentence(self) -> str:
        """The erratum as one sentence, the same wherever it is printed."""
        return (f"Erratum ({self.section}): the lecture writes {self.writes} and states {self.states}; "
                f"the true value is {self.true}. {self.why}")


def _ratio(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator} = {float(value):.2f}"


def _params(*layers) -> int:
    return sum(p.data.size for layer in layers for p in layer.parameters())


STACKING_CHANNELS = 16  # the channels in and out with which the stacking comparison is shown everywhere


def _stacking(f: int, g: int = 3, channels: int = STACKING_CHANNELS) -> Erratum:
    from .analysis import stacking

    r = stacking(f, g, channels)
    n, one, stack, true = r["stack"]["layers"], r["single"]["params"], r["stack"]["params"], r["ratio"]
    written = Fraction(f * f, 2 * g)  # the lecture's formula, evaluated as it stands
    stated = {5: "'almost 3 times (25/9)'", 7: "'almost 5+ times (49/9)'"}[f]
    return Erratum(
        key=f"stacking {f}x{f}", section="stacking beats larger kernels",
        writes=f"the ratio f^2/(2g), which for f = {f}, g = {g} is {_ratio(written)}",
        states=f"{stated} as many weights in one {f}x{f} layer as in stacked {g}x{g} layers",
        true=f"f^2/(n g^2) = {f * f}/{n * g * g} = {float(true):.2f} ({one:,} versus {stack:,} weights "
             f"with {channels} channels in and out)",
        why=f"An f x f field takes n = (f-1)/(g-1) = {n} stacked {g}x{g} layers, each with g^2 weights per channel "
            f"pair: the denominator is n g^2 (the kernel's area times the number of layers), not 2g.",
        value=true)


def _global_average() -> Erratum:
    maps = np.array([[[[1.0, 2.0], [3.0, 6.0]]]])  # one 2x2 map
    avg, top = float(ops.global_avg_pool(maps)[0, 0]), float(ops.global_max_pool(maps)[0, 0])
    return Erratum(
        key="global average pooling", section="pooling",
        writes="that global average pooling replaces each feature map with 'the maximum over the spatial dimensions'",
        states="a maximum",
        true=f"the mean over the spatial dimensions (for the map [[1, 2], [3, 6]]: {avg:g}, where the maximum is {top:g})",
        why="Taking the maximum is global max pooling; global average pooling averages, as its name says.",
        value=avg)


def _receptive_table() -> Erratum:
    from .analysis import receptive_field

    sizes = [receptive_field(nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(depth)]), (1, 9, 9)).size[0]
             for depth in (1, 2, 3)]
    rows = ", ".join(f"layer {d}: {s}x{s}" for d, s in zip((1, 2, 3), sizes))
    return Erratum(
        key="receptive field table", section="receptive field",
        writes="a table of stacked 3x3 layers whose three rows are all labelled 'Layer 1'",
        states="fields of 3x3, 5x5 and 7x7 for 'Layer 1'",
        true=rows,
        why="Each stacked 3x3 layer widens the field by 2, so the rows are layers 1, 2 and 3.",
        value=tuple(sizes))


def _one_by_one(c_in: int = 64, c_out: int = 16) -> Erratum:
    weights = _params(nn.Conv2d(c_in, c_out, 1, bias=False))
    return Erratum(
        key="1x1 weights", section="kernel size 1",
        writes="that a 1x1 layer reduces n_(l-1) features to n_l 'using only (1 * n_l) weights'",
        states=f"{c_out} weights for {c_in} -> {c_out} channels",
        true=f"n_l x n_(l-1) = {c_out} x {c_in} = {weights:,} weights",
        why="Each output channel mixes every input channel at a position, so each of the n_l kernels "
            "holds n_(l-1) weights.",
        value=weights)


def _kernel_weights(c_in: int = STACKING_CHANNELS, f: int = 5) -> Erratum:
    kernel = nn.Conv2d(c_in, 1, f, bias=False).weight.data[0]  # one kernel: (C_in, f, f)
    return Erratum(
        key="weights per kernel", section="stacking beats larger kernels",
        writes="that each kernel of a 2-D layer holds '(n_(l-1) x f_l)' weights",
        states=f"a count that gives a {f}x{f} kernel over {c_in} input channels {c_in * f} weights",
        true=f"n_(l-1) x f_l^2 = {c_in} x {f}^2 = {kernel.size:,} weights",
        why="A 2-D kernel spans f_l x f_l cells of every input channel; the lecture's own counts just "
            "below it (n_l n_(l-1) f^2) use the square.",
        value=kernel.size)


def errata() -> list[Erratum]:
    """Every erratum of the lecture, each computed with convscope (in the lecture's order)."""
    state = random.get_state()  # the layers built to count weights must not move a seeded run's draws
    try:
        return [_receptive_table(), _global_average(), _kernel_weights(), _stacking(5), _stacking(7),
                _one_by_one()]
    finally:
        random.set_state(state)


def erratum(key: str) -> Erratum:
    """The erratum named ``key`` (see ``[e.key for e in errata()]``)."""
    found = {e.key: e for e in errata()}
    if key not in found:
        raise ValueError(f"lecture.erratum: unknown key {key!r}; known: {', '.join(found)}")
    return found[key]
