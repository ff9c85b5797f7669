"""Convolution layers, 1-D to 3-D, plain and transposed: one class template per kind, declared in
the layer registry with PyTorch's arguments, its twin and the ONNX op that builds it."""
from __future__ import annotations

import numpy as np

from ..ops import engine
from ..ops.engine import winograd
from ..ops.engine.epilogue import Epilogue
from ..ops.geometry import CONV_FORMULA, TRANSPOSED_FORMULA, conv_geometry, require_room, resolve_padding
from . import forms
from . import functional as F
from .init import bias_uniform, kaiming_uniform
from .arg_types import choice
from .module import Module, Parameter
from .registry import OnnxImport, TorchTwin, bind, count, flag, has_bias, padding, per_axis, register
from .spatial import AXES, batched


def _divisible_by_groups(layer, a):
    if a["in_channels"] % a["groups"] or a["out_channels"] % a["groups"]:
        raise ValueError(f"{layer}: in_channels {a['in_channels']} and out_channels {a['out_channels']} must both be "
                         f"divisible by groups {a['groups']}")


class _ConvNd(Module):
    n = 0
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, output_padding=0, padding_mode="zeros"):
        super().__init__()
        bind(self, locals())
        if not self.transposed:
            self.output_padding = (0,) * self.n
        else:
            self.padding_mode = "zeros"
        shape = ((in_channels, out_channels // groups) if self.transposed else
                 (out_channels, in_channels // groups)) + self.kernel_size
        name = type(self).__name__
        self.weight = Parameter(kaiming_uniform(shape, what=f"{name} weight"))
        # PyTorch's fan-in for a transposed conv's bias is computed from its weight's dim 1
        fan = shape[1] * int(np.prod(self.kernel_size))
        self.bias = Parameter(bias_uniform(out_channels, fan, what=f"{name} bias")) if bias else None

    def forward(self, x):
        return batched(x, self.n, self._forward)

    def _forward(self, x):
        if self.transposed:
            return F.conv_transpose(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                    self.dilation, self.groups)
        if self.padding_mode == "zeros":
            return F.conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        # PyTorch's rule: pad with the mode, then convolve without padding
        pads = resolve_padding(self.padding, tuple(x.shape[2:]), self.kernel_size, self.stride, self.dilation,
                               type(self).__name__)
        padded = F.pad(x, pads, self.padding_mode)
        return F.conv(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        ones, zeros = (1,) * self.n, (0,) * self.n
        if self.padding not in (zeros, "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != ones:
            s += f", dilation={self.dilation}"
        if self.output_padding != zeros:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class ConvForm(forms.Form):
    """A convolution in eval mode through the engine, with what joined it: an eval BatchNorm folded
    into the weights (w' = w s, b' = b s + t per output channel), then a residual add and a ReLU
    applied to each output chunk (the engine's epilogue). Where the engine runs it by Winograd, the
    weights are transformed once and kept: a form lives in one plan, which is remade whenever the
    weights change (see `nn.plan`)."""

    def __init__(self, layer, w, b, residual=False, relu=False):
        self.layer, self.w, self.b, self.residual, self.relu = layer, w, b, residual, relu
        self.extra = int(residual)
        self.transforms = {}  # m -> w's transform for F(m x m, 3 x 3)

    def transform(self, m: int) -> np.ndarray:
        if m not in self.transforms:
            self.transforms[m] = winograd.weight_transform(self.w, winograd.VARIANTS[m], self.layer.groups)
        return self.transforms[m]

    def join(self, follower):
        if isinstance(follower, forms.ChannelAffine) and not (self.residual or self.relu) \
                and len(follower.scale) == len(self.w):
            s, t = follower.scale, follower.shift
            w = (self.w * s.reshape(-1, *([1] * (self.w.ndim - 1)))).astype(self.w.dtype)
            b = ((0 if self.b is None else self.b) * s + t).astype(self.w.dtype)
            return ConvForm(self.layer, w, b, relu=follower.relu)
        if follower is forms.ADD and not (self.residual or self.relu):
            return ConvForm(self.layer, self.w, self.b, residual=True)
        if follower is forms.RELU and not self.relu:
            return ConvForm(self.layer, self.w, self.b, self.residual, relu=True)
        return None

    def __call__(self, x, *others):
        conv = self.layer
        if x.dtype != self.w.dtype or x.ndim != conv.n + 2:
            return None
        geo = conv_geometry(x.shape, self.w.shape, conv.stride, conv.padding, conv.dilation, conv.groups, conv.label)
        require_room(conv.label, x.shape, len(self.w), geo)
        residual = others[0] if self.residual else None
        if residual is not None and (residual.shape != (len(x), len(self.w), *geo.out_size) or residual.dtype != x.dtype):
            return None
        return engine.forward(x, self.w, geo, self.b, Epilogue(residual, self.relu), self.transform)


def _form(layer, watch):
    """The engine computes a zero-padded cross-correlation: other padding modes and the transposed
    convolution run as layers."""
    if layer.transposed or layer.padding_mode != "zeros":
        return None
    return ConvForm(layer, watch(layer, "weight"), watch(layer, "bias") if layer.bias is not None else None)


def _to_torch(layer, args, convert, t, blocks):
    """PyTorch's ConvNd takes symmetric int padding (and 'same' at stride 1 only); convscope's 'same',
    'full' and (lo, hi) pairs become a subclass that pads first (bridges.torch_blocks.padded_conv)."""
    cls, pad = getattr(t, type(layer).__name__), args["padding"]
    kw = {k: v for k, v in args.items() if k != "padding"}
    ints = isinstance(pad, tuple) and all(isinstance(p, int) for p in pad)
    if not ints and args.get("padding_mode", "zeros") != "zeros":
        raise ValueError(f"to_torch: {type(layer).__name__} with padding {pad!r} and padding_mode "
                         f"{args['padding_mode']!r} has no PyTorch equivalent (PyTorch pads symmetrically)")
    if layer.transposed:
        if not ints:
            raise ValueError(f"to_torch: {type(layer).__name__} with (lo, hi) padding has no PyTorch equivalent")
        return cls(padding=pad, **kw)
    return cls(padding=pad, **kw) if ints else blocks.padded_conv(cls, pad)(**kw)


def _transposed_pads(node, kernel, stride, dilation, extra):
    """ConvTranspose's (pads, output_padding) from pads, auto_pad or output_shape, as ONNX defines them:
    the full output is s (i - 1) + output_padding + d (k - 1) + 1; auto_pad SAME trims it to i s (or
    to output_shape), the odd cell at the end (SAME_UPPER) or the start; output_shape with explicit
    pads adds the missing cells at the end (as output_padding does)."""
    shape, same = node.attrs.get("output_shape"), node.auto_pad in ("SAME_UPPER", "SAME_LOWER")
    if shape is None and not same:
        return node.pads(kernel, stride, dilation), extra
    if node.spatial is None:
        raise ValueError(f"ConvTranspose with {'output_shape' if shape else 'auto_pad ' + node.auto_pad} needs the "
                         "input's spatial size (shape inference failed)")
    shape = tuple(shape[-len(kernel):]) if shape is not None else tuple(i * s for i, s in zip(node.spatial, stride))
    full = [s * (i - 1) + e + d * (k - 1) + 1 for i, s, e, d, k in zip(node.spatial, stride, extra, dilation, kernel)]
    if same:
        total = [f - o for f, o in zip(full, shape)]
        if min(total) < 0:
            raise ValueError(f"ConvTranspose output_shape {list(shape)} is larger than the full output {full}")
        upper = node.auto_pad == "SAME_UPPER"
        return tuple((t // 2, t - t // 2) if upper else (t - t // 2, t // 2) for t in total), extra
    pads = node.pads(kernel, stride, dilation)
    more = [o - (f - lo - hi) for o, f, (lo, hi) in zip(shape, full, pads)]
    if min(more) < 0:
        raise ValueError(f"ConvTranspose output_shape {list(shape)} is smaller than its padded output")
    return pads, tuple(e + m for e, m in zip(extra, more))


def _from_onnx(n: int, transposed: bool):
    """ONNX Conv/ConvTranspose: weight (and bias) are constant inputs 1 (and 2); pads or auto_pad."""
    def build(node):
        w, a = node.const(1), node.attrs
        kernel = tuple(a.get("kernel_shape", w.shape[2:]))
        stride, dilation = tuple(a.get("strides", [1] * n)), tuple(a.get("dilations", [1] * n))
        group = a.get("group", 1)
        b = node.const(2)
        extra = tuple(a.get("output_padding", [0] * n))
        pads, extra = _transposed_pads(node, kernel, stride, dilation, extra) if transposed else \
            (node.pads(kernel, stride, dilation), extra)
        kw = dict(kernel_size=kernel, stride=stride, padding=pads, dilation=dilation, groups=group, bias=b is not None)
        if transposed:
            kw.update(in_channels=w.shape[0], out_channels=w.shape[1] * group, output_padding=extra)
        else:
            kw.update(in_channels=w.shape[1] * group, out_channels=w.shape[0])
        return kw, {"weight": w, **({"bias": b} if b is not None else {})}
    return OnnxImport("ConvTranspose" if transposed else "Conv", build, lambda node: node.const(1).ndim == n + 2)


_DOC = """{n}-D {what} layer, PyTorch's `{name}` (same arguments, weight layout and initialisation).

    Args:
        in_channels: C_in, channels of the input.
        out_channels: C_out, channels of the output (number of kernels).
        kernel_size: k, an int or one int per spatial axis.
        stride: s, step between neighbouring windows (default 1).
        padding: {padding}
{extra}        groups: g; input and output channels split into g groups convolved separately
            (g = C_in: depthwise). C_in and C_out must both be divisible by g.
        bias: learn one bias per output channel (default True).
{mode}        dilation: d, spacing between kernel taps (default 1: none).

    Shape:
        input (N, C_in, {axes}) or unbatched (C_in, {axes}); output (N, C_out, {axes_out}), per axis
        ``{formula}``.
        weight {weight}, drawn U(-b, b) with b = 1/sqrt(fan_in) (Kaiming-uniform, a = sqrt(5));
        bias (C_out,) drawn U(-b, b) as well. fan_in = {fan} * prod(k).
"""


def _conv_class(n: int, transposed: bool):
    name = f"{'ConvTranspose' if transposed else 'Conv'}{n}d"
    common = dict(in_channels=count(), out_channels=count(), kernel_size=per_axis(), stride=per_axis())
    twin = TorchTwin(name, refuse={"padding_mode": "zeros"} if transposed else {}, build=_to_torch,
                     read={"bias": has_bias, "padding": lambda m: getattr(m, "convscope_padding", m.padding)})
    declare = dict(n=n, checks=(_divisible_by_groups,), torch=twin, onnx=(_from_onnx(n, transposed),), form=_form)

    if transposed:
        args = dict(common, padding=padding(), output_padding=per_axis(0), groups=count(), bias=flag(),
                    dilation=per_axis())

        class Conv(_ConvNd):
            def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                         groups=1, bias=True, dilation=1):
                super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                                 output_padding)
    else:
        args = dict(common, padding=padding("valid", "same", "full"), dilation=per_axis(), groups=count(),
                    bias=flag(), padding_mode=choice("zeros", "reflect", "replicate", "circular"))

        class Conv(_ConvNd):
            def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                         bias=True, padding_mode="zeros"):
                super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                                 padding_mode=padding_mode)
    Conv.n, Conv.transposed = n, transposed
    Conv.__name__ = Conv.__qualname__ = name
    axes = AXES[n]
    Conv.__doc__ = _DOC.format(
        n=n, name=name, what="transposed convolution (the adjoint of Conv, 'deconvolution')" if transposed else
        "convolution (cross-correlation)", axes=axes, axes_out=", ".join(f"{a}_out" for a in axes.split(", ")),
        padding="p, removed from each side of the output: an int, one int per axis or one (lo, hi) pair per axis."
        if transposed else "'valid' (none), 'same' (o = ceil(i/s), the extra cell on the high side), 'full' "
        "(d(k-1) each side),\n            an int, one int per axis or one (lo, hi) pair per axis.",
        extra="        output_padding: cells added on the high side of the output to pick one of the\n"
              "            s input sizes that convolve to the same size; smaller than s or d.\n" if transposed else "",
        formula=TRANSPOSED_FORMULA if transposed else CONV_FORMULA,
        weight="(C_in, C_out/g, *k)" if transposed else "(C_out, C_in/g, *k)",
        fan="C_out/g" if transposed else "C_in/g",
        mode="" if transposed else "        padding_mode: what the padding reads: 'zeros' (default), 'reflect' (the mirror\n"
        "            image without the edge), 'replicate' (the edge) or 'circular' (the other side);\n"
        "            PyTorch's rule: pad with the mode, then convolve.\n")
    return register(args, **declare)(Conv)


Conv1d, Conv2d, Conv3d = (_conv_class(n, False) for n in (1, 2, 3))
ConvTranspose1d, ConvTranspose2d, ConvTranspose3d = (_conv_class(n, True) for n in (1, 2, 3))
