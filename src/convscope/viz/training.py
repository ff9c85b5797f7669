"""What a trained network holds: feature maps, learned kernels, training curves, confusions, pooling."""
from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from .. import ops
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


def feature_maps(model, x, layer, columns: int = 8):
    """The output channels of `layer` for one input sample x (C, *spatial), one image each."""
    target = model.layer(layer)
    seen = []
    was = model.training
    model.eval()
    with no_grad(), observe(lambda m, out: seen.append(out.data[0]) if m is target else None):
        model(Tensor(np.asarray(x, np.float32)[None]))
    model.train(was)
    maps = seen[-1]
    maps2 = maps if maps.ndim == 3 else maps[:, None, :]
    fig = style.figure(1.3 * min(columns, len(maps2)), 1.4 * -(-len(maps2) // columns) + 0.6)
    for c, ax in enumerate(_grid(fig, len(maps2), columns)):
        ax.imshow(maps2[c], cmap=style.CMAP, aspect="auto" if maps.ndim == 2 else "equal")
        ax.set_title(f"{c}", fontsize=style.FONT["cell"])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"feature maps of {layer if isinstance(layer, str) else type(layer).__name__}: "
                 f"{'x'.join(map(str, maps.shape))}", fontsize=style.FONT["title"])
    fig.maps = maps
    return fig


def kernels(model, layer, columns: int = 8):
    """The learned kernels of a convolution layer: one image per (output, input) channel pair,
    on one symmetric colour scale (red positive, blue negative)."""
    conv = model.layer(layer)
    w = conv.weight.data
    pairs = w.reshape(-1, *w.shape[2:])
    pairs = pairs if pairs.ndim == 3 else pairs[:, None, :]
    limit = float(np.abs(w).max()) or 1.0
    fig = style.figure(1.1 * min(columns, len(pairs)), 1.2 * -(-len(pairs) // columns) + 0.6)
    for i, ax in enumerate(_grid(fig, len(pairs), columns)):
        ax.imshow(pairs[i], cmap=style.DIVERGING, vmin=-limit, vmax=limit)
        ax.set_title(f"{i // w.shape[1]}<-{i % w.shape[1]}", fontsize=style.FONT["cell"])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"kernels of {layer if isinstance(layer, str) else type(conv).__name__}: weight "
                 f"{'x'.join(map(str, w.shape))} (output<-input channel)", fontsize=style.FONT["title"])
    return fig


def history(h):
    """Loss and accuracy per epoch, train and validation (a History, its dict, or its JSON's dict)."""
    epochs = h.epochs if hasattr(h, "epochs") else h["epochs"]
    fig = style.figure(9, 3.4)
    axes = fig.subplots(1, 2)
    x = [e["epoch"] for e in epochs]
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(x, [e[key] for e in epochs], marker="o", ms=3, label="train")
        if f"val_{key}" in epochs[0]:
            ax.plot(x, [e[f"val_{key}"] for e in epochs], marker="o", ms=3, label="test")
        ax.set_xlabel("epoch", fontsize=style.FONT["label"])
        ax.set_ylabel(key, fontsize=style.FONT["label"])
        ax.legend(fontsize=style.FONT["label"])
        ax.grid(alpha=0.3)
    final = epochs[-1]
    fig.suptitle(f"training: final test accuracy {final.get('val_accuracy', final['accuracy']):.2%}",
                 fontsize=style.FONT["title"])
    return fig


def confusion(model, x, y, classes=None):
    """Counts of (true class, predicted class) on (x, y)."""
    pred = predict(model, x).argmax(axis=1)
    k = int(max(y.max(), pred.max())) + 1 if classes is None else len(classes)
    counts = np.zeros((k, k), int)
    np.add.at(counts, (y, pred), 1)
    fig = style.figure(5, 4.4)
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    for (r, c), v in np.ndenumerate(counts):
        if v:
            ax.text(c, r, str(v), ha="center", va="center", fontsize=style.FONT["cell"],
                    color="white" if v > counts.max() / 2 else "black")
    ticks = classes or list(range(k))
    ax.set_xticks(range(k), ticks, fontsize=style.FONT["cell"])
    ax.set_yticks(range(k), ticks, fontsize=style.FONT["cell"])
    ax.set_xlabel("predicted", fontsize=style.FONT["label"])
    ax.set_ylabel("true", fontsize=style.FONT["label"])
    ax.set_title(f"confusion matrix: accuracy {np.trace(counts) / counts.sum():.2%} on {counts.sum()} samples",
                 fontsize=style.FONT["title"])
    fig.counts = counts
    return fig


def pooling(x, kind: str = "max", k=2, s=None):
    """A 2-D map before and after pooling: the cells max pooling keeps are outlined; 'kmax' keeps
    the k largest of each row (k = k), in their original order."""
    x = np.asarray(x, float)
    fig = style.figure(9, 3.8)
    ax, ax2 = fig.subplots(1, 2)
    ax.imshow(x, cmap=style.CMAP)
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
    for r, c in zip(*kept):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", lw=2, gid="kept"))
    ax2.imshow(y[0, 0], cmap=style.CMAP, vmin=x.min(), vmax=x.max())
    for (r, c), v in np.ndenumerate(x):
        ax.text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=style.FONT["cell"], color="white")
    for (r, c), v in np.ndenumerate(y[0, 0]):
        ax2.text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=style.FONT["cell"], color="white")
    ax.set_title(f"input {x.shape[0]}x{x.shape[1]}" + (" (kept cells outlined)" if kind != "avg" else ""),
                 fontsize=style.FONT["title"])
    ax2.set_title(f"{kind} pooling, k={k}" + (f", stride {s}" if s else "") + f": {y.shape[2]}x{y.shape[3]}",
                  fontsize=style.FONT["title"])
    for a in (ax, ax2):
        a.set_xticks([])
        a.set_yticks([])
    fig.kept = list(zip(*kept))
    return fig
