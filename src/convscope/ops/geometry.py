"""Size arithmetic and argument checks shared by every op, layer and analysis.

All output-size formulas live here (`output_size`, `transposed_output_size`); nothing else in
convscope re-derives them. Errors are ``ValueError``/``TypeError`` that name the op, the axis,
the numbers and the rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..machine import too_big
from ..messages import excerpt

MAX_SPATIAL = 3
CONV_FORMULA = "o = floor((i + p_lo + p_hi - d(k-1) - 1)/s) + 1"
CONV_FORMULA_CEIL = "o = ceil((i + p_lo + p_hi - d(k-1) - 1)/s) + 1"
TRANSPOSED_FORMULA = "o = (i-1)s - p_lo - p_hi + d(k-1) + output_padding + 1"


def _prefix(op: str | None, axis: int | None) -> str:
    where = op or "output_size"
    return f"{where}: " if axis is None else f"{where} (spatial axis {axis}): "


def _check_int(name: str, value, minimum: int, op: str | None, axis: int | None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{_prefix(op, axis)}{name} must be an int, got {excerpt(value)}")
    if value < minimum:
        raise ValueError(f"{_prefix(op, axis)}{name} must be >= {minimum}, got {value}")
    return int(value)


def _pad_pair(padding, op: str | None, axis: int | None) -> tuple[int, int]:
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"{_prefix(op, axis)}padding per axis is an int or (lo, hi), got {excerpt(padding)}")
        lo, hi = padding
    else:
        lo = hi = padding
    name = "padding"
    return _check_int(name, lo, 0, op, axis), _check_int(name, hi, 0, op, axis)


def _window_ints(i, k, stride, dilation, op, axis) -> tuple[int, int, int, int]:
    """Input size, kernel, stride and dilation of one axis, each an int >= 1."""
    return tuple(_check_int(name, v, 1, op, axis) for name, v in
                 (("input size", i), ("kernel size", k), ("stride", stride), ("dilation", dilation)))


def output_size(i, k, stride=1, padding=0, dilation=1, *, ceil_mode=False, op=None, axis=None) -> int:
    """Size of one spatial axis after a convolution or pooling window.

    Args:
        i: input size; k: kernel size; stride: s; padding: p or (p_lo, p_hi); dilation: d.
        ceil_mode: round up (pooling), keeping only windows that start inside the input or the
            low padding, as PyTorch does.
        op, axis: used only to name the failing op and axis in error messages.

    Shape:
        ``o = floor((i + p_lo + p_hi - d(k-1) - 1)/s) + 1``

    >>> output_size(4, 3)
    2
    >>> output_size(5, 3, stride=2, padding=1)
    3
    """
    i, k, s, d = _window_ints(i, k, stride, dilation, op, axis)
    lo, hi = _pad_pair(padding, op, axis)
    span = d * (k - 1) + 1
    padded = i + lo + hi
    if span > padded:
        raise ValueError(
            f"{_prefix(op, axis)}kernel {k} (dilated {span}) > padded input {padded} "
            f"(i={i}, p_lo={lo}, p_hi={hi}): {CONV_FORMULA} = {(padded - span) // s + 1}")
    if ceil_mode:
        o = -(-(padded - span) // s) + 1
        if (o - 1) * s >= i + lo:  # the last window would start in the high padding only
            o -= 1
        return o
    return (padded - span) // s + 1


def transposed_output_size(i, k, stride=1, padding=0, dilation=1, output_padding=0, *, op=None, axis=None) -> int:
    """Size of one spatial axis after a transposed convolution (the adjoint of `output_size`).

    Shape:
        ``o = (i-1)s - p_lo - p_hi + d(k-1) + output_padding + 1``

    >>> transposed_output_size(2, 3)
    4
    >>> transposed_output_size(3, 3, stride=2, padding=1, output_padding=1)
    6
    """
    i, k, s, d = _window_ints(i, k, stride, dilation, op, axis)
    op_ = _check_int("output_padding", output_padding, 0, op, axis)
    lo, hi = _pad_pair(padding, op, axis)
    if op_ >= s and op_ >= d:
        raise ValueError(
            f"{_prefix(op, axis)}output_padding {op_} must be smaller than stride {s} or dilation {d}")
    o = (i - 1) * s - lo - hi + d * (k - 1) + op_ + 1
    if o <= 0:
        raise ValueError(f"{_prefix(op, axis)}output size {o} <= 0 (i={i}, k={k}, s={s}, d={d}, "
                         f"p_lo={lo}, p_hi={hi}, output_padding={op_}): {TRANSPOSED_FORMULA}")
    return o


def ntuple(value, n: int, name: str, op: str | None = None) -> tuple:
    """Repeat an int over `n` axes, or check a tuple has exactly `n` entries."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{op or 'op'}: {name} {tuple(value)!r} has {len(value)} entries "
                             f"but the input has {n} spatial axes")
        return tuple(value)
    return (value,) * n


def torch_pad_list(pairs) -> tuple:
    """(lo, hi) per spatial axis, first axis first, as PyTorch's F.pad takes it: flat, last axis first."""
    return tuple(int(e) for lo, hi in reversed(tuple(pairs)) for e in (lo, hi))


def resolve_padding(padding, in_size, kernel, stride, dilation, op: str) -> tuple[tuple[int, int], ...]:
    """Turn any padding spec into one (lo, hi) pair per spatial axis.

    'valid' is no padding; 'full' pads d(k-1) on both sides; 'same' follows TensorFlow:
    o = ceil(i/s), total = max((o-1)s + d(k-1) + 1 - i, 0), lo = total // 2, hi = total - lo.
    """
    n = len(in_size)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n
        if mode == "full":
            return tuple((d * (k - 1),) * 2 for k, d in zip(kernel, dilation))
        if mode == "same":
            pads = []
            for i, k, s, d in zip(in_size, kernel, stride, dilation):
                total = max((-(-i // s) - 1) * s + d * (k - 1) + 1 - i, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{op}: padding {padding!r} is not one of 'valid', 'same', 'full', an int, "
                         "a tuple of ints or a tuple of (lo, hi) pairs")
    per_axis = ntuple(padding, n, "padding", op)
    return tuple(_pad_pair(p, op, a) for a, p in enumerate(per_axis))


def check_array(x, op: str, name: str = "input", min_spatial: int = 1, spatial_dims: int | None = None) -> np.ndarray:
    """A float32/float64 array of shape (N, C, *spatial) with 1 to 3 spatial axes, or exactly
    `spatial_dims` of them when the caller knows how many (an int kernel_size does not tell)."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name} dtype {x.dtype} is not supported; use float32 or float64 "
                        f"(e.g. {name}.astype(np.float32))")
    if spatial_dims is not None:
        spatial_dims = _check_int("spatial_dims", spatial_dims, min_spatial, op, None)
        if spatial_dims > MAX_SPATIAL:
            raise ValueError(f"{op}: spatial_dims must be 1 to {MAX_SPATIAL}, got {spatial_dims}")
        if x.ndim != spatial_dims + 2:
            raise ValueError(f"{op}: {name} of shape {x.shape} has {x.ndim} axes; expected (N, C, *spatial) with "
                             f"{spatial_dims} spatial axes, {spatial_dims + 2} axes in all"
                             + (unbatched_hint() if x.ndim == spatial_dims + 1 else ""))
    if x.ndim < 2:
        raise ValueError(f"{op}: {name} of shape {x.shape} has {x.ndim} axes; expected (N, C, *spatial) with "
                         f"{min_spatial} to {MAX_SPATIAL} spatial axes")
    n_spatial = x.ndim - 2
    if not min_spatial <= n_spatial <= MAX_SPATIAL:
        raise ValueError(f"{op}: {name} of shape {x.shape} has {n_spatial} spatial axes; expected "
                         f"(N, C, *spatial) with {min_spatial} to {MAX_SPATIAL} spatial axes")
    return x


def unbatched_hint() -> str:
    """The end of a message for an input one axis short: it is probably one sample."""
    return "; for one unbatched sample (C, *spatial), add a batch axis: x[None]"


@dataclass(frozen=True)
class WindowGeometry:
    """Everything a window op (convolution, pooling, and the windows the analysis sees in padding,
    resizing and adaptive pooling) knows about its shapes, resolved once and checked: per spatial
    axis the input size, kernel, stride, dilation, padding (lo, hi) and output size."""
    in_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]  # the padding the windows run over, ceil_extra included
    out_size: tuple[int, ...]
    groups: int = 1
    ceil_extra: tuple[int, ...] = ()  # per axis, high cells only ceil_mode's last window reaches

    @property
    def padded_size(self) -> tuple[int, ...]:
        return tuple(i + lo + hi for i, (lo, hi) in zip(self.in_size, self.pads))

    @property
    def asked_pads(self) -> tuple[tuple[int, int], ...]:
        """The padding asked for, without the cells ceil_mode adds."""
        if not self.ceil_extra:
            return self.pads
        return tuple((lo, hi - e) for (lo, hi), e in zip(self.pads, self.ceil_extra))


def _spatial_axes(x_shape, w_shape, op: str, layout: str) -> int:
    """The number of spatial axes, once the input and the weight agree on it."""
    n = len(w_shape) - 2
    if len(x_shape) != len(w_shape):
        raise ValueError(f"{op}: input of shape {tuple(x_shape)} has {len(x_shape) - 2} spatial axes but "
                         f"weight of shape {tuple(w_shape)} has {n}; weight is {layout}"
                         + (unbatched_hint() if len(x_shape) == n + 1 else ""))
    return n


def window_settings(in_size, kernel, stride, padding, dilation, op: str) -> tuple:
    """(stride, dilation, pads) per axis: stride and dilation each an int >= 1, padding resolved to
    (lo, hi) pairs (`resolve_padding`)."""
    n = len(in_size)
    stride, dilation = ntuple(stride, n, "stride", op), ntuple(dilation, n, "dilation", op)
    for a in range(n):
        _check_int("stride", stride[a], 1, op, a)
        _check_int("dilation", dilation[a], 1, op, a)
    return stride, dilation, resolve_padding(padding, in_size, kernel, stride, dilation, op)


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups, op="conv") -> WindowGeometry:
    """Check a conv's input (N, C, *S) against its weight (O, C/groups, *K) and resolve the sizes."""
    _spatial_axes(x_shape, w_shape, op, "(out_channels, in_channels/groups, *kernel)")
    groups = _check_int("groups", groups, 1, op, None)
    c_in, c_out, c_w = x_shape[1], w_shape[0], w_shape[1]
    if c_out < 1:  # as in PyTorch; zero input channels are fine (the sum over them is 0)
        raise ValueError(f"{op}: weight of shape {tuple(w_shape)} has 0 output channels; "
                         "weight is (out_channels, in_channels/groups, *kernel) with out_channels >= 1")
    if c_in % groups or c_out % groups:
        raise ValueError(f"{op}: in_channels {c_in} and out_channels {c_out} must both be divisible "
                         f"by groups {groups}")
    if c_w * groups != c_in:
        raise ValueError(f"{op}: weight of shape {tuple(w_shape)} expects in_channels/groups = {c_w}, "
                         f"but the input has {c_in} channels and groups = {groups} "
                         f"({c_in}/{groups} = {c_in / groups:g})")
    return window_geometry(tuple(x_shape[2:]), tuple(w_shape[2:]), stride, padding, dilation, op, groups=groups)


def pool_geometry(x_shape, kernel_size, stride, padding, dilation, ceil_mode, op, any_padding=False) -> WindowGeometry:
    """Resolve a pooling window over an input (N, C, *S): `stride` None is the kernel, and the
    padding is at most half the kernel (`check_pool_padding`, PyTorch's rule), or with `any_padding`
    (ONNX's) any padding that leaves an input cell in every window."""
    kernel = ntuple(kernel_size, len(x_shape) - 2, "kernel_size", op)
    geo = window_geometry(tuple(x_shape[2:]), kernel, kernel if stride is None else stride, padding, dilation, op,
                          ceil_mode=ceil_mode)
    if not any_padding:
        check_pool_padding(geo.kernel, geo.asked_pads, op)
        return geo
    for a, count in enumerate(window_counts(geo)):
        if count.size and count.min() == 0:
            raise ValueError(f"{_prefix(op, a)}padding {geo.asked_pads[a]} leaves window {int(count.argmin())} "
                             f"(kernel {geo.kernel[a]}, dilation {geo.dilation[a]}, stride {geo.stride[a]}) with "
                             "no input cell: every window must read at least one")
    return geo


def window_counts(geo: WindowGeometry, padded: bool = False) -> list:
    """Per spatial axis, the number of cells each window reads inside the input (with `padded`:
    inside the input and the padding asked for, the cells ceil_mode adds left out)."""
    counts = []
    for i, k, s, d, (lo, hi), o in zip(geo.in_size, geo.kernel, geo.stride, geo.dilation, geo.asked_pads,
                                       geo.out_size):
        cells = window_cell(np.arange(o)[:, None], np.arange(k)[None, :], s, d, lo)  # (O, K)
        low, high = (-lo, i + hi) if padded else (0, i)
        counts.append(((cells >= low) & (cells < high)).sum(axis=1))
    return counts


def require_room(op: str, x_shape, c_out: int, geo) -> None:
    """Before a window op computes (not when shapes alone are traced): its padded input and output
    must fit in memory, float32 at least; an absurd padding or size is refused, nothing allocated."""
    n, c_in = x_shape[0], x_shape[1]
    need = 4 * n * (c_in * math.prod(geo.padded_size) + c_out * math.prod(geo.out_size))
    free = too_big(need)
    if free is not None:
        raise ValueError(f"{op}: its padded input and output take {need:,} bytes (pads {geo.pads}, output "
                         f"{geo.out_size}) but {free:,} are available")


def window_geometry(in_size, kernel, stride, padding, dilation, op: str, *, ceil_mode=False,
                    groups=1) -> WindowGeometry:
    """Check stride and dilation, resolve the padding and the output size of every axis, and with
    ceil_mode the high cells its last partial window reaches past the padding."""
    stride, dilation, pads = window_settings(in_size, kernel, stride, padding, dilation, op)
    out = tuple(output_size(i, k, s, p, d, ceil_mode=ceil_mode, op=op, axis=a)
                for a, (i, k, s, p, d) in enumerate(zip(in_size, kernel, stride, pads, dilation)))
    extra = tuple(max(0, (o - 1) * s + d * (k - 1) + 1 - (i + lo + hi))
                  for i, k, s, (lo, hi), d, o in zip(in_size, kernel, stride, pads, dilation, out))
    if not any(extra):
        return WindowGeometry(in_size, kernel, stride, dilation, pads, out, groups)
    pads = tuple((lo, hi + e) for (lo, hi), e in zip(pads, extra))
    return WindowGeometry(in_size, kernel, stride, dilation, pads, out, groups, extra)


def check_pool_padding(kernel, padding, op: str) -> None:
    """PyTorch's pooling rule: padding (an int or (lo, hi) per axis) at most half the kernel, k // 2,
    so that no window is all padding."""
    for a, (k, p) in enumerate(zip(kernel, padding)):
        pair = _pad_pair(p, op, a)
        if max(pair) > k // 2:
            raise ValueError(f"{_prefix(op, a)}padding {pair} must be at most half the kernel "
                             f"(k // 2 = {k // 2}, as in PyTorch), so no window is all padding")


def transposed_geometry(y_shape, w_shape, stride, padding, output_padding, dilation, groups,
                        op="conv_transpose") -> tuple[WindowGeometry, tuple[int, ...]]:
    """Geometry of the conv whose adjoint maps y (N, C_in, *S) to the output, and that output size.

    The weight is (C_in, C_out/groups, *K) as in PyTorch. Returned geometry describes the forward
    conv from the transposed op's OUTPUT (size o) back to y.
    """
    n = _spatial_axes(y_shape, w_shape, op, "(in_channels, out_channels/groups, *kernel)")
    groups = _check_int("groups", groups, 1, op, None)
    if w_shape[0] < 1 or w_shape[1] < 1:  # as in PyTorch
        raise ValueError(f"{op}: weight of shape {tuple(w_shape)} has 0 channels; weight is (in_channels, "
                         "out_channels/groups, *kernel) with in_channels >= 1 and out_channels/groups >= 1")
    if y_shape[1] != w_shape[0]:
        raise ValueError(f"{op}: input has {y_shape[1]} channels but weight of shape {tuple(w_shape)} "
                         f"expects in_channels = {w_shape[0]}")
    if y_shape[1] % groups:
        raise ValueError(f"{op}: in_channels {y_shape[1]} must be divisible by groups {groups}")
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, a tuple of ints or (lo, hi) pairs, got {excerpt(padding)}")
    kernel, in_size = tuple(w_shape[2:]), tuple(y_shape[2:])
    stride, dilation, pads = window_settings(in_size, kernel, stride, padding, dilation, op)
    out_pad = ntuple(output_padding, n, "output_padding", op)
    out = tuple(transposed_output_size(i, k, s, p, d, q, op=op, axis=a)
                for a, (i, k, s, p, d, q) in enumerate(zip(in_size, kernel, stride, pads, dilation, out_pad)))
    geo = WindowGeometry(out, kernel, stride, dilation, pads, in_size, groups)
    return geo, out


# ------------------------------------------------------------------------------ the window rule
# Output o of a window op (conv, pooling) reads input cell o*s + t*d - p_lo with tap t; cells
# outside 0..i-1 are padding. A transposed convolution is the adjoint: input cell y feeds outputs
# y*s + t*d - p_lo, i.e. zero insertion by s followed by a stride-1 conv padded d(k-1) - p.

def window_cell(o: int, t: int, stride: int, dilation: int, pad_lo: int) -> int:
    """The input cell that output `o` reads with tap `t`: o*s + t*d - p_lo."""
    return o * stride + t * dilation - pad_lo


def window_reach(lo: int, hi: int, n_in: int, kernel: int, stride: int, dilation: int, pad_lo: int):
    """(first, last) input cell, clipped to 0..n_in-1, read by outputs lo..hi; None if only padding."""
    def cells(t):  # tap t reads every s-th cell from first to last: step inside 0..n_in-1 by whole strides
        first, last = window_cell(lo, t, stride, dilation, pad_lo), window_cell(hi, t, stride, dilation, pad_lo)
        if first < 0:
            first += ceil_div(-first, stride) * stride
        if last > n_in - 1:
            last -= ceil_div(last - n_in + 1, stride) * stride
        return first, last
    return _hull(cells(t) for t in range(kernel))


def transposed_reach(lo: int, hi: int, n_in: int, kernel: int, stride: int, dilation: int, pad_lo: int):
    """(first, last) input cell y of a transposed conv whose outputs y*s + t*d - p_lo fall in lo..hi."""
    return _hull((max(ceil_div(lo + pad_lo - t * dilation, stride), 0),
                  min((hi + pad_lo - t * dilation) // stride, n_in - 1)) for t in range(kernel))


def _hull(spans):
    """The smallest (first, last) holding every non-empty span (one per tap); None if all are empty."""
    spans = [(first, last) for first, last in spans if first <= last]
    return (min(first for first, _ in spans), max(last for _, last in spans)) if spans else None


def transposed_as_conv_pads(kernel, dilation, pads) -> tuple[tuple[int, int], ...]:
    """Per axis, the padding d(k-1) - p of the stride-1 conv over the zero-inserted input that a
    transposed conv with padding p equals."""
    return tuple((d * (k - 1) - lo, d * (k - 1) - hi) for k, d, (lo, hi) in zip(kernel, dilation, pads))


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


__all__ = ["output_size", "transposed_output_size", "resolve_padding", "conv_geometry", "pool_geometry",
           "window_geometry", "window_settings", "check_pool_padding", "transposed_geometry", "WindowGeometry", "check_array",
           "unbatched_hint", "ntuple", "window_cell", "window_reach", "transposed_reach", "transposed_as_conv_pads",
           "ceil_div"]
