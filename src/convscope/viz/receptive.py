"""Receptive fields drawn from the trace: the lecture's 1-D diagram and nested boxes in 2-D."""
from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from ..analysis.receptive import fields, regions
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
    fig = style.figure(max(6.0, 0.42 * input_length + 3), 0.45 * len(layers) + 1.5)
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
    ax.set_xlim(-0.3, input_length + 0.2)
    ax.set_ylim(-0.5, len(layers) - 0.2)
    style.clean_axes(ax)
    # the rows are named on the y axis and the input cells numbered on the x axis
    ax.set_yticks([level + 0.3 for level in range(len(layers))],
                  ["input"] + [_describe(graph, node) for _, node in layers[1:]], fontsize=style.FONT["label"])
    ax.set_xticks([i + 0.45 for i in range(input_length)], range(input_length), fontsize=style.FONT["cell"])
    ax.tick_params(length=0)
    ax.set_xlabel("input cell", fontsize=style.FONT["label"])
    inputs = fig.coloured["input"]
    fig.suptitle(style.wrap(f"Receptive field of output unit {index} of {_describe(graph, layers[-1][1])}: input cells "
                            f"{inputs[0]}..{inputs[-1]} ({len(inputs)} cells)", fig.get_size_inches()[0] - 0.5,
                            style.FONT["title"]), fontsize=style.FONT["title"])
    return fig


def _describe(graph, node) -> str:
    """'conv2: Conv2d 3x3' or, for layers without a name of their own, 'layer 2: MaxPool2d 2x2 stride 2'
    (the second layer of a Sequential, whose index is 1)."""
    module = node.modules[-1] if node.modules else None
    if module is None:
        return node.op
    name = graph.names.get(id(module), node.op)
    text = type(module).__name__
    window = node.rf if isinstance(node.rf, Window) else None
    geo = node.geometry if window is not None else None
    if geo is not None and (window.learned or any(k > 1 for k in geo.kernel)):  # not padding's 1-cell window
        text += f" {style.shape_text(geo.kernel)}"
        if any(s != 1 for s in geo.stride):
            text += f" stride {geo.stride[0] if len(set(geo.stride)) == 1 else style.shape_text(geo.stride)}"
    if name.isdigit():  # a Sequential's index: layers count from 1, the input being layer 0, as the lecture does
        return f"layer {int(name) + 1}: {text}"
    return f"layer {name}: {text}" if name.replace(".", "").isdigit() else f"{name}: {text}"


def _stages(graph, target, most: int):
    """The layers to draw a box for, up to `target`: every spatial layer, or when there are more
    than `most`, the last one of each top-level block (a stage), thinned evenly if still too many."""
    picked = [node for _, node in _spatial_layers(graph)[1:] if node.index <= target.index]
    if target not in picked:
        picked.append(target)
    if len(picked) > most:
        last = {}
        for node in picked:
            key = id(node.modules[1]) if len(node.modules) > 1 else node.index
            last[key] = node
        picked = sorted(last.values(), key=lambda n: n.index)
    if len(picked) > most:
        keep = np.unique(np.linspace(0, len(picked) - 1, most).round().astype(int))
        picked = [picked[i] for i in keep]
    return picked


def _field_note(full, box, spatial) -> str:
    """Why the drawn box is smaller than the field: the input's border clips it, or (strided and
    transposed layers) this unit reads fewer cells than the field's span."""
    drawn = tuple(hi - lo + 1 for lo, hi in box)
    if drawn == tuple(full):
        return ""
    at_border = any(lo == 0 or hi == n - 1 for (lo, hi), n in zip(box, spatial))
    return f", {style.shape_text(drawn)} {'inside the input' if at_border else 'read by this unit'}"


def receptive_field_2d(model, input_shape, index=None, image=None, layer=None, most: int = 8):
    """Nested boxes on the input: for each layer up to `layer` (default: the last one that keeps
    the spatial axes), the input region of its unit at the centre of the chosen unit's field, with
    the field's full size and, when the border clips it, the part inside the input; beside it, the
    saliency (input gradient) of the chosen unit, (channel, *spatial) or spatial only (channel 0);
    None is the centre unit. Deep models get one box per stage (at most `most`)."""
    graph = trace(model, input_shape)
    if layer is None:
        target = _spatial_layers(graph)[-1][1]
    else:
        target = graph.module_output(model.layer(layer))
        if len(target.shape) != len(graph.input.shape):
            raise ValueError(f"receptive_field_2d: layer {layer!r} outputs shape {target.shape[1:]}, which has no "
                             "spatial axes; choose a convolution or pooling layer")
    if index is None:
        index = tuple(n // 2 for n in target.shape[2:])
    index = (index,) if isinstance(index, int) else tuple(index)
    unit = (0, *index) if len(index) == len(input_shape) - 1 else index
    boxes_here = regions(graph, target.index, unit)
    sizes = fields(graph)
    fig = style.figure(11, 5.4)
    ax, ax2 = fig.subplots(1, 2)
    base = np.asarray(image)[0] if image is not None else np.zeros(input_shape[1:])
    ax.imshow(base, cmap="gray_r")
    fig.boxes, fig.fields = {}, {}
    stages = _stages(graph, target, most)
    colours = style.distinct_colours(len(stages))
    styles = ["-", "--", "-.", ":"]
    for level, node in enumerate(stages):
        box = boxes_here.get(node.index)
        if box is None or box == "all":
            continue
        centre = tuple((lo + hi) // 2 for lo, hi in box)
        r = regions(graph, node.index, centre).get(0)
        if r is None or r == "all":
            continue
        (r0, r1), (c0, c1) = r
        label = _describe(graph, node)
        full = tuple(int(v) for v in sizes[node.index].size)
        text = f"{label}: field {style.shape_text(full)}{_field_note(full, r, input_shape[1:])}"
        # a box equal to one drawn before goes a little inside it, so that neither hides the other
        inset = 0.5 - sum(b == ((r0, r1), (c0, c1)) for b in fig.boxes.values() if b is not None) \
            * max(0.12, 0.008 * max(input_shape[1:]))
        ax.add_patch(Rectangle((c0 - inset, r0 - inset), c1 - c0 + 2 * inset, r1 - r0 + 2 * inset, fill=False, lw=2,
                               linestyle=styles[level % len(styles)], edgecolor=colours[level], label=text))
        fig.boxes[label], fig.fields[label] = ((r0, r1), (c0, c1)), full
    # below both panels, where it covers neither the image nor the gradient
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=style.FONT["cell"] + 1,
               frameon=False, ncols=1 if len(stages) <= 3 else 2)
    target_label = _describe(graph, target)
    ax.set_title(style.wrap("Receptive field of each layer's unit at the chosen unit's centre (clipped to the input)",
                            5.0, style.FONT["label"]), fontsize=style.FONT["label"])
    x = np.asarray(image, np.float32) if image is not None else np.ones(input_shape, np.float32)
    g = np.abs(saliency(model, x, unit, target.modules[-1] if target.modules else None)).sum(axis=0)
    im = ax2.imshow(g, cmap=style.CMAP)
    fig.colorbar(im, ax=ax2, shrink=0.8, label="|d unit / d input|, summed over channels")
    ax2.set_title(f"Gradient of unit {unit}\nwith respect to the input", fontsize=style.FONT["label"])
    for a in (ax, ax2):
        a.set_xlabel("input column", fontsize=style.FONT["label"])
        a.set_ylabel("input row", fontsize=style.FONT["label"])
        style.cell_ticks(a)
    full = fig.fields.get(target_label)
    clipped = _field_note(full, fig.boxes[target_label], input_shape[1:]).lstrip(", ") if full else ""
    clipped = f" ({clipped})" if clipped else ""
    fig.suptitle(style.wrap(f"Receptive field of unit {unit} (channel, row, column) of {target_label}, input "
                            f"{style.shape_text(input_shape)}" + (f": field {style.shape_text(full)}{clipped}" if full else ""),
                            11, style.FONT["title"]), fontsize=style.FONT["title"])
    fig.saliency = g
    return fig
