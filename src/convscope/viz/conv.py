"""The kernel sliding over its input, one frame per output position (conv_arithmetic style)."""
from __future__ import annotations

import io
import itertools

import numpy as np
from matplotlib.patches import Patch, Rectangle

from ..ops.geometry import (ntuple, transposed_as_conv_pads, transposed_output_size, window_cell, window_geometry,
                            window_settings)
from . import style

GAP = 1.5  # cells between the input grid and the output grid


class StepsFigure(style.ViewFigure):
    """A grid of frames; `frames` holds what each one shows; `save_animation(path)` writes a GIF."""

    frames: list
    draw_frame = None

    def save_animation(self, path, ms_per_frame: int = 600, dpi: float = style.DPI) -> None:
        """One GIF frame per output position, each with the figure's title and legend."""
        from PIL import Image

        images = []
        for frame in self.frames:
            buf = io.BytesIO()
            self.frame_figure(frame).savefig(buf, format="png", dpi=dpi)
            images.append(Image.open(io.BytesIO(buf.getvalue())).convert("P", palette=Image.ADAPTIVE))
        images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)

    def frame_figure(self, frame) -> style.ViewFigure:
        """One frame on its own, with the figure's title and legend: a frame of the animation."""
        fig = style.figure(*self.frame_size)
        self.draw_frame(fig.add_subplot(), frame)
        fig.suptitle(style.wrap(self.title.replace("\n", " "), self.frame_size[0] - 0.3, style.FONT["title"]),
                     fontsize=style.FONT["title"])
        _legend(fig, self.spec)
        return fig


def _setting(values) -> str:
    """'2' when every axis has the same value, else '1x2'."""
    values = tuple(values)
    return str(values[0]) if len(set(values)) == 1 else style.shape_text(values)


def _padding_text(pads) -> str:
    if all(lo == hi for lo, hi in pads):
        return _setting(lo for lo, _ in pads)
    return "x".join(f"({lo},{hi})" for lo, hi in pads)


def conv_steps(input_shape, kernel_size=None, stride=1, padding=0, dilation=1, transposed=False, *,
               columns: int | None = None, max_frames: int = 64) -> StepsFigure:
    """Frames of a convolution: the padded input (padding grey), the window of each output position
    outlined over it, the output with the current cell highlighted. 1-D or 2-D.

    Numeric form: `conv_steps(x, w)` with x (H, W) or (L,) and w a kernel of the same rank writes
    the input values, each window cell's weight, and the outputs computed so far. `transposed=True`
    draws the transposed convolution as its equivalent: zeros inserted between inputs (stride),
    padded by d(k-1) - p, stride 1.
    """
    x = w = None
    if isinstance(input_shape, np.ndarray):
        x, w = np.asarray(input_shape, float), np.asarray(kernel_size, float)
        input_shape, kernel_size = x.shape, w.shape
    input_shape = tuple(input_shape)
    rank = len(input_shape)
    if rank not in (1, 2):
        raise ValueError(f"conv_steps: input of shape {input_shape} has {rank} axes; draw 1-D (L,) or 2-D (H, W)")
    kernel = ntuple(kernel_size, rank, "kernel_size", "conv_steps")
    strides, dilations, pads = window_settings(input_shape, kernel, stride, padding, dilation, "conv_steps")
    # 1-D is drawn as 2-D with one row: a leading axis of size 1, kernel 1, stride 1, no padding
    lift = (lambda v, one: (one, *v)) if rank == 1 else (lambda v, one: tuple(v))
    build = _transposed_spec if transposed else _conv_spec
    spec = build(lift(input_shape, 1), lift(kernel, 1), lift(strides, 1), lift(dilations, 1), lift(pads, (0, 0)))
    spec.update(values=_values(x, spec) if x is not None else None, kernel_values=w, rank=rank)
    frames = _frames(spec, x, w)
    layout = _layout(spec)
    full = (1.2 + 0.42 * layout["width"], 1.0 + 0.42 * layout["height"])  # one frame at full size, inches
    count, columns, scale = _arrange(full, min(len(frames), max_frames), columns, SCALES if x is not None else BARE_SCALES)
    shown = frames[:count]
    rows = -(-len(shown) // columns)
    frame_size = (full[0] * scale, full[1] * scale)
    fig = StepsFigure(figsize=(max(frame_size[0] * columns, 6.0), frame_size[1] * rows + TITLE_AND_LEGEND),
                      layout="constrained")
    alone = (max(full[0], 6.5), full[1] + 1.3)  # one frame of the animation, with its title and legend
    shrink = min(1.0, style.SLIDE[0] / alone[0], style.SLIDE[1] / alone[1])
    fig.frames, fig.frame_size, fig.spec = frames, (alone[0] * shrink, alone[1] * shrink), spec
    fig.draw_frame = lambda ax, frame: _draw(ax, spec, frame)
    for i, frame in enumerate(shown):
        _draw(fig.add_subplot(rows, columns, i + 1), spec, frame)
    fig.title = style.wrap(_title(spec, input_shape, kernel, strides, pads, dilations, transposed)
                           + (f" (first {len(shown)} of {len(frames)} frames)" if len(shown) < len(frames) else ""),
                           max(fig.frame_size[0], frame_size[0] * columns), style.FONT["title"])
    fig.suptitle(fig.title, fontsize=style.FONT["title"])
    _legend(fig, spec)
    return fig


TITLE_AND_LEGEND = 1.3  # inches above and below the frames
SCALES = (1.0, 0.85, 0.7)  # how far a frame may shrink to fit more of them: the values in its cells stay readable
BARE_SCALES = SCALES + (0.55, 0.4)  # cells without values may shrink further


def _arrange(frame, wanted: int, columns: int | None, scales=SCALES) -> tuple[int, int, float]:
    """(frames shown, columns, scale) that fit a slide (style.SLIDE): the most frames, then the
    largest scale; the animation (`save_animation`) always has every frame at full size."""
    width, height = style.SLIDE
    best = (1, 1, scales[-1])
    for scale in scales:
        fits_rows = max(1, int((height - TITLE_AND_LEGEND) // (frame[1] * scale)))
        for c in ([columns] if columns else range(1, wanted + 1)):
            if c > 1 and c * frame[0] * scale > width:
                break
            count = min(wanted, c * fits_rows)
            if count > best[0] or (count == best[0] and scale > best[2]):
                best = (count, min(c, count), scale)
    return best


def _title(spec, shape, kernel, strides, pads, dilations, transposed) -> str:
    settings = f"kernel {style.shape_text(kernel)}, stride {_setting(strides)}, padding {_padding_text(pads)}"
    if any(d != 1 for d in dilations):
        settings += f", dilation {_setting(dilations)}"
    out = style.shape_text(spec["out"][-len(shape):])
    if not transposed:
        return f"convolution: input {style.shape_text(shape)}, {settings} -> output {out}"
    inner = _padding_text(spec["pads"][-len(shape):])
    zeros = _setting(s - 1 for s in strides)
    return (f"transposed convolution: input {style.shape_text(shape)}, {settings} -> output {out}; drawn as a "
            f"stride-1 convolution over the input with {zeros} zero(s) inserted between cells, padded d(k-1) - p = {inner}")


def _conv_spec(shape, kernel, strides, dilations, pads) -> dict:
    """Grid cells are padded coordinates; input cell i sits at i + p_lo."""
    out = window_geometry(shape, kernel, strides, pads, dilations, "conv_steps").out_size
    positions = [[i + lo for i in range(n)] for n, (lo, _) in zip(shape, pads)]
    spec = _spec(shape, kernel, strides, dilations, pads, out, positions)
    spec["grid_label"] = "input" + (" (padded)" if len(spec["real"]) < np.prod(spec["grid"]) else "")
    return spec


def _transposed_spec(shape, kernel, strides, dilations, pads) -> dict:
    """Input cell i sits at i*s + (d(k-1) - p_lo) of a grid that a stride-1 conv slides over."""
    inner = transposed_as_conv_pads(kernel, dilations, pads)
    if any(lo < 0 or hi < 0 for lo, hi in inner):
        raise ValueError(f"conv_steps: transposed padding {pads} is larger than d(k-1) on some axis "
                         f"(d(k-1) - p = {inner}); the drawing needs p <= d(k-1)")
    out = tuple(transposed_output_size(i, k, s, p, d, op="conv_steps", axis=a)
                for a, (i, k, s, p, d) in enumerate(zip(shape, kernel, strides, pads, dilations)))
    # the adjoint's rule: input cell i feeds output i*s + t*d - p; tap 0 of the padded grid is i*s + (d(k-1) - p)
    positions = [[window_cell(i, 0, s, 1, -lo) for i in range(n)] for n, s, (lo, _) in zip(shape, strides, inner)]
    spec = _spec(shape, kernel, (1,) * len(shape), dilations, inner, out, positions)
    spec["grid_label"] = "input, zeros inserted and padded"
    return spec


def _spec(shape, kernel, strides, dilations, pads, out, positions) -> dict:
    grid = tuple(p[-1] + 1 + hi for p, (_, hi) in zip(positions, pads))
    real = {(r, c): (i, j) for i, r in enumerate(positions[0]) for j, c in enumerate(positions[1])}
    return {"grid": grid, "real": real, "out": out, "kernel": kernel, "stride": strides, "dilation": dilations,
            "pads": pads}


def _frames(spec, x, w) -> list:
    """What each output position reads: grid cells under its window and the input cells among them."""
    frames = []
    taps = list(itertools.product(*(range(k) for k in spec["kernel"])))
    for o in itertools.product(*(range(n) for n in spec["out"])):
        # the window rule on grid coordinates (the padding is already part of the grid)
        cells = [tuple(window_cell(oa, ta, s, d, 0) for oa, ta, s, d in zip(o, t, spec["stride"], spec["dilation"]))
                 for t in taps]
        frame = {"output": o[-spec["rank"]:], "position": o, "window": cells,
                 "inputs": [spec["real"][c] for c in cells if c in spec["real"]]}
        if x is not None:
            frame["value"] = float(sum(spec["values"][c] * wv for c, wv in zip(cells, w.reshape(-1))))
        frames.append(frame)
    for frame in frames:
        frame["outputs"] = {f["position"]: f.get("value") for f in frames[: frames.index(frame) + 1]}
    return frames


def _values(x, spec) -> np.ndarray:
    v = np.zeros(spec["grid"])
    flat = x.reshape(1, -1) if x.ndim == 1 else x
    for cell, (r, c) in spec["real"].items():
        v[cell] = flat[r, c]
    return v


def _layout(spec) -> dict:
    """Where the output grid goes: beside the input in 2-D, under it (centred) in 1-D; the frame's
    size in cells, counting a row for the labels under each grid."""
    grid, out = spec["grid"], spec["out"]
    if spec["rank"] == 1:
        layout = {"output": ((grid[1] - out[1]) / 2, -2 * GAP), "width": max(grid[1], out[1]), "height": 2 * GAP + 2}
    else:
        layout = {"output": (grid[1] + GAP, 0), "width": grid[1] + GAP + out[1], "height": max(grid[0], out[0]) + 1}
    spec["layout"] = layout
    return layout


def _legend(fig, spec) -> None:
    zeros = "zero (padding or inserted)" if len(spec["real"]) < _inner_cells(spec) else "padding (zero)"
    handles = [Patch(facecolor=style.INPUT, edgecolor=style.EDGE, label="input")]
    if len(spec["real"]) < spec["grid"][0] * spec["grid"][1]:
        handles.append(Patch(facecolor=style.PADDING, edgecolor=style.EDGE, label=zeros))
    handles += [Patch(facecolor="none", edgecolor=style.WINDOW, lw=2, label="window (kernel)"),
                Patch(facecolor=style.OUTPUT, edgecolor=style.EDGE, label="output"),
                Patch(facecolor=style.CURRENT, edgecolor=style.EDGE, label="output being computed")]
    # a legend wider than the figure would run off it: wrap it onto rows of three
    wide = fig.get_size_inches()[0] >= 1.6 * len(handles) + 1
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles) if wide else 3,
               fontsize=style.FONT["label"], frameon=False)


def _inner_cells(spec) -> int:
    (r0, c0), (r1, c1) = min(spec["real"]), max(spec["real"])
    return (r1 - r0 + 1) * (c1 - c0 + 1)


def _draw(ax, spec, frame) -> None:
    grid, real, out, values = spec["grid"], spec["real"], spec["out"], spec["values"]
    for r, c in itertools.product(range(grid[0]), range(grid[1])):
        inside = (r, c) in real
        ax.add_patch(Rectangle((c, -r), 1, 1, facecolor=style.INPUT if inside else style.PADDING,
                               edgecolor=style.EDGE, lw=0.5, gid="input" if inside else "padding"))
        if values is not None:
            ax.text(c + 0.5, -r + 0.5, f"{values[r, c]:g}", ha="center", va="center", fontsize=style.FONT["cell"],
                    color="black" if inside else "#777777")
    weights = spec["kernel_values"].reshape(-1) if spec["kernel_values"] is not None else None
    for i, (r, c) in enumerate(frame["window"]):
        # an outline over the cells, so the padding or input under the window stays visible
        ax.add_patch(Rectangle((c + 0.08, -r + 0.08), 0.84, 0.84, facecolor="none", edgecolor=style.WINDOW, lw=2.5,
                               gid="window"))
        if weights is not None:
            # w for weights, as in the matrix C's legend; x names the input cells there
            ax.text(c + 0.95, -r + 0.08, f"w={weights[i]:g}", ha="right", va="bottom", fontsize=style.FONT["cell"] - 1,
                    color="#7f3f00", gid="weight")
    left, top = spec["layout"]["output"]
    for r, c in itertools.product(range(out[0]), range(out[1])):
        current = (r, c) == frame["position"]
        ax.add_patch(Rectangle((left + c, top - r), 1, 1, facecolor=style.CURRENT if current else style.OUTPUT,
                               edgecolor=style.EDGE, lw=0.5, gid="current" if current else "output"))
        value = frame["outputs"].get((r, c))
        if value is not None:
            ax.text(left + c + 0.5, top - r + 0.5, f"{value:g}", ha="center", va="center", fontsize=style.FONT["cell"],
                    color=style.text_colour(style.CURRENT if current else style.OUTPUT), gid="output value")
    ax.text(grid[1] / 2, -grid[0] + 0.85, spec["grid_label"], ha="center", va="top", fontsize=style.FONT["label"])
    ax.text(left + out[1] / 2, top - out[0] + 0.85, "output", ha="center", va="top", fontsize=style.FONT["label"])
    index = tuple(int(i) for i in frame["output"])
    title = f"output {index[0] if len(index) == 1 else index}"
    if "value" in frame:
        title += f" = {frame['value']:g}"
    ax.set_title(title, fontsize=style.FONT["label"])
    ax.set_xlim(-0.2, spec["layout"]["width"] + 0.2)
    ax.set_ylim(1 - spec["layout"]["height"] - 0.2, 1.2)
    style.clean_axes(ax)
