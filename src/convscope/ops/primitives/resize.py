"""Resizing (PyTorch's F.interpolate, nn.Upsample; ONNX Resize): nearest, nearest-exact and
(bi/tri)linear interpolation of the spatial axes, by output size or by scale factor.

Each mode is separable: an axis of size i resized to o is the product with an o x i matrix W whose
row d holds the weights output cell d gives to the input cells, by PyTorch's coordinate rules with
scale r (1/scale_factor when a scale factor is given, i/o otherwise):
    nearest        src = min(floor(d r), i - 1)                 (computed in float32, as PyTorch)
    nearest-exact  src = min(floor((d + 0.5) r), i - 1)
    linear         x = (d + 0.5) r - 0.5, clamped at 0 (align_corners=False, the half-pixel rule)
                   x = d (i - 1) / (o - 1)                       (align_corners=True)
                   weights 1 - (x - floor x) and x - floor x on cells floor x and min(floor x + 1, i - 1)
    bicubic        x as linear but not clamped; Keys' cubic weights (a = -0.75) on cells floor x - 1 ..
                   floor x + 2, each clamped into 0 .. i - 1
With `coordinates` (ONNX Resize's coordinate_transformation_mode) x follows ONNX's rule instead, in
float64, nearest cells rounded by `nearest_mode`, and cubic taps past the edges dropped with
`exclude_outside`.
The forward applies W along each axis; the backward, the adjoint, applies W^T.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..geometry import WindowGeometry, ntuple
from ..registry import GLOBAL, Aval, Op, Window, no_macs, register

LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2}  # mode -> spatial axes, as PyTorch insists
MODES = ("nearest", "nearest-exact", *LINEAR)
# ONNX's coordinate_transformation_mode: source coordinate of output cell d on an axis of i cells,
# r = i / w the inverse scale and w = i / r the output length before rounding (ONNX's float width)
COORDINATES = {
    "half_pixel": lambda d, i, o, r: (d + 0.5) * r - 0.5,
    "pytorch_half_pixel": lambda d, i, o, r: (d + 0.5) * r - 0.5 if i / r != 1 else -0.5 + 0 * d,
    "asymmetric": lambda d, i, o, r: d * r,
    "align_corners": lambda d, i, o, r: d * (i - 1) / (i / r - 1) if i / r != 1 else 0 * d,
    "half_pixel_symmetric": lambda d, i, o, r: i / 2 * (1 - o * r / i) + (d + 0.5) * r - 0.5,
}
ROUNDINGS = {  # ONNX's nearest_mode
    "round_prefer_floor": lambda x: np.where(x - np.floor(x) == 0.5, np.floor(x), np.round(x)),
    "round_prefer_ceil": lambda x: np.where(x - np.floor(x) == 0.5, np.ceil(x), np.round(x)),
    "floor": np.floor,
    "ceil": np.ceil,
}


def resolve(x_shape, size=None, scale_factor=None, mode="nearest", align_corners=None,
            recompute_scale_factor=None, antialias=False, coordinates=None, nearest_mode="round_prefer_floor",
            cubic_coeff_a=-0.75, exclude_outside=False):
    """(output size, scale r per axis for the coordinates or None for i/o, align_corners), checked
    as PyTorch checks them."""
    n = len(x_shape) - 2
    if mode not in MODES:
        raise ValueError(f"interpolate: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if n < 1:
        raise ValueError(f"interpolate: input {tuple(x_shape)} must be (N, C, *S) with 1 to 3 spatial axes")
    if mode in LINEAR and LINEAR[mode] != n:
        fit = [m for m, k in LINEAR.items() if k == n]
        raise ValueError(f"interpolate: mode {mode!r} needs {LINEAR[mode]} spatial axes, the input {tuple(x_shape)} "
                         f"has {n}" + (f" (use {fit[0]!r})" if fit else ""))
    if align_corners is not None and mode not in LINEAR:
        raise ValueError(f"interpolate: align_corners is for the linear modes only, not {mode!r}; leave it None")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    if coordinates is not None and (coordinates not in COORDINATES or align_corners is not None):
        raise ValueError(f"interpolate: coordinates (ONNX's coordinate_transformation_mode) must be one of "
                         f"{', '.join(map(repr, COORDINATES))}, without align_corners; got {coordinates!r}")
    if nearest_mode not in ROUNDINGS:
        raise ValueError(f"interpolate: nearest_mode must be one of {', '.join(map(repr, ROUNDINGS))}, "
                         f"got {nearest_mode!r}")
    both = coordinates is not None and size is not None and scale_factor is not None  # ONNX: sizes, scale sets x
    if (size is None) == (scale_factor is None) and not both:
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         + ("neither" if size is None else f"size={size} and scale_factor={scale_factor}"))
    in_size = tuple(x_shape[2:])
    if both:
        out = tuple(_count(s, a) for a, s in enumerate(ntuple(size, n, "size", "interpolate")))
        scales = tuple(1.0 / float(f) for f in ntuple(scale_factor, n, "scale_factor", "interpolate"))
    elif size is not None:
        out = tuple(_count(s, a) for a, s in enumerate(ntuple(size, n, "size", "interpolate")))
        scales = (None,) * n
    else:
        factors = ntuple(scale_factor, n, "scale_factor", "interpolate")
        for a, f in enumerate(factors):
            if isinstance(f, bool) or not isinstance(f, numbers.Real) or not f > 0:
                raise ValueError(f"interpolate (spatial axis {a}): scale_factor must be a number > 0, got {f!r}")
        out = tuple(int(np.floor(float(i) * float(f))) for i, f in zip(in_size, factors))
        for a, (i, f, o) in enumerate(zip(in_size, factors, out)):
            if o < 1:
                raise ValueError(f"interpolate (spatial axis {a}): output size floor(i * scale_factor) = "
                                 f"floor({i} * {f}) = {o} < 1")
        scales = (None,) * n if recompute_scale_factor else tuple(1.0 / float(f) for f in factors)
    return out, scales, bool(align_corners) if mode in LINEAR else None


def _count(s, a) -> int:
    if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
        raise ValueError(f"interpolate (spatial axis {a}): size must be an int >= 1, got {s!r}")
    return int(s)


def cubic(t, a):
    """The weights of taps -1, 0, 1, 2 around x for x - floor(x) = t (Keys' cubic convolution with
    coefficient a: PyTorch's bicubic is a = -0.75, ONNX's default too)."""
    def near(z):  # |z| <= 1
        return ((a + 2) * z - (a + 3)) * z * z + 1

    def far(z):  # 1 < |z| < 2
        return ((a * z - 5 * a) * z + 8 * a) * z - 4 * a
    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def _kernel_matrix(x, i: int, mode: str, cubic_coeff_a, exclude_outside, dtype) -> np.ndarray:
    """Rows of linear (taps floor x, floor x + 1) or cubic (taps floor x - 1 .. floor x + 2) weights
    for source coordinates x; taps past an edge read the edge cell (ONNX's and PyTorch's rule), or
    with exclude_outside get weight 0, the others renormalised to sum 1."""
    base = np.floor(x)
    t = x - base
    if mode == "bicubic":
        tap, wts = base[:, None] + np.arange(-1, 3), cubic(t, cubic_coeff_a)
    else:
        tap, wts = base[:, None] + np.arange(2), np.stack([1 - t, t], axis=-1)
    if exclude_outside:
        wts = np.where((tap >= 0) & (tap < i), wts, 0)
        wts = wts / wts.sum(axis=1, keepdims=True)
    w = np.zeros((len(x), i), np.float64)
    rows = np.broadcast_to(np.arange(len(x))[:, None], tap.shape)
    np.add.at(w, (rows, np.clip(tap, 0, i - 1).astype(np.int64)), wts)
    return w.astype(dtype)


def _onnx_weights(i, o, r, mode, coordinates, nearest_mode, cubic_coeff_a, exclude_outside, dtype):
    """One axis's matrix by ONNX's Resize rules, computed in float64 as ONNX's reference does."""
    r = i / o if r is None else float(r)
    x = COORDINATES[coordinates](np.arange(o, dtype=np.float64), i, o, r)
    if mode.startswith("nearest"):
        w = np.zeros((o, i), dtype)
        w[np.arange(o), np.clip(ROUNDINGS[nearest_mode](x), 0, i - 1).astype(np.int64)] = 1
        return w
    return _kernel_matrix(x, i, mode, cubic_coeff_a, exclude_outside, dtype)


def weights(i: int, o: int, r, mode: str, align_corners, dtype, coordinates=None, nearest_mode="round_prefer_floor",
            cubic_coeff_a=-0.75, exclude_outside=False) -> np.ndarray:
    """The o x i matrix of one axis (see the module's docstring); with `coordinates`, ONNX's rules."""
    if coordinates is not None:
        return _onnx_weights(i, o, r, mode, coordinates, nearest_mode, cubic_coeff_a, exclude_outside, dtype)
    d = np.arange(o)
    w = np.zeros((o, i), dtype)
    if mode == "bicubic":  # PyTorch's coordinates, not clamped at 0 (its cubic taps read the edge)
        if align_corners:
            x = d.astype(dtype) * dtype.type((i - 1) / (o - 1) if o > 1 else 0)
        else:
            x = (d.astype(dtype) + dtype.type(0.5)) * dtype.type(i / o if r is None else r) - dtype.type(0.5)
        return _kernel_matrix(x, i, mode, cubic_coeff_a, exclude_outside, dtype)
    if mode in ("nearest", "nearest-exact"):
        scale = np.float32(i / o if r is None else r)
        pos = d.astype(np.float32) + np.float32(0.5 if mode == "nearest-exact" else 0)
        src = np.minimum(np.floor(pos * scale).astype(np.int64), i - 1)
        w[d, src] = 1
        return w
    if align_corners:
        scale = dtype.type((i - 1) / (o - 1) if o > 1 else 0)
        x = d.astype(dtype) * scale
    else:
        scale = dtype.type(i / o if r is None else r)
        x = np.maximum((d.astype(dtype) + dtype.type(0.5)) * scale - dtype.type(0.5), 0)
    lo = np.minimum(np.floor(x).astype(np.int64), i - 1)
    hi = np.minimum(lo + 1, i - 1)
    lam = (x - lo).astype(dtype)
    np.add.at(w, (d, lo), 1 - lam)
    np.add.at(w, (d, hi), lam)
    return w


def _along(x, w, axis):
    """Apply the (o, i) matrix w along `axis` of x."""
    return np.moveaxis(np.moveaxis(x, axis, -1) @ w.T, -1, axis)


def _forward(x, *, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
             antialias=False, coordinates=None, nearest_mode="round_prefer_floor", cubic_coeff_a=-0.75,
             exclude_outside=False):
    onnx = dict(coordinates=coordinates, nearest_mode=nearest_mode, cubic_coeff_a=cubic_coeff_a,
                exclude_outside=exclude_outside)
    out, scales, corners = resolve(x.shape, size, scale_factor, mode, align_corners, recompute_scale_factor,
                                   antialias, **onnx)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    mats = [weights(i, o, r, mode, corners, dtype, **onnx) for i, o, r in zip(x.shape[2:], out, scales)]
    y = x
    for a, w in enumerate(mats):
        y = _along(y, w, 2 + a)

    def backward(g):
        for a, w in enumerate(mats):
            g = _along(g, w.T, 2 + a)  # the adjoint of each axis's product
        return (g,)
    return y.astype(x.dtype, copy=False), backward


def _shape(x, **a):
    out, _, _ = resolve(x.shape, **a)
    return Aval((*x.shape[:2], *out), x.dtype)


def _ratios(ins, a):
    """Per axis: is it upsampled by an integer factor f (o = f i), downsampled by an integer ratio
    (i = r o), with coordinates using exactly that scale? And align_corners."""
    out, scales, corners = resolve(ins[0].shape, **a)
    up = [o % i == 0 and (r is None or r * (o // i) == 1) for i, o, r in zip(ins[0].shape[2:], out, scales)]
    down = [i % o == 0 and (r is None or r == i // o) for i, o, r in zip(ins[0].shape[2:], out, scales)]
    return up, down, corners


def _rf(ins, a):
    """Nearest or linear upsampling by integer factors f is a transposed window (nearest: kernel f,
    stride f; linear: kernel 2f, stride f, low padding ceil(f/2), the cells a bilinear deconvolution
    reads); nearest downsampling by integer ratios is a strided 1-cell window. Anything else
    (align_corners, fractional scales) is reported as seeing the whole input."""
    up, down, corners = _ratios(ins, a)
    mode = a.get("mode", "nearest")
    if a.get("coordinates") is not None or mode == "bicubic":
        return GLOBAL
    if mode == "nearest" and all(down):
        return Window(_down_geometry)
    if mode in ("nearest", *LINEAR) and not corners and all(up):
        return Window(_up_geometry, transposed=True)
    return GLOBAL


def _down_geometry(ins, out, a) -> WindowGeometry:
    in_size = tuple(ins[0].shape[2:])
    size = resolve(ins[0].shape, **a)[0]
    n = len(size)
    return WindowGeometry(in_size, (1,) * n, tuple(i // o for i, o in zip(in_size, size)), (1,) * n,
                          ((0, 0),) * n, size)


def _up_geometry(ins, out, a) -> WindowGeometry:
    """The conv from the resized output back to the input (a transposed window's geometry)."""
    in_size = tuple(ins[0].shape[2:])
    size = resolve(ins[0].shape, **a)[0]
    f = tuple(o // i for i, o in zip(in_size, size))
    if a.get("mode", "nearest") == "nearest":
        return WindowGeometry(size, f, f, (1,) * len(f), ((0, 0),) * len(f), in_size)
    return WindowGeometry(size, tuple(2 * s for s in f), f, (1,) * len(f),
                          tuple(((s + 1) // 2, s // 2) for s in f), in_size)


def _onnx(e, node):
    a = node.attrs
    mode = a.get("mode", "nearest")
    out, scales, corners = resolve(node.in_avals[0].shape, **a)
    kind = "nearest" if mode.startswith("nearest") else "cubic" if mode == "bicubic" else "linear"
    kw = dict(mode=kind)
    if kind == "cubic":
        kw.update(cubic_coeff_a=float(a.get("cubic_coeff_a", -0.75)), exclude_outside=int(a.get("exclude_outside", 0)))
    if a.get("coordinates") is not None:
        kw.update(coordinate_transformation_mode=a["coordinates"])
        if kind == "nearest":
            kw.update(nearest_mode=a.get("nearest_mode", "round_prefer_floor"))
    elif mode == "nearest":
        kw.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    elif mode == "nearest-exact":
        kw.update(coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    else:
        kw.update(coordinate_transformation_mode="align_corners" if corners else "half_pixel")
    if all(r is not None for r in scales):  # the scale factor itself sets the coordinates, as in PyTorch
        inputs = [e.inputs[0], "", e.const(np.array([1, 1, *(1 / r for r in scales)], np.float32))]
    else:
        lead = e.emit("Shape", [e.inputs[0]], start=0, end=2)  # (N, C), the batch size left symbolic
        sizes = e.emit("Concat", [lead, e.const(np.array(out, np.int64))], axis=0)
        inputs = [e.inputs[0], "", "", sizes]
    e.emit("Resize", inputs, e.output, **kw)


_MODES = {"nearest": "nearest", "linear": "linear", "bilinear": "bilinear", "trilinear": "trilinear",
          "bicubic": "bicubic"}
_ATEN = tuple(f"upsample_{m}{d}d" for m, ds in (("nearest", "123"), ("linear", "1"), ("bilinear", "2"),
                                                ("trilinear", "3"), ("bicubic", "2")) for d in ds)


def _from_aten(a, name):
    """aten.upsample_<mode><n>d(input, output_size, [align_corners,] scale_factors): the op's settings."""
    mode = name[len("upsample_"):-2]
    scales = a.get("scale_factors")
    if scales is None and any(k.startswith("scales") and a[k] is not None for k in a):
        scales = [a[k] for k in a if k.startswith("scales")]
    size = a.get("output_size")
    return (a["input"],), {"size": None if scales is not None else tuple(size), "mode": _MODES[mode],
                           "scale_factor": None if scales is None else tuple(scales),
                           "align_corners": a.get("align_corners")}


interpolate = register(Op("interpolate", _forward, _shape, no_macs, _rf, torch=("interpolate",), aten=_ATEN,
                          from_aten=_from_aten, onnx=_onnx))
