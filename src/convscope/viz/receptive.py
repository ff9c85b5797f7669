"""Receptive fields drawn from the trace: the lecture's 1-D diagram and nested boxes in 2-D."""
from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from ..analysis.receptive import regions
from ..analysis.saliency import saliency
from ..analysis.trace import trace
from ..nn import Module, Sequential
from ..ops.geometry import window_cell
from ..ops.registry import ELEMENTWISE, Window
from . import style


def _spatial_layers(graph):
    """(label, node) for the input and each layer output that keeps the input's spatial axes."""
    rank = len(graph.input.shape)
    picked, seen = [("input", graph.input)], set()
    for node in graph.nodes[1:]:
        if len(node.shape) != rank:
            continue
        leaf = node.modules[-1] if node.modules else None
        label = graph.names.get(id(leaf), node.op) if leaf is not None else node.op
        if isinstance(node.rf, Window) or (node.rf == ELEMENTWISE and len(node.parents) > 1):  # windows, merges
            key = id(leaf) if leaf is not None else node.index
            if key in seen:
                continue
            seen.add(key)
            picked.append((f"{label} ({node.op})", node))
    return picked


def _model(model) -> Module:
    return model if isinstance(model, Module) else Sequential(*model)


def _smallest_input(model, index: int, channels: int) -> int:
    for length in range(1, 4097):
        try:
            out = trace(model, (channels, length)).output
        except ValueError:
            continue
        if len(out.shape) == 3 and out.shape[-1] > index:
            return length
    raise ValueError("receptive_field_1d: no input length up to 4096 gives the model that many outputs")


def receptive_field_1d(model, index: int, input_length: int | None = None, channels: int | None = None):
    """One row of cells per layer (input at the bottom); the cells that feed output unit `index` are
    coloured per layer, with lines from each coloured cell to the cells it reads below.

    `model` is a 1-D model or a list of layers; the input length defaults to the smallest that
    has that output unit.
    """
    model = _model(model)
    first = next((m for m in model.modules() if hasattr(m, "in_channels")), None)
    channels = channels or (first.in_channels if first is not None else 1)
    input_length = input_length or _smallest_input(model, index, channels)
    graph = trace(model, (channels, input_length))
    layers = _spatial_layers(graph)
    boxes = regions(graph, layers[-1][1].index, (index,))
    fig = style.figure(max(6.0, 0.32 * input_length + 2), 0.8 * len(layers) + 1.2)
    ax = fig.add_subplot()
    fig.coloured = {}
    rows = {}
    for level, (label, node) in enumerate(layers):
        n = node.shape[-1]
        box = boxes.get(node.index)
        lo, hi = (0, n - 1) if box == "all" else box[0] if box else (1, 0)
        offset = (input_length - n) / 2
        rows[node.index] = (level, offset)
        fig.coloured[label] = list(range(lo, hi + 1))
        for i in range(n):
            on = lo <= i <= hi
            ax.add_patch(Rectangle((offset + i, level), 0.9, 0.6, facecolor=style.layer_colour(level) if on else "white",
                                   edgecolor=style.EDGE, lw=0.6, gid=f"{label}:{i}" if on else None))
        ax.text(-1, level + 0.3, label, ha="right", va="center", fontsize=style.FONT["label"])
    for label, node in layers[1:]:
        level, offset = rows[node.index]
        parent = graph.nodes[node.parents[0]] if node.parents else None
        while parent is not None and parent.index not in rows:
            parent = graph.nodes[parent.parents[0]] if parent.parents else None
        if parent is None or not isinstance(node.rf, Window) or node.rf.transposed:
            continue
        geo = node.geometry
        plevel, poffset = rows[parent.index]
        for i in fig.coloured[label]:
            for t in range(geo.kernel[-1]):
                j = window_cell(i, t, geo.stride[-1], geo.dilation[-1], geo.pads[-1][0])
                if 0 <= j < parent.shape[-1]:
                    ax.plot([offset + i + 0.45, poffset + j + 0.45], [level, plevel + 0.6], color=style.EDGE, lw=0.4)
    ax.set_xlim(-8, input_length + 1)
    ax.set_ylim(-0.5, len(layers))
    style.clean_axes(ax)
    ax.set_aspect("auto")
    inputs = fig.coloured["input"]
    ax.set_title(f"receptive field of output unit {index}: input cells {inputs[0]}..{inputs[-1]} ({len(inputs)} cells)",
                 fontsize=style.FONT["title"])
    return fig


def receptive_field_2d(model, input_shape, index, image=None):
    """Nested boxes on the input: for each layer, the input region of its unit at the centre of the
    chosen output unit's field; beside it, the saliency (input gradient) of that output unit."""
    graph = trace(model, input_shape)
    layers = _spatial_layers(graph)
    target = layers[-1][1]
    boxes_here = regions(graph, target.index, index)
    fig = style.figure(10, 4.6)
    ax, ax2 = fig.subplots(1, 2)
    base = np.asarray(image)[0] if image is not None else np.zeros(input_shape[1:])
    ax.imshow(base, cmap="gray_r")
    fig.boxes = {}
    for level, (label, node) in enumerate(layers[1:], start=1):
        box = boxes_here.get(node.index)
        if box is None or box == "all":
            continue
        centre = tuple((lo + hi) // 2 for lo, hi in box)
        r = regions(graph, node.index, centre).get(0)
        if r is None or r == "all":
            continue
        (r0, r1), (c0, c1) = r
        fig.boxes[label] = ((r0, r1), (c0, c1))
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False, lw=1.8,
                               edgecolor=style.layer_colour(level), label=f"{label}: {r1 - r0 + 1}x{c1 - c0 + 1}"))
    ax.legend(fontsize=style.FONT["cell"], loc="upper right", framealpha=0.8)
    ax.set_title("receptive field per layer", fontsize=style.FONT["title"])
    x = np.asarray(image, np.float32) if image is not None else np.ones(input_shape, np.float32)
    unit = (0, *index) if len(index) == len(input_shape) - 1 else tuple(index)
    layer = target.modules[-1] if target.modules else None
    g = np.abs(saliency(model, x, unit, layer)).sum(axis=0)
    im = ax2.imshow(g, cmap=style.CMAP)
    fig.colorbar(im, ax=ax2, shrink=0.8)
    ax2.set_title(f"|gradient| of unit {unit} of {layers[-1][0]}", fontsize=style.FONT["title"])
    for a in (ax, ax2):
        a.set_xticks([])
        a.set_yticks([])
    fig.saliency = g
    return fig
