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

from .receptive import Field, fields
from .trace import Graph, Node, trace

# bytes a backward pass keeps per element of the op's input (i) or output (o): an estimate by counting
_SAVED = {"conv": ("i", None), "conv_transpose": ("i", None), "matmul": ("i", None), "linear": ("i", None), "batch_norm": ("i", None),
          "relu": ("o", 1), "leaky_relu": ("o", None), "max_pool": ("o", 8), "global_max_pool": ("o", 8),
          "kmax_pool": ("o", 8), "dropout": ("o", None), "tanh": ("o", None), "sigmoid": ("o", None),
          "exp": ("o", None), "softmax": ("o", None), "log_softmax": ("o", None), "mul": ("i", None),
          "pow": ("i", None), "log": ("i", None)}


def macs(node: Node, graph: Graph) -> int:
    """Multiply-accumulates of one sample through `node` (convolutions and matrix products only).

    conv: out_elements * (C_in/groups) * prod(K). transposed conv: weight elements * INPUT positions,
    since every input element meets every weight of its group once (counting output positions, as
    torchinfo, thop and ptflops do, is wrong by the stride factor). matmul: out_elements * inner.
    """
    per_sample = lambda shape: int(np.prod(shape[1:])) if len(shape) > 1 else int(np.prod(shape))  # noqa: E731
    if node.op == "conv":
        w = node.attrs["weight"]
        return per_sample(node.shape) * int(np.prod(w[1:]))
    if node.op == "conv_transpose":
        w = node.attrs["weight"]
        return int(np.prod(w)) * int(np.prod(graph.nodes[node.parents[0]].shape[2:]))
    if node.op == "matmul":
        return per_sample(node.shape) * node.attrs["inner"]
    if node.op == "linear":
        return per_sample(node.shape) * node.attrs["weight"][1]
    return 0


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
                f"(batch {t['batch_size']})"]

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
        key = id(leaf) if leaf is not None else ("op", node.index)
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
                  sum(p.data.size for p in own if not p.requires_grad), sum(macs(n, graph) for n in nodes),
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
        if node.op not in ("conv", "max_pool", "avg_pool"):
            continue
        geo = node.attrs["geometry"]
        if node.op == "conv":
            fan_in = int(np.prod(node.attrs["weight"][1:]))
            if node.attrs["weight"][0] > fan_in:
                notes.append(f"more filters ({node.attrs['weight'][0]}) than inputs per window ({fan_in})")
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
    training = 0
    for node in graph.nodes:
        rule = _SAVED.get(node.op)
        if rule is None:
            continue
        src, width = rule
        ref = graph.nodes[node.parents[0]] if src == "i" and node.parents else node
        n = int(np.prod(ref.shape))
        training += n * (width or np.dtype(ref.dtype).itemsize)
    return {"params": sum(p.data.size for p in params if p.requires_grad),
            "non_trainable": sum(p.data.size for p in params if not p.requires_grad),
            "param_bytes": sum(p.data.nbytes for p in params) + buffers,
            "macs": sum(r.macs for r in rows), "forward_bytes": sum(n.nbytes for n in graph.nodes),
            "training_bytes": training, "batch_size": batch_size}
