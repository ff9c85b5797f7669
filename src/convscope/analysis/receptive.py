"""Receptive fields on a traced graph: forward (size, jump, start) per layer, and backward the exact
input box that feeds one output unit. Branches are handled: a merge's field is the union of its
paths, and paths that disagree in jump or centre are reported.

Per spatial axis, following Araujo, Norris & Sim (Distill 2019): jump j_l = j_{l-1} s_l,
size r_l = r_{l-1} + d_l (k_l - 1) j_{l-1}, start_l = start_{l-1} - p_l j_{l-1}. A transposed
convolution is zero-insertion by s followed by a stride-1 convolution padded d(k-1) - p, so its jump
is j/s (a fraction) and its size grows by d(k-1) j/s.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ..ops.geometry import transposed_as_conv_pads, transposed_reach, window_reach
from ..ops.registry import GLOBAL, OPAQUE, RESHAPE, AxisMap, Window
from .trace import Graph, Node, trace



def _window(node: Node):
    """The node's Window rule, or None when it is not a window op."""
    rule = node.rf
    return rule if isinstance(rule, Window) else None


def _mixes_positions(node: Node, parent: Node) -> bool:
    """Global, reshape-like and opaque ops, and ops that change the rank, see the whole input."""
    return node.rf in (GLOBAL, RESHAPE, OPAQUE) or len(node.shape) != len(parent.shape)


@dataclass(frozen=True)
class Field:
    """Receptive field of unit 0 of a layer, per spatial axis, in input coordinates.

    size: input cells spanned; jump: input cells between neighbouring units (effective stride);
    start: input coordinate of the first cell seen (negative in the padding; effective padding is
    -start). `whole` marks layers that see the entire input (after flatten, global pooling, ...).
    `axes`: where the input's spatial axes are in this layer's output (negative indices), when a
    permute moved them (channels-last blocks); None means the usual trailing axes.
    """
    size: tuple
    jump: tuple
    start: tuple
    whole: bool = False
    notes: tuple = ()
    axes: tuple | None = None

    def axes_in(self) -> tuple:
        return self.axes if self.axes is not None else tuple(range(-len(self.size), 0))

    @property
    def effective_padding(self) -> tuple:
        return tuple(-s for s in self.start)

    def union(self, other: "Field") -> "Field":
        if self.whole or other.whole:
            return self if self.whole else other
        notes = set(self.notes) | set(other.notes)
        if self.jump != other.jump:
            notes.add(f"paths disagree in jump: {_fmt(self.jump)} vs {_fmt(other.jump)}")
        centre = lambda f: tuple(s + (r - 1) / 2 for s, r in zip(f.start, f.size))  # noqa: E731
        if centre(self) != centre(other):
            notes.add(f"paths disagree in centre: {_fmt(centre(self))} vs {_fmt(centre(other))}")
        start = tuple(min(a, b) for a, b in zip(self.start, other.start))
        end = tuple(max(a + r - 1, b + q - 1) for a, r, b, q in zip(self.start, self.size, other.start, other.size))
        jump = tuple(max(a, b) for a, b in zip(self.jump, other.jump))
        return Field(tuple(e - s + 1 for s, e in zip(start, end)), jump, start, False, tuple(sorted(notes)), self.axes)


def _fmt(values) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"


def _spatial(node: Node, axes: tuple | None = None) -> tuple:
    """The node's spatial sizes: at `axes` when its positions were moved, else its trailing axes."""
    return node.shape[2:] if axes is None else tuple(node.shape[a] for a in axes)


def _moved(node: Node, parent: Node, axes: tuple):
    """Where an AxisMap op puts the spatial axes (None: it mixes them; the default order is None too)."""
    moved = node.rf.moves(parent.shape, node.shape, axes)
    return "mixed" if moved is None else (None if moved == tuple(range(-len(axes), 0)) else moved)


def fields(graph: Graph) -> list:
    """The Field of every node, in graph order."""
    n_sp = len(_spatial(graph.input))
    whole = Field(tuple(_spatial(graph.input)), (None,) * n_sp, (0,) * n_sp, True)
    out = []
    for node in graph.nodes:
        if node.op == "input":
            out.append(Field((Fraction(1),) * n_sp, (Fraction(1),) * n_sp, (Fraction(0),) * n_sp))
            continue
        parents = [out[p] for p in node.parents]
        if not parents:  # made from parameters only
            out.append(whole)
            continue
        out.append(_forward(node, parents, [graph.nodes[p] for p in node.parents], whole))
    return out


def _forward(node: Node, fields_in, parents, whole: Field) -> Field:
    f = fields_in[0]
    if f.whole:
        return whole
    if isinstance(node.rf, AxisMap):
        axes = _moved(node, parents[0], f.axes_in())
        return whole if axes == "mixed" else replace(f, axes=axes)
    window = _window(node)
    if window is not None and f.axes is not None:
        return whole  # a window over axes that are not the spatial ones
    if window is not None:  # r + d(k-1) j, start - p_lo j, with j the jump between the window's taps
        geo = node.geometry
        if window.transposed:  # zero insertion by s, then a stride-1 conv padded d(k-1) - p
            taps = jumps = tuple(j / s for j, s in zip(f.jump, geo.stride))
            pads = transposed_as_conv_pads(geo.kernel, geo.dilation, geo.pads)
        else:
            taps, jumps, pads = f.jump, tuple(j * s for j, s in zip(f.jump, geo.stride)), geo.pads
        return Field(tuple(r + d * (k - 1) * j for r, j, k, d in zip(f.size, taps, geo.kernel, geo.dilation)),
                     jumps, tuple(st - p[0] * j for st, j, p in zip(f.start, taps, pads)), False, f.notes)
    if _mixes_positions(node, parents[0]):
        return whole
    merged = None  # element-wise: the union over the inputs that keep the output's positions
    for g, p in zip(fields_in, parents):
        if g.whole or g.axes != f.axes or _spatial(p, g.axes) != _spatial(node, f.axes):
            if g.whole or (len(_spatial(p)) and any(s != 1 for s in _spatial(p))):
                return whole  # spatial broadcasting (or a path that saw everything) mixes positions
            continue
        merged = g if merged is None else merged.union(g)
    return merged or whole


def receptive_field(model, input_shape) -> Field:
    """The receptive field of the model's output (see `Field`)."""
    graph = trace(model, input_shape)
    return fields(graph)[graph.outputs[0]]


# ------------------------------------------------------------------------------ regions

def _window_box(lo, hi, n_in, geo, axis) -> tuple | None:
    return window_reach(lo, hi, n_in, geo.kernel[axis], geo.stride[axis], geo.dilation[axis], geo.pads[axis][0])


def _transposed_box(lo, hi, n_in, geo, axis) -> tuple | None:
    return transposed_reach(lo, hi, n_in, geo.kernel[axis], geo.stride[axis], geo.dilation[axis], geo.pads[axis][0])


def _parent_box(node: Node, parent: Node, box, axes: tuple | None, parent_axes: tuple | None):
    """The box of `parent` feeding `box` of `node`; `axes` say where each node's spatial axes are."""
    if box == "all":
        return "all"
    if isinstance(node.rf, AxisMap):  # positions moved, not mixed (else the forward pass saw it whole)
        return box if _moved(node, parent, parent_axes or tuple(range(-len(box), 0))) != "mixed" else "all"
    if _mixes_positions(node, parent) or (_window(node) is not None and parent_axes is not None):
        return "all"
    n_in = _spatial(parent, parent_axes)
    window = _window(node)
    if window is not None:
        rule = _transposed_box if window.transposed else _window_box
        geo = node.geometry
        out = [rule(lo, hi, n, geo, a) for a, ((lo, hi), n) in enumerate(zip(box, n_in))]
        return None if any(b is None for b in out) else tuple(out)
    if n_in != _spatial(node, axes):
        return None if all(s == 1 for s in n_in) else "all"
    return box


def _merge(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a == "all" or b == "all":
        return "all"
    return tuple((min(x[0], y[0]), max(x[1], y[1])) for x, y in zip(a, b))


def regions(graph: Graph, node_index: int, index) -> dict:
    """For every node up to `node_index`, the box (per spatial axis (first, last), or "all") of its
    cells that can influence unit `index` (spatial) of node `node_index`."""
    target = graph.nodes[node_index]
    axes = [f.axes for f in fields(graph)]
    spatial = _spatial(target, axes[node_index])
    index = (index,) if isinstance(index, int) else tuple(index)
    if len(index) == len(spatial) + 1:
        index = index[1:]  # (channel, *spatial): the channel does not change the box
    if len(index) != len(spatial) or any(not 0 <= i < n for i, n in zip(index, spatial)):
        raise ValueError(f"unit {index} is not a position of the layer's output: its spatial shape is {spatial}"
                         + (" (no spatial axes left: the layer is past flattening or global pooling)" if not spatial else ""))
    pending, done = {node_index: tuple((i, i) for i in index)}, {}
    for node in reversed(graph.nodes[: node_index + 1]):
        box = pending.pop(node.index, None)
        if box is None:
            continue
        done[node.index] = box
        for p in node.parents:
            pending[p] = _merge(pending.get(p), _parent_box(node, graph.nodes[p], box, axes[node.index], axes[p]))
    return done


def region(graph: Graph, node_index: int, index) -> tuple:
    """Slices of the input that can influence unit `index` (spatial) of node `node_index`."""
    box = regions(graph, node_index, index).get(0)
    if box is None:
        raise ValueError(f"unit {index} does not depend on the input (its window is all padding)")
    if box == "all":
        return tuple(slice(0, n) for n in _spatial(graph.input))
    return tuple(slice(lo, hi + 1) for lo, hi in box)


def receptive_region(model, input_shape, index, layer=None) -> tuple:
    """The input box (slices, clipped to the input) feeding output unit `index` of `layer`.

    `layer` is a module of the model (or its qualified name); None means the model's output.
    """
    graph = trace(model, input_shape)
    return region(graph, _node_of(graph, layer), index)


def _node_of(graph: Graph, layer) -> int:
    if layer is None:
        return graph.outputs[0]
    return graph.module_output(graph.model.layer(layer)).index
