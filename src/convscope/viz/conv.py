"""The kernel sliding over its input, one frame per output position (conv_arithmetic style)."""
from __future__ import annotations

import io
import itertools

import numpy as np
from matplotlib.patches import Rectangle

from ..ops.geometry import ntuple, output_size, resolve_padding, transposed_output_size
from . import style


class StepsFigure(style.ViewFigure):
    """A grid of frames; `frames` holds what each one shows; `save_animation(path)` writes a GIF."""

    frames: list
    draw_frame = None

    def save_animation(self, path, ms_per_frame: int = 600) -> None:
        from PIL import Image

        images = []
        for frame in self.frames:
            fig = style.figure(*self.frame_size)
            self.draw_frame(fig.add_subplot(), frame)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80)
            images.append(Image.open(io.BytesIO(buf.getvalue())).convert("P", palette=Image.ADAPTIVE))
        images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)


def _as_2d(shape):
    return (1, *shape) if len(shape) == 1 else tuple(shape)


def conv_steps(input_shape, kernel_size=None, stride=1, padding=0, dilation=1, transposed=False, *,
               columns: int | None = None, max_frames: int = 64) -> StepsFigure:
    """Frames of a convolution: padded input (padding shaded), the window of each output position,
    the output with the current cell highlighted. 1-D or 2-D.

    Numeric form: `conv_steps(x, w)` with x (H, W) or (L,) and w a kernel of the same rank writes
    the values and each window's dot product. `transposed=True` draws the transposed convolution as
    its equivalent: zeros inserted between inputs (stride), padded by d(k-1) - p, stride 1.
    """
    x = w = None
    if isinstance(input_shape, np.ndarray):
        x, w = np.asarray(input_shape, float), np.asarray(kernel_size, float)
        input_shape, kernel_size = x.shape, w.shape
    shape = _as_2d(tuple(input_shape))
    n = len(shape)
    kernel = _as_2d(ntuple(kernel_size, len(input_shape), "kernel_size", "conv_steps"))
    stride = _as_2d(ntuple(stride, len(input_shape), "stride", "conv_steps"))
    dilation = _as_2d(ntuple(dilation, len(input_shape), "dilation", "conv_steps"))
    if len(input_shape) == 1:
        kernel, stride, dilation = (1, kernel[-1]), (1, stride[-1]), (1, dilation[-1])
    pads = resolve_padding(padding, tuple(input_shape), kernel[-len(input_shape):], stride[-len(input_shape):],
                           dilation[-len(input_shape):], "conv_steps")
    pads = ((0, 0),) * (n - len(pads)) + tuple(pads)
    if transposed:
        grid, real, out, pads = _transposed_grid(shape, kernel, stride, dilation, pads)
        stride = (1, 1)
    else:
        out = tuple(output_size(i, k, s, p, d, op="conv_steps", axis=a)
                    for a, (i, k, s, p, d) in enumerate(zip(shape, kernel, stride, pads, dilation)))
        grid = tuple(i + lo + hi for i, (lo, hi) in zip(shape, pads))
        real = {(r + pads[0][0], c + pads[1][0]): (r, c) for r in range(shape[0]) for c in range(shape[1])}
    frames = []
    for o in itertools.product(range(out[0]), range(out[1])):
        cells = [(o[0] * stride[0] + t0 * dilation[0], o[1] * stride[1] + t1 * dilation[1])
                 for t0 in range(kernel[0]) for t1 in range(kernel[1])]
        frame = {"output": o, "window": cells, "inputs": [real[c] for c in cells if c in real]}
        if x is not None:
            xs = _values(x, real, grid)
            frame["value"] = float(sum(xs[c] * wv for c, wv in zip(cells, np.asarray(w).reshape(-1))))
        frames.append(frame)
    values = _values(x, real, grid) if x is not None else None
    spec = {"grid": grid, "real": real, "out": out, "values": values, "kernel": w, "transposed": transposed}
    shown = frames[:max_frames]
    columns = columns or min(len(shown), 4)
    rows = -(-len(shown) // columns)
    frame_size = (2.2 + 0.25 * (grid[1] + out[1]), 1.4 + 0.3 * max(grid[0], out[0]))
    fig = StepsFigure(figsize=(frame_size[0] * columns, frame_size[1] * rows), layout="constrained")
    fig.frames, fig.frame_size = frames, frame_size
    fig.draw_frame = lambda ax, frame: _draw(ax, spec, frame)
    for i, frame in enumerate(shown):
        _draw(fig.add_subplot(rows, columns, i + 1), spec, frame)
    kind = "transposed convolution" if transposed else "convolution"
    fig.suptitle(f"{kind}: input {'x'.join(map(str, input_shape))}, kernel {'x'.join(map(str, kernel_size if isinstance(kernel_size, tuple) else (kernel_size,)))}"
                 f", stride {stride if not transposed else 'see frames'}, output {'x'.join(map(str, out))}"
                 + (f" (first {len(shown)} of {len(frames)} frames)" if len(shown) < len(frames) else ""),
                 fontsize=style.FONT["title"])
    return fig


def _transposed_grid(shape, kernel, stride, dilation, pads):
    """Input cells spread `stride` apart, framed by d(k-1) - p zeros: a stride-1 conv of it is the
    transposed convolution."""
    edge = [d * (k - 1) - lo for k, d, (lo, _) in zip(kernel, dilation, pads)]
    out = tuple(transposed_output_size(i, k, s, p, d) for i, k, s, p, d in zip(shape, kernel, stride, pads, dilation))
    grid = tuple(o + d * (k - 1) for o, k, d in zip(out, kernel, dilation))
    real = {(e0 + r * stride[0], e1 + c * stride[1]): (r, c) for r in range(shape[0]) for c in range(shape[1])
            for e0, e1 in [edge]}
    return grid, real, out, pads


def _values(x, real, grid):
    v = np.zeros(grid)
    for cell, (r, c) in real.items():
        v[cell] = x.reshape(_as_2d(x.shape))[r, c]
    return v


def _draw(ax, spec, frame):
    grid, real, out = spec["grid"], spec["real"], spec["out"]
    gap = 1.5
    for r in range(grid[0]):
        for c in range(grid[1]):
            colour = style.WINDOW if (r, c) in frame["window"] else style.INPUT if (r, c) in real else style.PADDING
            gid = "window" if (r, c) in frame["window"] else "input" if (r, c) in real else "padding"
            ax.add_patch(Rectangle((c, -r), 1, 1, facecolor=colour, edgecolor=style.EDGE, lw=0.5, gid=gid))
            if spec["values"] is not None and (r, c) in real:
                ax.text(c + 0.5, -r + 0.5, f"{spec['values'][r, c]:g}", ha="center", va="center", fontsize=style.FONT["cell"])
    left = grid[1] + gap
    for r in range(out[0]):
        for c in range(out[1]):
            current = (r, c) == frame["output"]
            ax.add_patch(Rectangle((left + c, -r), 1, 1, facecolor=style.CURRENT if current else style.OUTPUT,
                                   edgecolor=style.EDGE, lw=0.5, gid="current" if current else "output"))
    title = f"output {frame['output']}"
    if "value" in frame:
        title += f" = {frame['value']:g}"
    ax.set_title(title, fontsize=style.FONT["label"])
    ax.set_xlim(-0.2, left + out[1] + 0.2)
    ax.set_ylim(-max(grid[0], out[0]) + 0.8, 1.2)
    style.clean_axes(ax)
