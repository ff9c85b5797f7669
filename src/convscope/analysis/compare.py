"""Design comparisons: models side by side, and the lecture's arithmetic of stacking and bottlenecks."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .summary import summary


@dataclass
class Comparison:
    """Rows of (name, params, macs, activation_bytes, rf_size, rf_jump, depth)."""
    rows: list

    def __str__(self) -> str:
        head = f"{'model':<24}{'params':>14}{'MACs':>16}{'activations':>14}{'RF size':>12}{'RF jump':>10}{'depth':>7}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['name']:<24}{r['params']:>14,}{r['macs']:>16,}{r['activation_bytes']:>14,}"
                         f"{'x'.join(map(str, r['rf_size'])):>12}{'x'.join(map(str, r['rf_jump'])):>10}{r['depth']:>7}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"rows": self.rows}


def compare(*models, input_shape, names=None) -> Comparison:
    """Parameters, MACs, activation memory, receptive field of the last spatial layer, and depth
    (number of activation functions applied) of each model, for the same input shape."""
    names = list(names) if names else [getattr(m, "name", f"model {i + 1}") for i, m in enumerate(models)]
    rows = []
    for name, model in zip(names, models):
        s = summary(model, input_shape)
        spatial = [r for r in s.rows if not r.group and r.rf_size and r.rf_size[0] is not None]
        last = spatial[-1] if spatial else None
        rows.append({"name": name, "params": s.totals["params"], "macs": s.totals["macs"],
                     "activation_bytes": s.totals["forward_bytes"],
                     "rf_size": last.rf_size if last else (), "rf_jump": last.rf_jump if last else (),
                     "depth": s.totals["activations"]})
    return Comparison(rows)


def stacking(f: int, g: int, channels: int, bias: bool = False, dims: int = 2) -> dict:
    """One f x f convolution versus a stack of n = (f-1)/(g-1) g x g convolutions (same receptive field).

    Parameters with C channels in and out: f^2 C^2 versus n g^2 C^2, so the true ratio is
    f^2 / (n g^2): 25/18 for a 5x5 versus two 3x3, 49/27 for a 7x7 versus three 3x3. `dims` is the
    number of spatial axes (1: f C^2 versus n g C^2). The lecture's f^2 / (2g) divides by the
    kernel's side instead of its area and always assumes two layers; what it writes and states is
    in `convscope.lecture.errata()`. This is the one place the stacking arithmetic is written.
    """
    if f <= g or (f - 1) % (g - 1):
        raise ValueError(f"stacking: a stack of {g}x{g} layers reaches {f}x{f} only if (f-1) is a multiple of (g-1)")
    n = (f - 1) // (g - 1)  # each g-wide layer widens the field by g - 1
    one = f ** dims * channels * channels + (channels if bias else 0)
    stack = n * (g ** dims * channels * channels + (channels if bias else 0))
    return {"single": {"kernel": f, "layers": 1, "params": one, "receptive_field": f},
            "stack": {"kernel": g, "layers": n, "params": stack, "receptive_field": 1 + n * (g - 1)},
            "ratio": Fraction(one, stack), "nonlinearities": {"single": 1, "stack": n}}


def bottleneck(c_in: int, c_out: int, kernel: int, c_mid: int, size=(28, 28), bias: bool = False) -> dict:
    """A k x k convolution C_in -> C_out versus a 1x1 reduction C_in -> C_mid followed by the k x k
    convolution C_mid -> C_out ('same' padding, so both keep the map size): parameters and MACs."""
    positions = 1
    for s in size:
        positions *= s
    direct = kernel * kernel * c_in * c_out + (c_out if bias else 0)
    reduced = c_in * c_mid + (c_mid if bias else 0) + kernel * kernel * c_mid * c_out + (c_out if bias else 0)
    direct_macs = kernel * kernel * c_in * c_out * positions
    reduced_macs = (c_in * c_mid + kernel * kernel * c_mid * c_out) * positions
    return {"direct": {"params": direct, "macs": direct_macs},
            "bottleneck": {"params": reduced, "macs": reduced_macs},
            "param_saving": Fraction(direct - reduced, direct), "mac_saving": Fraction(direct_macs - reduced_macs, direct_macs)}


def conv_arithmetic(input_shape, kernel, stride=1, padding=0, dilation=1, filters=1, groups=1,
                    transposed=False, output_padding=0) -> dict:
    """One layer's arithmetic, step by step: output size per axis (formula, values, result),
    parameters, MACs per sample and the layer's own receptive field (size, jump, start)."""
    from ..nn import layers
    from ..nn.init import meta
    from ..ops.geometry import CONV_FORMULA, TRANSPOSED_FORMULA, resolve_padding

    c, *spatial = (int(v) for v in input_shape)
    n = len(spatial)
    cls = {False: [layers.Conv1d, layers.Conv2d, layers.Conv3d], True: [layers.ConvTranspose1d,
           layers.ConvTranspose2d, layers.ConvTranspose3d]}[transposed][n - 1]
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if transposed:
        kw["output_padding"] = output_padding
    with meta():  # shapes are all the arithmetic needs: any size of layer, no weights allocated
        layer = cls(c, filters, kernel, **kw)
    s = summary(layer, input_shape)
    row = s.rows[-1]
    geo_steps = []
    k, st, d = layer.kernel_size, layer.stride, layer.dilation
    pads = resolve_padding(layer.padding, tuple(spatial), k, st, d, "size")
    for a, i in enumerate(spatial):
        lo, hi = pads[a]
        o = row.output_shape[1 + a]
        if transposed:
            q = layer.output_padding[a]
            values = f"({i}-1)*{st[a]} - {lo} - {hi} + {d[a]}*({k[a]}-1) + {q} + 1"
        else:
            values = f"floor(({i} + {lo} + {hi} - {d[a]}*({k[a]}-1) - 1)/{st[a]}) + 1"
        text = f"{TRANSPOSED_FORMULA if transposed else CONV_FORMULA} = {values} = {o}"  # the rule, then its values
        geo_steps.append(text)
    return {"layer": repr(layer), "output_shape": row.output_shape, "steps": geo_steps, "params": s.totals["params"],
            "macs": s.totals["macs"], "rf_size": row.rf_size, "rf_jump": row.rf_jump, "rf_start": row.rf_start,
            "notes": row.notes}
