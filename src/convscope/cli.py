"""The `convscope` command: a thin layer that formats what the library returns."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import lecture


def _matrix(name: str, a: np.ndarray) -> str:
    body = np.array2string(np.asarray(a), max_line_width=200, precision=4, suppress_small=True)
    return f"{name} {tuple(np.shape(a))}:\n{body}\n"


def show_matrix_example() -> int:
    ex = lecture.matrix_example()
    print("Convolution as matrix multiplication (cross-correlation, no padding, stride 1)\n")
    print(_matrix("input x", ex["x"]))
    print(_matrix("kernel w", ex["w"]))
    print(_matrix("output y = conv(x, w)", ex["y"]))
    print(_matrix("matrix C (rows are shifted copies of the flattened kernel)", ex["C"]))
    print(_matrix("C @ x.ravel()", ex["C_x"]))
    print(f"C @ x.ravel() == conv(x, w).ravel():            {ex['forward_matches']}")
    print(_matrix("\nC.T @ y.ravel()  (the transposed convolution: 2x2 back up to 4x4)", ex["CT_y"].reshape(4, 4)))
    print(f"C.T @ y.ravel() == conv_transpose(y, w).ravel(): {ex['transpose_matches']}")
    return 0 if ex["forward_matches"] and ex["transpose_matches"] else 1


def train(args) -> int:
    """Train a model file on a bundled data set; save weights, history and a checkpoint under runs/."""
    from rich.console import Console
    from rich.table import Table

    from . import data, fit, load_model, manual_seed
    from .runs import CHECKPOINT, run_dir, write_run

    if (args.engine, args.device, args.nproc) != ("numpy", "cpu", 1) or args.data not in data.DATASETS:
        from .scale import command  # PyTorch, several processes, or your own data files

        return command.train(args)
    manual_seed(args.seed)
    model = load_model(args.model)
    x_train, y_train, x_test, y_test = data.DATASETS[args.data]()
    out = run_dir(args.out, model.name)
    console = Console()
    console.print(f"training {model.name} on {args.data}: {len(x_train)} train / {len(x_test)} test samples, "
                  f"{sum(p.data.size for p in model.parameters()):,} parameters")
    try:
        history = fit(model, (x_train, y_train), (x_test, y_test), epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed,
                      checkpoint=out / CHECKPOINT, resume=args.resume, quiet=args.quiet)
    except KeyboardInterrupt as stop:
        console.print(f"[yellow]{stop}[/yellow]; rerun with --resume to continue")
        return 130
    table = Table("epoch", "loss", "accuracy", "test loss", "test accuracy", "seconds", "samples/s")
    for e in history.epochs:
        table.add_row(str(e["epoch"]), f"{e['loss']:.4f}", f"{e['accuracy']:.2%}", f"{e['val_loss']:.4f}",
                      f"{e['val_accuracy']:.2%}", f"{e['seconds']:.2f}", f"{e['samples_per_s']:,.0f}")
    console.print(table)
    write_run(out, model, history, {"model": model.name, "data": args.data, "epochs": args.epochs})
    console.print(f"saved {out / 'model.safetensors'} and {out / 'history.json'}")
    return 0


def _shape(text: str) -> tuple:
    try:
        return tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--input {text!r} must look like 1x28x28 (channels x spatial sizes)") from None


def _model(spec: str):
    from .specs import resolve_model

    return resolve_model(spec)


def _input(args, model) -> tuple:
    if args.input:
        return _shape(args.input)
    if getattr(model, "input_shape", None):
        return model.input_shape
    raise ValueError("give --input, e.g. --input 3x224x224 (the model file names no input_shape)")


def summary_cmd(args) -> int:
    from rich.console import Console

    from .analysis import summary

    model = _model(args.model)
    s = summary(model, _input(args, model), batch_size=args.batch_size)
    if args.json:
        print(s.to_json())
    elif args.markdown:
        print(s.to_markdown())
    else:
        Console(width=max(Console().width, 160)).print(s)
    return 0


def size_cmd(args) -> int:
    from .analysis import conv_arithmetic

    padding = args.padding if args.padding in ("same", "valid", "full") else int(args.padding)
    r = conv_arithmetic(_shape(args.input), args.kernel, args.stride, padding, args.dilation, args.filters,
                        args.groups, args.transposed, args.output_padding)
    print(r["layer"])
    for a, step in enumerate(r["steps"]):
        print(f"  axis {a}: {step}")
    print(f"output shape: {'x'.join(map(str, r['output_shape']))}")
    print(f"parameters: {r['params']:,}   MACs per sample: {r['macs']:,}")
    print(f"receptive field: size {r['rf_size']}, jump {r['rf_jump']}, start {r['rf_start']}")
    for note in r["notes"]:
        print(f"note: {note}")
    return 0


def compare_cmd(args) -> int:
    from .analysis import compare

    models = [_model(m) for m in args.models]
    print(compare(*models, input_shape=_input(args, models[0]), names=args.models))
    return 0


def tour_cmd(args) -> int:
    from . import tour

    tour.run(args.out, quick=args.quick)
    return 0


def draw_cmd(args) -> int:
    import numpy as np

    from . import data, viz
    from .runs import load_run

    what, out = args.what, args.output or f"{args.what}.png"
    if what == "conv":
        spatial = _shape(args.input)
        fig = viz.conv_steps(spatial, args.kernel, args.stride, _padding(args.padding), args.dilation, args.transposed)
        fig.save_animation(out) if out.endswith(".gif") else fig.savefig(out, dpi=args.dpi)
    elif what == "matrix":
        shape = _shape(args.input)
        w = np.arange(1.0, args.kernel ** len(shape) + 1).reshape(1, 1, *([args.kernel] * len(shape)))
        viz.conv_matrix((1, *shape), w, stride=args.stride, padding=_padding(args.padding),
                        dilation=args.dilation).savefig(out, dpi=args.dpi)
    elif what == "rf":
        model = _model(args.target)
        shape = _input(args, model)
        unit = tuple(int(v) for v in (args.unit or "0").split(","))
        fig = viz.receptive_field_1d(model, unit[-1], input_length=shape[-1], channels=shape[0]) if len(shape) == 2 \
            else viz.receptive_field_2d(model, shape, unit)
        fig.savefig(out, dpi=args.dpi)
    elif what in ("kernels", "maps", "history"):
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
                fig = viz.feature_maps(model, x, layer)
        fig.savefig(out, dpi=args.dpi)
    print(f"wrote {out}")
    return 0


def experiment_cmd(args) -> int:
    from rich.console import Console

    from . import experiments

    result = experiments.run(args.name, seed=args.seed, quick=args.quick, out=args.out)
    console = Console(width=max(Console().width, 140))
    console.print(result.table())
    for key, value in result.numbers.items():
        if not isinstance(value, (list, dict)) or key == "by_shift":
            console.print(f"{key}: {value}")
    console.print(f"{result.seconds:.1f} s; wrote {args.out}/{args.name}.json" +
                  (f" and {args.out}/{args.name}.png" if result.figure is not None else ""))
    return 0


def _padding(text: str):
    return text if text in ("same", "valid", "full") else int(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="convscope", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("matrix", help="the lecture's 4x4 / 3x3 convolution-as-matrix example (the default)")
    t = sub.add_parser("train", help="train a YAML model file on a bundled data set")
    t.add_argument("model", help="a model file, e.g. examples/lenet_digits.yaml")
    t.add_argument("--data", default="digits", help="digits, mnist1d, translated_digits, a folder of class "
                                                    "sub-folders of images, or a .npz file with arrays x, y")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs", help="folder for runs/<model name>/ (default: runs)")
    t.add_argument("--resume", action="store_true", help="continue from runs/<name>/checkpoint.safetensors")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--engine", default="numpy", choices=["numpy", "torch"], help="torch: train on PyTorch "
                   "(pip install 'convscope[torch]'); several processes under torchrun or with --nproc")
    t.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="with --engine torch")
    t.add_argument("--nproc", type=int, default=1, help="start N local DistributedDataParallel processes")
    t.add_argument("--timeout", type=float, default=60.0, help="seconds a rank waits for the others")
    sm = sub.add_parser("summary", help="per-layer table: shapes, parameters, MACs, memory, receptive fields")
    sm.add_argument("model", help="a model file or a zoo name (lenet5, alexnet, vgg16, resnet18, resnet50, "
                                  "mobilenet_v1, unet_small)")
    sm.add_argument("--input", help="one sample's shape, e.g. 1x28x28 (default: the model file's input_shape)")
    sm.add_argument("--batch-size", type=int, default=1)
    sm.add_argument("--json", action="store_true")
    sm.add_argument("--markdown", action="store_true")
    sz = sub.add_parser("size", help="one convolution's arithmetic, step by step")
    sz.add_argument("--input", required=True, help="e.g. 3x32x32")
    sz.add_argument("--kernel", type=int, required=True)
    sz.add_argument("--stride", type=int, default=1)
    sz.add_argument("--padding", default="0", help="an int, or valid / same / full")
    sz.add_argument("--dilation", type=int, default=1)
    sz.add_argument("--filters", type=int, default=1)
    sz.add_argument("--groups", type=int, default=1)
    sz.add_argument("--transposed", action="store_true")
    sz.add_argument("--output-padding", type=int, default=0)
    cp = sub.add_parser("compare", help="models side by side: parameters, MACs, memory, receptive field, depth")
    cp.add_argument("models", nargs="+")
    cp.add_argument("--input")
    tr = sub.add_parser("tour", help="the lecture, run on the digits: training, summary, figures, tour/index.html "
                                     "(the default command)")
    tr.add_argument("--out", default="tour")
    tr.add_argument("--quick", action="store_true", help="3 epochs instead of 20")
    dr = sub.add_parser("draw", help="one figure: conv, rf, matrix, kernels, maps, history")
    dr.add_argument("what", choices=["conv", "rf", "matrix", "kernels", "maps", "history"])
    dr.add_argument("target", nargs="?", help="rf: a model file or zoo name; kernels/maps/history: a run folder")
    dr.add_argument("--input", help="conv/matrix: the spatial size, e.g. 5x5; rf: one sample's shape, e.g. 1x28x28")
    dr.add_argument("--kernel", type=int, default=3)
    dr.add_argument("--stride", type=int, default=1)
    dr.add_argument("--padding", default="0")
    dr.add_argument("--dilation", type=int, default=1)
    dr.add_argument("--transposed", action="store_true")
    dr.add_argument("--unit", help="rf: the output unit, e.g. 0,3,3 (channel, row, column)")
    dr.add_argument("--layer", help="kernels/maps: a layer name (default: the first convolution)")
    dr.add_argument("--index", type=int, default=0, help="maps: which test sample")
    dr.add_argument("-o", "--output", help="file to write (.png, .svg, .pdf; .gif animates `draw conv`)")
    dr.add_argument("--dpi", type=int, default=100)
    ex = sub.add_parser("experiment", help="re-run one of the lecture's claims on real data")
    ex.add_argument("name", choices=["permutation", "translation", "order1d", "stacking", "bottleneck", "kernels"])
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--quick", action="store_true")
    ex.add_argument("--out", default="experiments", help="folder for NAME.json and NAME.png")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["tour", *([] if argv is None else argv)])
    if args.command == "matrix":
        return show_matrix_example()
    run = {"train": train, "summary": summary_cmd, "size": size_cmd, "compare": compare_cmd, "tour": tour_cmd,
           "draw": draw_cmd, "experiment": experiment_cmd}[args.command]
    try:
        return run(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"convscope {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
