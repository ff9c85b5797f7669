"""Pooling layers: max, average and power-average (LPPool) over windows (1-D to 3-D), global pools
and k-max pooling, each declared in the layer registry with PyTorch's arguments and twin."""
from __future__ import annotations

from ..ops.engine import maxpool
from ..ops.geometry import CONV_FORMULA, CONV_FORMULA_CEIL, check_pool_padding, require_room
from ..ops.pool import pool_geometry
from . import forms
from . import functional as F
from .module import Module
from .registry import TorchTwin, axis, bind, count, flag, optional, padding, per_axis, real, register
from .spatial import AXES, batched


def _half_kernel_padding(layer, a):
    check_pool_padding(a["kernel_size"], a["padding"], layer)


def _stride_defaults_to_kernel(layer, a):
    return dict(a, stride=a["kernel_size"]) if a["stride"] is None else a


class _PoolNd(Module):
    n = 0
    reduction = "max"  # or "avg": what a window computes

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        bind(self, locals())
        self.dilation = (1,) * self.n if self.reduction == "avg" else self.dilation
        self.count_include_pad = count_include_pad if self.reduction == "avg" else True
        self.divisor_override = divisor_override if self.reduction == "avg" else None

    def forward(self, x):
        return batched(x, self.n, self._forward)

    def _forward(self, x):
        if self.reduction == "max":
            return F.max_pool(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        return F.avg_pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


_DOC = """{n}-D {what} pooling, PyTorch's `{name}`: the {reduce} of each window, per channel.

    Args:
        kernel_size: k, the window, an int or one int per spatial axis.
        stride: s, step between windows (default None: the kernel size, windows side by side).
        padding: p, an int, one int per axis or one (lo, hi) pair per axis; at most k // 2. {pad}
{extra}        ceil_mode: round the output size up, keeping a last partial window that starts inside the
            input or the low padding (default False: round down).

    Shape:
        input (N, C, {axes}) or unbatched (C, {axes}); output (N, C, {axes_out}), per axis
        ``{formula}`` (``{ceil}`` with ceil_mode). No parameters.
"""


class MaxPoolForm(forms.Form):
    """Max pooling without the winners' indices, which only a backward pass would read, an axis at a
    time on blocks of planes (`ops.engine.maxpool`)."""

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, x, *others):
        p = self.layer
        if x.ndim != p.n + 2 or x.dtype.kind != "f" or 0 in x.shape:
            return None
        geo = pool_geometry(x.shape, p.kernel_size, p.stride, p.padding, p.dilation, p.ceil_mode, p.label)
        require_room(p.label, x.shape, x.shape[1], geo)
        return maxpool.forward(x, geo)


def _pool_to_torch(layer, args, convert, t, blocks):
    """PyTorch's pools pad symmetrically by ints: a (lo, hi) pair with lo == hi is that int, any other
    pair is refused."""
    pads = tuple(p[0] if isinstance(p, tuple) and p[0] == p[1] else p for p in args["padding"])
    if not all(isinstance(p, int) for p in pads):
        raise ValueError(f"to_torch: {type(layer).__name__} with (lo, hi) padding {args['padding']} has no PyTorch "
                         "equivalent (PyTorch pads symmetrically)")
    return getattr(t, type(layer).__name__)(**dict(args, padding=pads))


def _pool_class(n: int, kind: str):
    name = f"{kind.capitalize()}Pool{n}d"
    common = dict(kernel_size=per_axis(), stride=optional(per_axis()), padding=padding())
    if kind == "max":
        args = dict(common, dilation=per_axis(), ceil_mode=flag())
        twin = TorchTwin(name, refuse={"return_indices": False}, build=_pool_to_torch)

        class Pool(_PoolNd):
            def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
                super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        extra = "        dilation: d, spacing between window taps (default 1).\n"
    else:
        args = dict(common, ceil_mode=flag(), count_include_pad=flag())
        twin = TorchTwin(name, build=_pool_to_torch)
        if n == 1:  # PyTorch's AvgPool1d has no divisor_override
            class Pool(_PoolNd):
                def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
                    super().__init__(kernel_size, stride, padding, 1, ceil_mode, count_include_pad)
        else:
            args["divisor_override"] = optional(count())

            class Pool(_PoolNd):
                def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                             divisor_override=None):
                    super().__init__(kernel_size, stride, padding, 1, ceil_mode, count_include_pad, divisor_override)
        extra = ""
    Pool.n, Pool.reduction = n, kind
    Pool.__name__ = Pool.__qualname__ = name
    axes = AXES[n]
    Pool.__doc__ = _DOC.format(
        n=n, name=name, what=kind, reduce="maximum" if kind == "max" else "mean", axes=axes,
        axes_out=", ".join(f"{a}_out" for a in axes.split(", ")), extra=extra, formula=CONV_FORMULA,
        ceil=CONV_FORMULA_CEIL, pad="Padded cells never win the max." if kind == "max" else
        "count_include_pad: divide by the whole window, padding included (default True), or by the\n"
        "            cells inside the input only." + ("" if n == 1 else "\n        divisor_override: divide each "
                                                      "window's sum by this int instead (default None: the mean)."))
    return register(args, n=n, checks=(_half_kernel_padding, _stride_defaults_to_kernel), torch=twin,
                    form=(lambda layer, watch: MaxPoolForm(layer)) if kind == "max" else None)(Pool)


MaxPool1d, MaxPool2d, MaxPool3d = (_pool_class(n, "max") for n in (1, 2, 3))
AvgPool1d, AvgPool2d, AvgPool3d = (_pool_class(n, "avg") for n in (1, 2, 3))


@register(torch=TorchTwin("blocks.GlobalPool", fixed={"reduction": "avg"}))
class GlobalAvgPool(Module):
    """Mean over all spatial positions (global average pooling, Lin et al. 2013).

    Shape:
        input (N, C, *S) with any number of spatial axes; output (N, C). No parameters.
        PyTorch writes it ``x.mean(dim=(2, ...))`` or AdaptiveAvgPool to 1 followed by Flatten.
    """

    def forward(self, x):
        return F.global_avg_pool(x)


@register(torch=TorchTwin("blocks.GlobalPool", fixed={"reduction": "max"}))
class GlobalMaxPool(Module):
    """Max over all spatial positions (global max pooling).

    Shape:
        input (N, C, *S) with any number of spatial axes; output (N, C). No parameters.
    """

    def forward(self, x):
        return F.global_max_pool(x)


@register(dict(k=count(), axis=axis()), torch=TorchTwin("blocks.KMax"))
class KMaxPool(Module):
    """The k largest values along an axis, kept in their original order (Kalchbrenner et al. 2014).

    Args:
        k: how many values to keep (at most the axis length).
        axis: the axis to pool (default -1, the last).

    Shape:
        input (N, C, ..., L, ...); output the same with L replaced by k. No parameters.
    """

    def __init__(self, k, axis=-1):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return F.kmax_pool(x, self.k, self.axis)

    def extra_repr(self):
        return f"k={self.k}" + (f", axis={self.axis}" if self.axis != -1 else "")


def _lp_no_ceil(layer, a):
    if a["ceil_mode"]:
        raise ValueError(f"{layer}: ceil_mode=True is not supported: PyTorch scales a partial last window's sum by "
                         "kernel size / cells inside, which is no p-norm; use ceil_mode=False")


_LP_DOC = """{n}-D power-average pooling, PyTorch's `{name}`: (sum of x^p over each window)^(1/p), p = norm_type
    (p = 1: the window sums; large p nears max pooling). Negative values are raised as they are, as in
    PyTorch (an odd p may make a window's sum negative, and its root NaN).

    Args:
        norm_type: p > 0.
        kernel_size: k, an int or one int per spatial axis.
        stride: s (default None: the kernel size).
        ceil_mode: must be False. Note: unlike PyTorch, ceil_mode=True is refused (see the check's message).

    Shape:
        input (N, C, {axes}) or unbatched (C, {axes}); output per axis ``floor((i - k)/s) + 1``. No parameters.
"""


class _LPPoolNd(Module):
    n = 0

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        bind(self, locals())

    def forward(self, x):
        return batched(x, self.n, lambda x: F.lp_pool(x, self.norm_type, self.kernel_size, self.stride))

    def extra_repr(self):
        return f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}"


def _lp_pool_class(n: int):
    name = f"LPPool{n}d"
    cls = type(name, (_LPPoolNd,), {"n": n, "__doc__": _LP_DOC.format(n=n, name=name, axes=AXES[n]),
                                    "__module__": __name__})
    args = dict(norm_type=real(0, low_open=True), kernel_size=per_axis(), stride=optional(per_axis()),
                ceil_mode=flag())
    return register(args, n=n, checks=(_lp_no_ceil, _stride_defaults_to_kernel),
                    torch=TorchTwin(name, build=_lp_to_torch))(cls)


def _lp_to_torch(layer, args, convert, t, blocks):
    """PyTorch's LPPool1d multiplies by kernel_size itself: it takes ints, not 1-tuples."""
    one = {k: v[0] if isinstance(v, tuple) and len(v) == 1 else v for k, v in args.items()}
    return getattr(t, type(layer).__name__)(**one)


LPPool1d, LPPool2d, LPPool3d = (_lp_pool_class(n) for n in (1, 2, 3))
