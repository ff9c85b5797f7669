"""The experiments' figures: the evidence of each claim, drawn so that the difference it exists to
show is visible (value labels on bars, accuracy axes zoomed to the data and saying so, legends
outside the plotting area)."""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import PercentFormatter

from ..viz import style


def bars(ax, labels, series: dict, ylabel: str, percent: bool = False, fmt: str = "{:.3g}"):
    """Grouped bars on `ax`, one group per label and one bar per series, each bar labelled with
    its value; accuracy axes (percent=True) start just below the smallest bar and say where."""
    width = 0.8 / len(series)
    colours = style.distinct_colours(len(series))
    for i, (name, values) in enumerate(series.items()):
        drawn = ax.bar(np.arange(len(labels)) + (i - (len(series) - 1) / 2) * width, values, width,
                       color=colours[i], label=name)
        ax.bar_label(drawn, [f"{v:.1%}" if percent else fmt.format(v) for v in values], padding=2,
                     fontsize=style.FONT["cell"])
    ax.set_xticks(range(len(labels)), labels, fontsize=style.FONT["label"])
    ax.set_ylabel(ylabel, fontsize=style.FONT["label"])
    if percent:
        _zoom_percent(ax, [v for values in series.values() for v in values])
    else:
        ax.set_ylim(0, 1.15 * max(v for values in series.values() for v in values))
    ax.grid(axis="y", alpha=0.3)


def _zoom_percent(ax, values) -> None:
    """A 0-100% axis hides a difference of a few points: when every value lies within 25 points,
    start the axis below the smallest and say so in its label; otherwise keep 0-100%."""
    lo = max(0.0, np.floor((min(values) - 0.03) * 50) / 50) if max(values) - min(values) < 0.25 else 0.0
    top = max(values) + 0.06 * (max(values) - lo) + 0.01  # room for the value labels above the bars
    ax.set_ylim(lo, top)
    ax.set_yticks([t for t in ax.get_yticks() if lo <= t <= 1.0])
    ax.set_ylim(lo, top)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if lo > 0:
        ax.set_ylabel(f"{ax.get_ylabel()} (axis from {lo:.0%})", fontsize=style.FONT["label"])


def legend_below(fig, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=style.FONT["label"],
               frameon=False)


def grouped(title: str, labels, series: dict, ylabel: str, percent: bool = False):
    """One panel of grouped bars with its legend below."""
    fig = style.figure(max(6.0, 1.8 * len(labels)), 4.0)
    ax = fig.add_subplot()
    bars(ax, labels, series, ylabel, percent)
    if len(series) > 1:
        legend_below(fig, ax)
    fig.suptitle(style.wrap(title, fig.get_size_inches()[0], style.FONT["title"]), fontsize=style.FONT["title"])
    return fig


def permutation(acc: dict):
    """Original against permuted pixels for the FC net and the CNN, on an axis zoomed to the data."""
    kinds = {"fc": "fully connected (FC)", "cnn": "convolutional, global pooling (CNN)"}
    series = {"original pixels": [acc[k, "original"] for k in kinds],
              "permuted pixels (one fixed permutation)": [acc[k, "permuted"] for k in kinds]}
    drops = ", ".join(f"{k.upper()} {acc[k, 'original']:.1%} -> {acc[k, 'permuted']:.1%}" for k in kinds)
    return grouped(f"Trained and tested on one fixed pixel permutation\ntest accuracy {drops}", list(kinds.values()),
                   series, "test accuracy", percent=True)


def translation(by_shift: dict, count_by_shift):
    """Accuracy against the shift from the training position, one line per model; the number of
    test images behind each point is on the axis."""
    fig = style.figure(7, 4.2)
    ax = fig.add_subplot()
    colours = style.distinct_colours(len(by_shift))
    for i, (name, accs) in enumerate(by_shift.items()):
        ax.plot(range(len(accs)), accs, marker="o", color=colours[i], label=name)
    ax.set_xlabel("shift from the training position (cells, the larger of rows and columns)",
                  fontsize=style.FONT["label"])
    ax.set_xticks(range(len(count_by_shift)), [f"{d}\n{n:,} images" for d, n in enumerate(count_by_shift)],
                  fontsize=style.FONT["cell"])
    ax.set_ylabel("test accuracy", fontsize=style.FONT["label"])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    legend_below(fig, ax)
    fig.suptitle("Trained on centred digits only, tested shifted on a 16x16 canvas", fontsize=style.FONT["title"])
    return fig


def stacking(rows):
    """Parameters and test accuracy of each block: fewer weights, about the same accuracy."""
    names = [r[0] for r in rows]
    fig = style.figure(max(8.0, 2.2 * len(rows)), 4.0)
    left, right = fig.subplots(1, 2)
    bars(left, names, {"parameters": [r[1] / 1000 for r in rows]}, "block parameters (thousands)")
    bars(right, names, {"test accuracy": [r[4] for r in rows]}, "test accuracy", percent=True)
    left.set_title("weights of the block", fontsize=style.FONT["label"])
    right.set_title("test accuracy of the whole model", fontsize=style.FONT["label"])
    fig.suptitle("One large kernel against stacked 3x3 layers with the same receptive field",
                 fontsize=style.FONT["title"])
    return fig


def bottleneck(rows):
    """Parameters and MACs of each block relative to the plain 3x3: counted, so the same on every
    machine. Wall time is left out: on a busy machine it can rank the blocks the other way round."""
    return grouped("3x3 at 64 channels, without and with a 1x1 reduction to 16 (counted: parameters and "
                   "multiply-adds per image)", ["parameters", "MACs"],
                   {r[0]: [r[1] / rows[0][1], r[2] / rows[0][2]] for r in rows}, "relative to the plain 3x3")


def kernels(names, shown, maps, label: int):
    """Each kernel above what it sees in the digit; each row on one scale (every panel divided by
    its own largest magnitude, so hand-made and learned kernels compare), with its colour bar."""
    fig = style.figure(13, 4.4)
    axes = fig.subplots(2, len(shown))
    for row, panels, what in ((0, shown, "weight"), (1, maps, "response")):
        for i, panel in enumerate(panels):
            limit = float(np.abs(panel).max()) or 1.0
            image = axes[row, i].imshow(panel / limit, cmap=style.DIVERGING, vmin=-1, vmax=1)
            axes[row, i].set_xticks([])
            axes[row, i].set_yticks([])
        fig.colorbar(image, ax=list(axes[row]), shrink=0.9, label=f"{what} / max |{what}|")
    for i, name in enumerate(names):
        axes[0, i].set_title(name, fontsize=style.FONT["cell"])
    axes[0, 0].set_ylabel("kernel", fontsize=style.FONT["label"])
    axes[1, 0].set_ylabel("on the digit", fontsize=style.FONT["label"])
    fig.suptitle(f"Hand-made and learned 3x3 kernels, and what each sees in a test digit ({label})",
                 fontsize=style.FONT["title"])
    return fig
