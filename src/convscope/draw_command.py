"""`convscope draw`: one figure (a kernel sliding over its input, a receptive field, the matrix C, learned
kernels, feature maps, class-activation maps, training curves), every mistake found before drawing."""
from __future__ import annotations

import math

from .cli_args import UsageError, named_path, parse_input, parse_padding, sample_shape
from .model_files import resolve_model


def add_parser(sub) -> None:
    dr = sub.add_parser("draw", help="one figure: conv, rf, matrix, kernels, maps, cam, history")
    dr.add_argument("what", choices=["conv", "rf", "matrix", "kernels", "maps", "cam", "history"])
    dr.add_argument("target", nargs="?", help="rf: a model file or zoo name; kernels/maps/history: a run folder")
    dr.add_argument("--input", help="conv/matrix: the spatial size, e.g. 5x5; rf: one sample's shape, e.g. 1x32x32 "
                                    "(default: the model's input_shape)")
    dr.add_argument("--kernel", type=int, default=3)
    dr.add_argument("--stride", type=int, default=1)
    dr.add_argument("--padding", default="0")
    dr.add_argument("--dilation", type=int, default=1)
    dr.add_argument("--transposed", action="store_true")
    dr.add_argument("--unit", help="rf: the unit of --layer, e.g. 0,3,3 (channel, row, column; default: the centre)")
    dr.add_argument("--layer", help="rf: the layer whose unit is drawn (default: the last spatial layer); "
                                    "kernels/maps: a layer name (default: the first convolution); cam: a module path "
                                    "(default: the last convolution)")
    dr.add_argument("--index", type=int, default=0, help="maps/cam: which test sample")
    dr.add_argument("--label", type=int, help="cam: the class to explain (default: the model's prediction)")
    dr.add_argument("-o", "--output", type=named_path, help="file to write (.png, .svg, .pdf; .gif animates `draw conv`)")
    dr.add_argument("--dpi", type=int, default=150, help="raster resolution (default 150; at most 4000 px a side)")
    dr.add_argument("--seed", type=int, default=0, help="rf: seed of the untrained model's weights")


MAX_CELLS = 4096  # input cells (or kernel taps) a figure draws one by one: 64x64 is already small print


def _check_drawable(what: str, spatial: tuple, args) -> None:
    """Sizes a figure can show, checked by arithmetic before anything is allocated."""
    from .ops.geometry import output_size

    for name, cells in (("--input", math.prod(spatial)), ("--kernel", args.kernel ** len(spatial))):
        if cells > MAX_CELLS:
            raise UsageError(f"draw {what}: {name} makes {cells:,} cells to draw; the figure shows each one: "
                             f"at most {MAX_CELLS:,}")
    pad = parse_padding(args.padding)
    if not args.transposed and isinstance(pad, int):
        for a, i in enumerate(spatial):  # the size rule's own message: kernel larger than the padded input, stride < 1, ...
            output_size(i, args.kernel, args.stride, pad, args.dilation, op=f"{what} --input {args.input}", axis=a)


def _check_draw(args) -> None:
    """Every `draw` mistake found before drawing, as one UsageError."""
    what = args.what
    parse_padding(args.padding)
    if what in ("conv", "matrix"):
        if not args.input:
            raise UsageError(f"{what} needs --input, the spatial size, e.g. --input 5x5")
        spatial = parse_input(args.input)
        if len(spatial) > 3:
            raise UsageError(f"{what}: --input {args.input} has more than 3 spatial axes")
        _check_drawable(what, spatial, args)
        return
    if not args.target:
        wants = "a model file or zoo name, e.g. lenet5" if what == "rf" else "a run folder of `convscope train`"
        raise UsageError(f"{what} needs {wants}")
    if what == "rf":
        try:
            [int(v) for v in (args.unit or "0").split(",")]
        except ValueError:
            raise UsageError(f"--unit {args.unit!r} must be ints like 0,3,3 (channel, row, column)") from None
        return
    from .model_files import load_run

    run = load_run(args.target)
    if what == "history" and not run.history.get("epochs"):
        raise UsageError(f"{args.target} has no finished epoch to draw")
    if what == "history":
        return
    convs = [n for n, m in run.model.named_modules() if hasattr(m, "kernel_size") and hasattr(m, "weight")]
    if what == "cam" and args.layer is not None:
        convs = [n for n, _ in run.model.named_modules() if n]  # any module path
    if args.layer is not None and args.layer not in convs:
        kind = "module" if what == "cam" else "convolution"
        raise UsageError(f"--layer {args.layer!r} is not a {kind} of {args.target}; "
                         f"its {kind}s are {', '.join(convs) or 'none'}")
    if not convs:
        raise UsageError(f"{args.target}'s model has no convolution to draw")
    if what in ("maps", "cam"):
        from . import data

        n = len(data.load_data(run.facts.get("data", "digits"), getattr(run.model, "input_shape", None))[2])
        if not 0 <= args.index < n:
            raise UsageError(f"--index {args.index} is not a test sample: {run.facts.get('data', 'digits')} "
                             f"has {n}, so 0 <= index <= {n - 1}")


def run(args) -> int:
    _check_draw(args)
    import numpy as np

    from . import data, manual_seed, viz
    from .model_files import load_run

    what, out = args.what, args.output or f"{args.what}.png"
    manual_seed(args.seed)  # models without trained weights draw the same ones every time
    if what == "conv":
        if not args.input:
            raise ValueError("draw conv: give --input, e.g. --input 5x5 (or 7 for a 1-D input)")
        spatial = parse_input(args.input)
        fig = viz.conv_steps(spatial, args.kernel, args.stride, parse_padding(args.padding), args.dilation,
                             args.transposed)
        fig.save_animation(out, dpi=args.dpi) if out.endswith(".gif") else fig.savefig(out, dpi=args.dpi)
    elif what == "matrix":
        if not args.input:
            raise ValueError("draw matrix: give --input, e.g. --input 4x4 (or 6 for a 1-D input)")
        shape = parse_input(args.input)
        w = np.arange(1.0, args.kernel ** len(shape) + 1).reshape(1, 1, *([args.kernel] * len(shape)))
        viz.conv_matrix((1, *shape), w, stride=args.stride, padding=parse_padding(args.padding),
                        dilation=args.dilation).savefig(out, dpi=args.dpi)
    elif what == "rf":
        if not args.target:
            raise ValueError("draw rf: name a model, e.g. `convscope draw rf lenet5 --layer C3 --unit 0,3,3`")
        model = resolve_model(args.target)
        shape = sample_shape(args, model)
        unit = tuple(int(v) for v in args.unit.split(",")) if args.unit else None
        if len(shape) == 2:
            fig = viz.receptive_field_1d(model, unit[-1] if unit else 0, input_length=shape[-1], channels=shape[0])
        else:
            fig = viz.receptive_field_2d(model, shape, unit, layer=args.layer)
        fig.savefig(out, dpi=args.dpi)
    elif what in ("kernels", "maps", "cam", "history"):
        if not args.target:
            raise ValueError(f"draw {what}: give a run folder written by `convscope train`, e.g. runs/lenet_digits")
        run = load_run(args.target)
        model, facts = run.model, run.facts
        if what == "history":
            fig = viz.history(run.history)
        else:
            layer = args.layer or next(n for n, m in model.named_modules() if hasattr(m, "kernel_size"))
            if what == "kernels":
                fig = viz.kernels(model, layer)
            else:
                x = data.load_data(facts.get("data", "digits"), getattr(model, "input_shape", None))[2][args.index]
                fig = viz.feature_maps(model, x, layer) if what == "maps" else viz.class_activation(
                    model, x, args.layer or [n for n, m in model.named_modules() if hasattr(m, "kernel_size")
                                             and hasattr(m, "weight")][-1], args.label)
        fig.savefig(out, dpi=args.dpi)
    print(f"wrote {out}")
    return 0
