"""The analysis half of the explore page: what convscope knows from shapes alone, for any model
`summary` accepts (no weights needed): the layer table, every unit's input box, and the kernels."""
from __future__ import annotations

import numpy as np

from ..analysis import receptive_region, summary
from .pack import pack

MAX_FILTERS, MAX_KERNEL_INPUTS = 16, 8


def _fmt(values) -> list:
    return [None if v is None else str(v) for v in values]


def layer_rows(model, input_shape) -> tuple[list, dict]:
    """summary()'s rows as plain dicts (with whether each names a module of the model) and totals."""
    modules = dict(model.named_modules())
    rows = []
    s = summary(model, input_shape)
    for r in s.rows:
        rows.append({"name": r.name, "kind": r.kind, "depth": r.depth, "group": r.group,
                     "output_shape": list(r.output_shape), "params": r.params, "macs": r.macs,
                     "rf_size": _fmt(r.rf_size), "rf_jump": _fmt(r.rf_jump), "rf_start": _fmt(r.rf_start),
                     "notes": list(r.notes), "module": r.name in modules and not r.group})
    return rows, {"params": s.totals["params"], "macs": s.totals["macs"]}


def spatial(row: dict, input_shape) -> tuple:
    """The row's spatial output size, () when it has none (flattened, pooled away, a group row)."""
    shape = row["output_shape"]
    return tuple(shape[1:]) if len(shape) == len(input_shape) else ()


def boxes(model, input_shape, row: dict) -> list | None:
    """Per spatial axis, [first, last] input cell feeding each position of the row's output.

    receptive_region's box is separable (each axis depends only on that axis's index), so walking
    the diagonal gives every unit's box: unit (c, i, j) sees rows boxes[0][i] and columns boxes[1][j].
    """
    size = spatial(row, input_shape)
    if not size or not row["module"]:
        return None
    out = [[] for _ in size]
    for i in range(max(size)):
        index = (0, *(min(i, n - 1) for n in size))
        region = receptive_region(model, input_shape, index, layer=row["name"])
        for a, n in enumerate(size):
            if i < n:
                out[a].append([region[a].start, region[a].stop - 1])
    return out


def kernels(module) -> dict | None:
    """The first filters of a convolution (at most 16 outputs x 8 inputs), packed, or None."""
    w = getattr(module, "weight", None)
    if w is None or not hasattr(module, "kernel_size") or np.ndim(w.data) < 3:
        return None
    data = np.asarray(w.data)
    shown = data[:MAX_FILTERS, :MAX_KERNEL_INPUTS]
    note = "" if shown.shape == data.shape else (f"first {shown.shape[0]} of {data.shape[0]} filters, first "
                                                 f"{shown.shape[1]} of {data.shape[1]} input channels")
    return {"weights": pack(shown), "full_shape": list(data.shape), "note": note,
            "transposed": bool(getattr(module, "transposed", False))}
