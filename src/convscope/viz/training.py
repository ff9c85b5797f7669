"""What a trained network holds: feature maps, learned kernels, training curves, confusions, pooling."""
from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from .. import ops
from ..ops.geometry import window_cell
from ..nn.module import observe
from ..tensor import Tensor, no_grad
from ..train import predict
from . import style


def _grid(fig, n: int, columns: int):
    rows = -(-n // columns)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


ACTIVATIONS = ("ReLU", "LeakyReLU", "Tanh", "Sigmoid")


def _layer_name(model, layer) -> str:
    if isinstance(layer, str):
        return layer
    return next((n for n, m in model.named_modules() if m is layer), type(layer).__name__)


def _after(model, target) -> str | None:
    """The activation that runs right after `target` in the model's layer order, if any."""
    modules = [m for _, m in model.named_modules()]
    i = next((i for i, m in enumerate(modules) if m is target), None)
    if i is None or i + 1 >= len(modules):
        return None
    name = type(modules[i + 1]).__name__
    return name if name in ACTIVATIONS else None


def _shared_scale(values):
    """One colour scale for every panel: symmetric and diverging when values have both signs."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo < 0 < hi:
        limit = max(-lo, hi)
        return style.DIVERGING, -limit, limit
    return style.CMAP, min(lo, 0.0), hi if hi > min(lo, 0.0) else min(lo, 0.0) + 1.0


def _as_image(a):
    return a if a.ndim == 2 else a[None, :]


def feature_maps(model, x, layer, columns: int = 9):
    """The input sample x (C, *spatial) and the output channels of `layer` for it, one image each,
    all on one colour scale with its colour bar (signed values on a diverging scale)."""
    target = model.layer(layer)
    seen = []
    was = model.training
    model.eval()
    with no_grad(), observe(lambda m, out: seen.append(out.data[0]) if m is target else None):
        model(Tensor(np.asarray(x, np.float32)[None]))
    model.train(was)
    maps = seen[-1]
    name, kind = _layer_name(model, layer), type(target).__name__
    cmap, vmin, vmax = _shared_scale(maps)
    panels = len(maps) + 1
    columns = min(columns, panels)
    rows = -(-panels // columns)
    fig = style.figure(max(6.0, 1.25 * columns + 1.2), 1.35 * rows + 1.2)
    axes = _grid(fig, panels, columns)
    x = np.asarray(x)
    axes[0].imshow(_as_image(x[0] if x.shape[0] == 1 else x.reshape(-1, x.shape[-1])), cmap="gray_r")
    axes[0].set_title("input", fontsize=style.FONT["label"], fontweight="bold")
    for c, ax in enumerate(axes[1:]):
        image = ax.imshow(_as_image(maps[c]), cmap=cmap, vmin=vmin, vmax=vmax,
                          aspect="auto" if maps.ndim == 2 else "equal")
        ax.set_title(f"channel {c}", fontsize=style.FONT["cell"])
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=list(axes[1:]), shrink=0.8, label=f"{name} output value")
    after = _after(model, target)
    stage = f"before the {after} that follows (negative values in blue)" if after and vmin < 0 else \
        f"before the {after} that follows" if after else "as the layer outputs them"
    fig.suptitle(style.wrap(f"Feature maps of {name} ({kind}): {len(maps)} channels of "
                            f"{style.shape_text(maps.shape[1:])}, {stage}; one colour scale for all",
                            fig.get_size_inches()[0], style.FONT["title"]), fontsize=style.FONT["title"])
    fig.maps = maps
    return fig


def kernels(model, layer, columns: int = 8):
    """The learned kernels of a convolution layer: one image per (output, input) channel pair,
    on one symmetric colour scale (red positive, blue negative) with its colour bar."""
    conv = model.layer(layer)
    w = conv.weight.data
    pairs = w.reshape(-1, *w.shape[2:])
    pairs = pairs if pairs.ndim == 3 else pairs[:, None, :]
    limit = float(np.abs(w).max()) or 1.0
    columns = min(columns, len(pairs))
    fig = style.figure(max(6.0, 1.1 * columns + 1.2), 1.2 * -(-len(pairs) // columns) + 1.0)
    axes = _grid(fig, len(pairs), columns)
    for i, ax in enumerate(axes):
        image = ax.imshow(pairs[i], cmap=style.DIVERGING, vmin=-limit, vmax=limit)
        ax.set_title(f"{i // w.shape[1]} <- {i % w.shape[1]}", fontsize=style.FONT["cell"])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="weight")
    name = _layer_name(model, layer)
    fig.suptitle(style.wrap(f"Kernels of {name} ({type(conv).__name__}): weight {style.shape_text(w.shape)}, "
                            "one panel per output <- input channel", fig.get_size_inches()[0], style.FONT["title"]),
                 fontsize=style.FONT["title"])
    return fig


def _epochs(h) -> list:
    return h.epochs if hasattr(h, "epochs") else h["epochs"]


def history(h):
    """Loss and accuracy per epoch, train and test (a History, its dict, or its JSON's dict); or
    several runs side by side, given as {name: history}: one colour per run, train dashed, test solid."""
    runs = {"": h} if hasattr(h, "epochs") or "epochs" in h else dict(h)
    fig = style.figure(9, 3.8 + 0.25 * (len(runs) > 1))
    axes = fig.subplots(1, 2)
    colours = style.distinct_colours(len(runs)) if len(runs) > 1 else [None]
    for (name, run), colour in zip(runs.items(), colours):
        epochs = _epochs(run)
        x = [e["epoch"] for e in epochs]
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(x, [e[key] for e in epochs], marker="o", ms=3, color=colour, ls="--" if name else "-",
                    label=f"{name} train".strip())
            if f"val_{key}" in epochs[0]:
                ax.plot(x, [e[f"val_{key}"] for e in epochs], marker="o", ms=3, color=colour,
                        label=f"{name} test".strip())
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch", fontsize=style.FONT["label"])
        ax.set_ylabel("cross-entropy loss" if key == "loss" else "accuracy", fontsize=style.FONT["label"])
        style.integer_ticks(ax.xaxis)
        ax.grid(alpha=0.3)
    axes[1].yaxis.set_major_formatter(PercentFormatter(1.0))
    # one legend for both panels, below them, where it cannot cover a curve
    handles = axes[0].get_legend_handles_labels()
    fig.legend(*handles, loc="outside lower center", ncols=min(4, len(handles[0])), fontsize=style.FONT["label"],
               frameon=False)
    fig.suptitle(_history_title(runs), fontsize=style.FONT["title"])
    return fig


def _history_title(runs: dict) -> str:
    count = len(_epochs(next(iter(runs.values()))))
    if len(runs) == 1:
        final = _epochs(next(iter(runs.values())))[-1]
        test = f"final test accuracy {final['val_accuracy']:.2%}, " if "val_accuracy" in final else ""
        return f"Training over {count} epochs: {test}final train accuracy {final['accuracy']:.2%}"
    key = "val_accuracy" if all("val_accuracy" in _epochs(r)[-1] for r in runs.values()) else "accuracy"
    finals = ", ".join(f"{name} {_epochs(r)[-1][key]:.2%}" for name, r in runs.items())
    return f"Training over {count} epochs: final {'test' if key == 'val_accuracy' else 'train'} accuracy {finals}"


def confusion(model, x, y, classes=None):
    """Counts of (true class, predicted class) on (x, y)."""
    pred = predict(model, x).argmax(axis=1)
    k = int(max(y.max(), pred.max())) + 1 if classes is None else len(classes)
    counts = np.zeros((k, k), int)
    np.add.at(counts, (y, pred), 1)
    fig = style.figure(5.6, 4.6)
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues")
    text = style.cell_text_colours(image)
    for (r, c), v in np.ndenumerate(counts):
        if v:
            ax.text(c, r, str(v), ha="center", va="center", fontsize=style.FONT["cell"], color=text[r, c])
    ticks = classes or list(range(k))
    ax.set_xticks(range(k), ticks, fontsize=style.FONT["cell"])
    ax.set_yticks(range(k), ticks, fontsize=style.FONT["cell"])
    ax.set_xlabel("predicted class", fontsize=style.FONT["label"])
    ax.set_ylabel("true class", fontsize=style.FONT["label"])
    fig.colorbar(image, ax=ax, shrink=0.8, label="test samples")
    ax.set_title(f"Confusion matrix: accuracy {np.trace(counts) / counts.sum():.2%} on {counts.sum()} samples",
                 fontsize=style.FONT["title"])
    fig.counts = counts
    return fig


def _windows(shape, k: int, s: int):
    """(row, col, height, width) of every pooling window, from the window rule with no padding."""
    steps = [range(ops.output_size(n, k, s)) for n in shape]
    return [(window_cell(r, 0, s, 1, 0), window_cell(c, 0, s, 1, 0), k, k) for r in steps[0] for c in steps[1]]


def pooling(x, kind: str = "max", k=2, s=None):
    """A 2-D map before and after pooling, with the same colour scale: on the input each pooling
    window is outlined and the cells max pooling keeps are marked; 'kmax' keeps the k largest of
    each row (k = k), in their original order."""
    x = np.asarray(x, float)
    stride = s or k
    fig = style.figure(10, 4.4)
    ax, ax2 = fig.subplots(1, 2)
    if kind == "max":
        y, idx = ops.max_pool(x[None, None], k, s, return_indices=True)
        kept = np.unravel_index(idx.ravel(), x.shape)
    elif kind == "avg":
        y, kept = ops.avg_pool(x[None, None], k, s), ((), ())
    elif kind == "kmax":
        y, idx = ops.kmax_pool(x[None, None], k, axis=-1, return_indices=True)
        kept = (np.repeat(np.arange(x.shape[0]), k), idx[0, 0].ravel())
    else:
        raise ValueError(f"pooling: kind {kind!r} is not 'max', 'avg' or 'kmax'")
    vmin, vmax = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    left = ax.imshow(x, cmap=style.CMAP, vmin=vmin, vmax=vmax)
    right = ax2.imshow(y[0, 0], cmap=style.CMAP, vmin=vmin, vmax=vmax)
    if kind != "kmax":
        for r, c, h, w in _windows(x.shape, k, stride):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor="white", lw=2.5, gid="window"))
    for r, c in zip(*kept):
        ax.add_patch(Rectangle((c - 0.42, r - 0.42), 0.84, 0.84, fill=False, edgecolor="#d00000", lw=1.8, gid="kept"))
    _write_values(ax, left, x)
    _write_values(ax2, right, y[0, 0])
    what = {"max": "kept maximum", "avg": "", "kmax": f"the {k} largest of each row"}[kind]
    ax.set_title(f"input {x.shape[0]}x{x.shape[1]}" + (f": windows outlined in white" if kind != "kmax" else "")
                 + (f", {what} in red" if what else ""), fontsize=style.FONT["label"])
    ax2.set_title(f"output {y.shape[2]}x{y.shape[3]}", fontsize=style.FONT["label"])
    name = {"max": "Max", "avg": "Average", "kmax": "k-max"}[kind]
    setting = f"k = {k} per row" if kind == "kmax" else f"{k}x{k} windows, stride {stride}"
    fig.suptitle(f"{name} pooling, {setting}: {x.shape[0]}x{x.shape[1]} -> {y.shape[2]}x{y.shape[3]}",
                 fontsize=style.FONT["title"])
    for a in (ax, ax2):
        a.set_xticks([])
        a.set_yticks([])
    fig.colorbar(right, ax=[ax, ax2], shrink=0.8, label="value")
    fig.kept = list(zip(*kept))
    return fig


def _write_values(ax, image, values) -> None:
    """Each cell's value, black or white to read on the colour under it."""
    colours = style.cell_text_colours(image)
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=style.FONT["cell"], color=colours[r, c])
