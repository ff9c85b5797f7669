"""cs.summary: one row per layer (blocks as group rows) from a shape-only trace of the model.

Columns: name, kind, output shape, parameters (trainable and not), MACs per sample, activation
memory, and per spatial axis the receptive-field size, jump and start; a notes column flags what
the lecture warns about.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import numpy as np

from ..ops.registry import OPAQUE, Window
from .receptive import Field, fields
from .trace import Graph, Node, trace

def macs(node: Node, graph: Graph | None = None) -> int:
    """Multiply-accumulates of one sample through `node`: its op's MACs rule (convolutions and matrix
    products count; a transposed conv counts weight elements * INPUT positions, since every input
    element meets every weight of its group once)."""
    return node.macs


def _num(v):
    if v is None:
        return None
    v = Fraction(v)
    return int(v) if v.denominator == 1 else str(v)


@dataclass
class Row:
    name: str
    kind: str
    depth: int
    output_shape: tuple
    params: int
    non_trainable: int
    macs: int
    activation_bytes: int
    rf_size: tuple
    rf_jump: tuple
    rf_start: tuple
    notes: list = field(default_factory=list)
    group: bool = False


@dataclass
class Summary:
    rows: list
    totals: dict
    input_shape: tuple

    def to_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "rows": [asdict(r) for r in self.rows], "totals": self.totals}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str)

    def _cells(self, row: Row) -> list:
        rf = lambda t: ("x".join(str(v) for v in t) if t[0] is not None else "all") if t else ""  # noqa: E731
        return ["  " * row.depth + row.name, row.kind, "x".join(map(str, row.output_shape)) if row.output_shape else "",
                f"{row.params:,}" if row.params or not row.group else "", f"{row.macs:,}" if row.macs else "",
                _bytes(row.activation_bytes) if not row.group else "", rf(row.rf_size), rf(row.rf_jump),
                rf(row.rf_start), "; ".join(row.notes)]

    HEAD = ["layer", "kind", "output", "params", "MACs", "activation", "RF size", "RF jump", "RF start", "notes"]

    def _footer(self) -> list:
        t = self.totals
        return [f"parameters: {t['params']:,} trainable, {t['non_trainable']:,} non-trainable "
                f"({_bytes(t['param_bytes'])} with buffers)",
                f"MACs per sample: {t['macs']:,}",
                f"activations: forward {_bytes(t['forward_bytes'])}, kept for backward {_bytes(t['training_bytes'])} "
                f"(batch {t['batch_size']})"] + \
            ([f"not counted (known by shape only): {', '.join(t['not_counted'])}"] if t.get("not_counted") else [])

    def __rich__(self):
        return self.table()

    def table(self, columns=None):
        """The rich Table; `columns` (names from HEAD) keeps only those, e.g. to fit a narrow terminal."""
        from rich.table import Table

        keep = [i for i, h in enumerate(self.HEAD) if columns is None or h in columns]
        table = Table(*(self.HEAD[i] for i in keep), title=f"input {'x'.join(map(str, self.input_shape))}",
                      caption="\n".join(self._footer()))
        for row in self.rows:
            cells = self._cells(row)
            table.add_row(*(cells[i] for i in keep), style="bold" if row.group else None)
        return table

    def __str__(self) -> str:
        from rich.console import Console

        console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(self)
        return console.export_text()

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(self.HEAD) + " |", "|" + "---|" * len(self.HEAD)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in self._cells(r)) + " |" for r in self.rows]
        return "\n".join(lines + [""] + self._footer()) + "\n"

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{h}</th>" for h in self.HEAD)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self._cells(r)) + "</tr>" for r in self.rows)
        foot = "<br>".join(html.escape(f) for f in self._footer())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{foot}</p>"


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def summary(model, input_shape, batch_size: int = 1, dtype="float32") -> Summary:
    """Per-layer shapes, parameters, MACs, activation memory and receptive fields of any model.

    Args:
        input_shape: one sample's shape, (C, *spatial).
    """
    graph = trace(model, input_shape, batch_size, dtype)
    return build(graph, tuple(input_shape), batch_size)


def build(graph: Graph, input_shape: tuple, batch_size: int) -> Summary:
    flds = fields(graph)
    rows, seen_groups, seen_params, order = [], set(), set(), []
    groups: dict[int, list] = {}  # row key -> nodes
    for node in graph.nodes[1:]:
        leaf = node.modules[-1] if node.modules and not node.modules[-1]._modules else None
        blocks = [m for m in node.modules if m._modules and m is not graph.model]
        for depth, m in enumerate(blocks):
            if id(m) not in seen_groups:
                seen_groups.add(id(m))
                order.append(("group", m, depth))
        key = ("call", node.call) if leaf is not None else ("op", node.index)  # a layer called twice: two rows
        if key not in groups:
            groups[key] = []
            order.append(("row", key, len(blocks)))
        groups[key].append((node, leaf))
    input_size = graph.input.shape[2:]
    covered = False
    for item in order:
        if item[0] == "group":
            m = item[1]
            params = [p for p in m.parameters()]
            rows.append(Row(graph.names[id(m)], type(m).__name__, item[2], (), sum(p.data.size for p in params if p.requires_grad),
                            sum(p.data.size for p in params if not p.requires_grad), 0, 0, (), (), (), [], True))
            continue
        nodes = [n for n, _ in groups[item[1]]]
        leaf = groups[item[1]][0][1]
        last = nodes[-1]
        f: Field = flds[last.index]
        own = [p for p in (leaf._parameters.values() if leaf is not None else []) if p is not None and id(p) not in seen_params]
        seen_params.update(id(p) for p in own)
        row = Row(graph.names[id(leaf)] if leaf is not None else last.op, type(leaf).__name__ if leaf is not None else last.op,
                  item[2], tuple(last.shape[1:]), sum(p.data.size for p in own if p.requires_grad),
                  sum(p.data.size for p in own if not p.requires_grad), sum(n.macs for n in nodes),
                  last.nbytes, tuple(_num(v) for v in f.size) if not f.whole else (None,),
                  tuple(_num(v) for v in f.jump) if not f.whole else (None,),
                  tuple(_num(v) for v in f.start) if not f.whole else (None,), list(f.notes))
        row.notes += _flags(nodes, graph, f, input_size, covered)
        covered = covered or any(n.startswith("first layer whose field covers") for n in row.notes)
        rows.append(row)
    totals = _totals(graph, rows, batch_size)
    return Summary(rows, totals, input_shape)


def _flags(nodes, graph: Graph, f: Field, input_size, covered: bool) -> list:
    notes = []
    for node in nodes:
        if node.rf == OPAQUE:
            notes.append(f"{node.op}: not counted (known by shape only)")
            continue
        if not isinstance(node.rf, Window) or node.rf.transposed:
            continue
        geo = node.geometry
        if node.rf.learned:
            weight = node.in_avals[1].shape
            fan_in = int(np.prod(weight[1:]))
            if weight[0] > fan_in:
                notes.append(f"more filters ({weight[0]}) than inputs per window ({fan_in})")
        for a, (i, k, s, d, (lo, hi)) in enumerate(zip(geo.in_size, geo.kernel, geo.stride, geo.dilation, geo.pads)):
            span = d * (k - 1) + 1
            if s > span:
                notes.append(f"axis {a}: stride {s} > window {span} skips input cells")
            unused = (i + lo + hi - span) % s
            if unused:
                notes.append(f"axis {a}: last {unused} padded row(s) unused")
    if not covered and not f.whole and all(st <= 0 and st + r >= n for st, r, n in zip(f.start, f.size, input_size)):
        notes.append("first layer whose field covers the whole input")
    return notes


def _totals(graph: Graph, rows, batch_size: int) -> dict:
    model = graph.model
    params = model.parameters()
    buffers = sum(np.asarray(b).nbytes for _, b in model.named_buffers())
    training = sum(node.saved_bytes for node in graph.nodes)
    opaque = sorted({node.op for node in graph.nodes[1:] if node.rf == OPAQUE})
    return {"params": sum(p.data.size for p in params if p.requires_grad),
            "non_trainable": sum(p.data.size for p in params if not p.requires_grad),
            "param_bytes": sum(p.data.nbytes for p in params) + buffers,
            "macs": sum(r.macs for r in rows), "forward_bytes": sum(n.nbytes for n in graph.nodes),
            "training_bytes": training, "batch_size": batch_size,
            "activations": sum(1 for node in graph.nodes[1:] if node.opdef.activation), "not_counted": opaque}
