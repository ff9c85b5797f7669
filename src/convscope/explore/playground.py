"""The playground's check table: geometries with convscope's own answers (output shape, parameters,
MACs, receptive field, or the error message), computed by `conv_arithmetic`, the function behind
`convscope size`. The page replays the table on load with its JavaScript arithmetic and shows
whether every row agrees, so a page can never silently drift from the library."""
from __future__ import annotations

import functools

import numpy as np

PADDINGS = ("valid", "same", "full")


def geometry(dims, size, kernel, stride, padding, dilation, in_channels, out_channels, groups,
             transposed=False, output_padding=0) -> dict:
    """One playground setting as the page's controls hold it (sizes per axis, the rest shared)."""
    return {"dims": int(dims), "size": [int(v) for v in size][:dims], "kernel": int(kernel), "stride": int(stride),
            "padding": padding if padding in PADDINGS else int(padding), "dilation": int(dilation),
            "in_channels": int(in_channels), "out_channels": int(out_channels), "groups": int(groups),
            "transposed": bool(transposed), "output_padding": int(output_padding) if transposed else 0}


def answer(g: dict) -> dict:
    """convscope's result for one setting: the layer's numbers, or the message it raises."""
    from ..analysis import conv_arithmetic

    try:
        r = conv_arithmetic((g["in_channels"], *g["size"]), g["kernel"], g["stride"], g["padding"], g["dilation"],
                            g["out_channels"], g["groups"], g["transposed"], g["output_padding"])
    except (ValueError, TypeError) as err:
        return {"error": str(err)}
    return {"output_shape": list(r["output_shape"]), "params": r["params"], "macs": r["macs"],
            "rf_size": [str(v) for v in r["rf_size"]], "rf_jump": [str(v) for v in r["rf_jump"]],
            "rf_start": [str(v) for v in r["rf_start"]]}


def random_geometry(rng) -> dict:
    """A setting drawn from the ranges the controls offer, impossible ones included on purpose."""
    dims = int(rng.integers(1, 3))
    transposed = bool(rng.random() < 0.35)
    pads = [0, 1, 2, 3, 5] + ([] if transposed else list(PADDINGS))
    groups = int(rng.choice([1, 1, 2, 3, 4]))
    # channels are mostly multiples of groups, so that most rows test the sizes rather than the groups rule
    fit = rng.random() < 0.85
    c_in, c_out = ((groups * rng.integers(1, 4), groups * rng.integers(1, 4)) if fit
                   else (rng.integers(1, 9), rng.integers(1, 9)))
    return geometry(dims, rng.integers(1, 12, size=dims), rng.integers(1, 7), rng.integers(1, 4),
                    pads[int(rng.integers(len(pads)))], rng.integers(1, 4), c_in, c_out, groups, transposed,
                    rng.integers(0, 3))


@functools.lru_cache(maxsize=4)
def check_table(n: int = 240, seed: int = 0) -> tuple:
    """`n` random settings (fixed seed) and convscope's answer to each (computed once per process)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        g = random_geometry(rng)
        rows.append({"geometry": g, "answer": answer(g)})
    return tuple(rows)
