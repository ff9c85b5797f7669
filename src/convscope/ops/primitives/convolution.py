"""Learned-weight ops: convolution, transposed convolution and the linear (fully connected) map."""
from __future__ import annotations

import numpy as np

from ..conv import conv_backward, conv_transpose_backward
from ..conv import conv as conv_forward
from ..conv import conv_transpose as conv_transpose_forward
from ..geometry import conv_geometry, transposed_geometry, transposed_output_size
from ..registry import Aval, AxisMap, Window, define, keeps_input, onnx_pads


def _conv_geometry(ins, out, a):
    return conv_geometry(ins[0].shape, ins[1].shape, a["stride"], a["padding"], a["dilation"], a["groups"], "conv")


def _conv_shape(x, w, b=None, **a):
    geo = conv_geometry(x.shape, w.shape, a["stride"], a["padding"], a["dilation"], a["groups"], "conv")
    return Aval((x.shape[0], w.shape[0], *geo.out_size), x.dtype)


def _conv_macs(ins, out, a) -> int:
    """out_elements * (C_in/groups) * prod(K), per sample."""
    return int(np.prod(out.shape[1:])) * int(np.prod(ins[1].shape[1:]))


def _conv_onnx(e, node):
    geo = node.geometry
    e.emit("Conv", e.inputs, e.output, kernel_shape=list(geo.kernel), strides=list(geo.stride),
           dilations=list(geo.dilation), group=geo.groups, pads=onnx_pads(geo.pads))


def _weights(a: dict) -> tuple:
    """The tensor inputs of an ATen convolution or linear call: input, weight and the bias if any."""
    return tuple(v for v in (a.pop("input"), a.pop("weight"), a.pop("bias")) if v is not None)


def _conv_from_aten(a, name):
    """aten.conv2d, conv_transpose2d and convolution (when not transposed): the op's settings."""
    if a.pop("transposed", False):
        return None
    ins = _weights(a)
    keep = ("stride", "padding", "dilation", "groups") + (("output_padding",) if "transpose" in name else ())
    return ins, {k: tuple(v) if isinstance(v, list) else v for k, v in a.items() if k in keep}


@define("conv", Window(_conv_geometry, learned=True), macs=_conv_macs, shape=_conv_shape, saved=keeps_input,
        torch=("conv1d", "conv2d", "conv3d"),
        aten=("conv1d", "conv2d", "conv3d", "convolution"), from_aten=_conv_from_aten, onnx=_conv_onnx, grad_mask=True)
def conv(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False):
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, flip=flip)
    y = conv_forward(x, w, b, **kw)

    def backward(g, needs):
        dx, dw, db = conv_backward(g, x, w, input_grad=needs[0], weight_grad=needs[1], **kw)
        return dx, dw, db
    return y, backward


def _transposed(ins, a):
    return transposed_geometry(ins[0].shape, ins[1].shape, a["stride"], a["padding"], a["output_padding"],
                               a["dilation"], a["groups"])


def _transposed_shape(y, w, b=None, **a):
    geo, out = _transposed((y, w), a)
    return Aval((y.shape[0], w.shape[1] * geo.groups, *out), y.dtype)


def _transposed_macs(ins, out, a) -> int:
    """Every input element meets every weight of its group once: weight elements * INPUT positions
    (counting output positions, as torchinfo, thop and ptflops do, is off by the stride factor)."""
    return int(np.prod(ins[1].shape)) * int(np.prod(ins[0].shape[2:]))


def _transposed_onnx(e, node):
    # geometry describes the conv from the transposed op's output back to its input; ONNX's output is
    # the transposed size without output_padding, plus output_padding
    geo = node.geometry
    produced = tuple(transposed_output_size(i, k, s, p, d) for i, k, s, p, d in
                     zip(geo.out_size, geo.kernel, geo.stride, geo.pads, geo.dilation))
    e.emit("ConvTranspose", e.inputs, e.output, kernel_shape=list(geo.kernel), strides=list(geo.stride),
           dilations=list(geo.dilation), group=geo.groups, pads=onnx_pads(geo.pads),
           output_padding=[o - p for o, p in zip(geo.in_size, produced)])


@define("conv_transpose", Window(lambda ins, out, a: _transposed(ins, a)[0], transposed=True, learned=True),
        macs=_transposed_macs, shape=_transposed_shape, saved=keeps_input,
        torch=("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"),
        aten=("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"), from_aten=_conv_from_aten, onnx=_transposed_onnx, grad_mask=True)
def conv_transpose(x, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    y = conv_transpose_forward(x, w, b, **kw)

    def backward(g, needs):
        return conv_transpose_backward(g, x, w, input_grad=needs[0], weight_grad=needs[1], **kw)
    return y, backward


def _linear_shape(x, w, b=None):
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features but the weight expects {w.shape[1]}")
    return Aval((*x.shape[:-1], w.shape[0]), x.dtype)


def _linear_macs(ins, out, a) -> int:
    return int(np.prod(out.shape[1:])) * ins[1].shape[1]


def _linear_onnx(e, node):
    if len(node.in_avals[0].shape) == 2:
        e.emit("Gemm", e.inputs, e.output, transB=1)
        return
    # Gemm takes matrices only: over leading axes (ConvNeXt's channels-last blocks) x W^T + b broadcasts
    y = e.emit("MatMul", [e.inputs[0], e.emit("Transpose", [e.inputs[1]], perm=[1, 0])])
    e.emit("Add", [y, e.inputs[2]], e.output) if len(e.inputs) > 2 else e.emit("Identity", [y], e.output)


def _last_axis_only(in_shape, out_shape, axes):
    return None if -1 in axes else axes  # mixes the last axis only: positions elsewhere stay apart


@define("linear", lambda ins, a: AxisMap(_last_axis_only), macs=_linear_macs, shape=_linear_shape, saved=keeps_input, torch=("linear",),
        aten=("linear",), from_aten=lambda a, name: (_weights(a), {}),
        onnx=_linear_onnx, grad_mask=True)
def linear(x, w, b=None):
    """y = x W^T + b, W of shape (out_features, in_features), over any leading axes."""
    _linear_shape(Aval(x.shape, x.dtype), Aval(w.shape, w.dtype))
    y = x @ w.T
    if b is not None:
        y += b

    def backward(g, needs):
        # dx = g W; dW = g^T x summed over the leading axes; db = g summed likewise
        g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        dx = (g @ w) if needs[0] else None
        dw = (g2.T @ x2) if needs[1] else None
        return (dx, dw) if b is None else (dx, dw, g2.sum(axis=0))
    return y, backward
