"""convscope: see what a convolutional network computes, and check it.

Start with `convscope tour`: it trains a small CNN on the bundled digits and writes tour/index.html,
every figure with the numbers behind it. The other commands print one model's layer table, one
layer's size arithmetic, models side by side, a single figure, or re-run one of the lecture's
claims. `convscope COMMAND --help` lists a command's options.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from . import __version__, draw_command, lecture, optim, predict_command
from .cli_args import UsageError, check_axes, first_layer, named_path, parse_input, parse_padding, sample_shape
from .model_files import resolve_model

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
    """Train a model on a bundled data set; save weights, history and a checkpoint in the run folder."""
    from rich.console import Console

    from . import data, fit, manual_seed
    from .model_files.runs import CHECKPOINT, check_new_run, run_dir, write_run
    from .train import TrainingInterrupted

    if (args.engine, args.device, args.nproc) != ("numpy", "cpu", 1) or args.data not in {**data.DATASETS, **data.SETS}:
        from .scale import command  # PyTorch, several processes, or your own data files

        return command.train(args)
    manual_seed(args.seed)
    model = resolve_model(args.model)
    name = getattr(model, "name", None) or "model"
    x_train, y_train, x_test, y_test = data.load_data(args.data, quiet=args.quiet)
    _check_data(model, name, args.data, x_train.shape[1:], int(y_train.max()) + 1)
    out = run_dir(args.out, name)
    check_new_run(out, args.resume, args.overwrite)
    console = Console()
    if args.resume:
        console.print(_resume_note(out / CHECKPOINT, args.epochs))
    console.print(f"training {name} on {args.data}: {len(x_train)} train / {len(x_test)} test samples, "
                  f"{sum(p.data.size for p in model.parameters()):,} parameters")
    facts = {"model": name, "data": args.data, "epochs": args.epochs}
    try:
        history = fit(model, (x_train, y_train), (x_test, y_test), epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed,
                      checkpoint=out / CHECKPOINT, resume=args.resume, quiet=args.quiet)
    except TrainingInterrupted as stop:  # keep the weights reached so far where `draw` reads them
        write_run(out, model, stop.history, {**facts, "interrupted": {"epoch": stop.epoch, "batch": stop.batch}})
        console.print(f"[yellow]{stop}[/yellow]; the weights so far are in {out}, rerun with --resume to continue")
        return 130
    console.print(history)
    write_run(out, model, history, facts)
    console.print(f"saved {out / 'model.safetensors'} and {out / 'history.json'}")
    return 0


def _check_data(model, name: str, data_name: str, shape: tuple, classes: int) -> None:
    """The model takes the data set's samples and gives one score per class: checked on shapes alone."""
    from .analysis import trace
    from .train import CLASS_RULE, scores_classes

    first = first_layer(model)
    if first is not None:
        check_axes(shape, *first, given_as=f"a {data_name} sample")
    try:
        out = trace(model, shape).output.shape
    except ValueError as err:
        raise UsageError(f"{name} cannot take a {data_name} sample of shape {'x'.join(map(str, shape))}: "
                         f"{err}") from None
    if not scores_classes(out, classes):
        raise UsageError(f"{name} gives outputs of shape {'x'.join(map(str, out[1:]))} per sample, but {data_name} "
                         f"has {classes} classes: {CLASS_RULE.format(classes=classes)}")


def _resume_note(checkpoint, epochs: int) -> str:
    from .checkpoints import position

    if not checkpoint.exists():
        return f"no checkpoint at {checkpoint}: starting from epoch 1"
    at = position(checkpoint)
    if at["epoch"] > epochs:
        return (f"{checkpoint} has already finished {at['epoch'] - 1} epochs: nothing to train "
                f"(give --epochs above {at['epoch'] - 1} to train on)")
    done = f"after batch {at['batch']}" if at["batch"] else "at its start"
    return f"resuming from {checkpoint}: epoch {at['epoch']} of {epochs}, {done}"


def summary_cmd(args) -> int:
    from rich.console import Console

    from .analysis import summary

    # the analysis needs shapes only: no weights are allocated; a torch module with --input is analysed
    # even where convscope cannot run it
    model = resolve_model(args.model, meta=True, input_shape=parse_input(args.input) if args.input else None)
    s = summary(model, sample_shape(args, model), batch_size=args.batch_size)
    if args.json:
        print(s.to_json())
    elif args.markdown:
        print(s.to_markdown())
    elif args.wide:
        Console(width=max(Console().width, 200)).print(s)
    else:
        console = Console()
        console.print(s.table(_fitting_columns(s, console)))
    return 0


# Columns given up, in this order, until the summary fits the terminal (`--wide` keeps them all).
DROP_ORDER = ("notes", "RF start", "RF jump", "kind", "activation", "MACs")


def _fitting_columns(s, console) -> list:
    from rich.measure import Measurement

    columns, unbounded = list(s.HEAD), console.options.update_width(10 ** 4)  # measure without wrapping
    for drop in (None, *DROP_ORDER):
        if drop:
            columns.remove(drop)
        if Measurement.get(console, unbounded, s.table(columns)).maximum <= console.width:
            break
    return columns


def _number(v) -> str:
    """A receptive-field value (an int or a fraction such as '5/2') as a plain number."""
    from fractions import Fraction

    v = Fraction(v)
    return str(v.numerator) if v.denominator == 1 else f"{float(v):g}"


def size_cmd(args) -> int:
    from .analysis import conv_arithmetic

    shape = parse_input(args.input)
    if not 2 <= len(shape) <= 4:
        raise UsageError(f"--input {args.input} must be channels and 1 to 3 spatial sizes, e.g. 3x32x32")
    if len(shape) == 2 and not args.signal:
        raise UsageError(f"--input {args.input} reads two ways: {shape[0]} channel(s) of a 1-D signal of length "
                         f"{shape[1]} (add --1d), or a {shape[0]}x{shape[1]} image (give its channels: "
                         f"--input 1x{shape[0]}x{shape[1]})")
    r = conv_arithmetic(shape, args.kernel, args.stride, parse_padding(args.padding), args.dilation,
                        args.filters, args.groups, args.transposed, args.output_padding)
    print(r["layer"])
    for a, step in enumerate(r["steps"]):
        print(f"  axis {a}: {step}")
    print(f"output shape: {'x'.join(map(str, r['output_shape']))}")
    print(f"parameters: {r['params']:,}   MACs per sample: {r['macs']:,}")
    rf = {k: "x".join(_number(v) for v in r[f"rf_{k}"]) for k in ("size", "jump", "start")}
    print(f"receptive field: {rf['size']} input cells, jump {rf['jump']}, start {rf['start']}")
    for note in r["notes"]:
        print(f"note: {note}")
    return 0


def compare_cmd(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from .analysis import compare

    models = [resolve_model(m, meta=True) for m in args.models]
    if not args.input:
        shapes = {m: getattr(model, "input_shape", None) for m, model in zip(args.models, models)}
        if len(set(shapes.values())) > 1:
            given = ", ".join(f"{m} {'x'.join(map(str, s)) if s else '?'}" for m, s in shapes.items())
            raise UsageError(f"the models take different inputs ({given}): give one --input for all")
    shape = [sample_shape(args, model) for model in models][0]
    c = compare(*models, input_shape=shape, names=_short_names(args.models))
    table = Table("model", "params", "MACs", "activations", "RF size", "RF jump", "depth",
                  title=f"input {'x'.join(map(str, shape))}, one sample; activations: bytes of the forward pass")
    table.columns[0].overflow = "fold"  # a long name wraps whole, never cut to an ellipsis
    for column in table.columns[1:]:
        column.justify = "right"
    for r in c.rows:
        table.add_row(r["name"], _scaled(r["params"]), _scaled(r["macs"]), _scaled(r["activation_bytes"], bytes_=True),
                      "x".join(map(_number, r["rf_size"])), "x".join(map(_number, r["rf_jump"])), str(r["depth"]))
    Console().print(table)
    return 0


def _short_names(specs) -> list:
    """A model file's name without its folder and suffix, unless two of them would then read the same."""
    from pathlib import Path

    short = [Path(s).stem if s.endswith((".yaml", ".yml", ".onnx")) else s for s in specs]
    return short if len(set(short)) == len(short) else list(specs)


def _scaled(n: int, bytes_: bool = False) -> str:
    """A count as 11.7M / 1.81G, or a size in bytes as 32.0 MB (1024 per step): 3 significant digits."""
    base, units = (1024, ("B", "KB", "MB", "GB", "TB")) if bytes_ else (1000, ("", "k", "M", "G", "T"))
    step = 0
    while abs(n) >= base and step < len(units) - 1:
        n, step = n / base, step + 1
    text = f"{n:.0f}" if step == 0 else f"{n:.3g}"
    return f"{text} {units[step]}".rstrip()


def tour_cmd(args) -> int:
    from . import tour

    tour.run(args.out, quick=args.quick)
    return 0


def experiment_cmd(args) -> int:
    from rich.console import Console

    from pathlib import Path

    from . import experiments

    Path(args.out).mkdir(parents=True, exist_ok=True)  # an unwritable folder fails now, not after the run
    result = experiments.run(args.name, seed=args.seed, quick=args.quick, out=args.out)
    console = Console(width=max(Console().width, 140))
    console.print(result.table())
    for key, value in result.numbers.items():
        if not isinstance(value, (list, dict)) or key == "by_shift":
            console.print(f"{key}: {value}")
    console.print(f"{result.seconds:.1f} s; wrote {args.out}/{args.name}.json" +
                  (f" and {args.out}/{args.name}.png" if result.figure is not None else ""))
    return 0


def _at_least_1(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text!r}")
    return int(text)


def _processes(text: str) -> int:
    """A process count from 1 to the machine's cores: more processes than cores only wait on each other."""
    n, cores = _at_least_1(text), os.cpu_count() or 1
    if n > cores:
        raise argparse.ArgumentTypeError(f"{n} processes on a machine with {cores} cores: give at most {cores}")
    return n


def explore_cmd(args) -> int:
    from .explore import explore

    out = explore(args.model, parse_input(args.input) if args.input else None, out=args.output, weights=args.weights,
                  image=args.image, sample=args.sample, dataset=args.data)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB): open it in a browser, it works offline")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one line (and where to find the options)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    from .data import DATASETS, SETS
    from .model_files.examples import NAMES as EXAMPLES

    p = _Parser(prog="convscope", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"convscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    tr = sub.add_parser("tour", help="the main job: the lecture run on the digits (training, summary, every "
                                     "figure) into one HTML page")
    tr.add_argument("--out", type=named_path, default="tour",
                    help="folder for the figures and index.html (default: tour)")
    tr.add_argument("--quick", action="store_true", help="3 epochs instead of 20")
    sub.add_parser("matrix", help="the lecture's 4x4 input, 3x3 kernel and its 4x16 matrix C, checked")
    t = sub.add_parser("train", help="train a model on a bundled data set; weights go to a run folder")
    t.add_argument("model", help=f"a model file, or a bundled one: {', '.join(EXAMPLES)}")
    t.add_argument("--data", default="digits", help=f"{', '.join(sorted(DATASETS))} (default: digits), "
                   f"{', '.join(SETS)} (downloaded once into $CONVSCOPE_DATA, default ~/.cache/convscope), "
                   "a folder of class sub-folders of images, or a .npz file with arrays x, y")
    t.add_argument("--epochs", type=_at_least_1, default=20)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--optimizer", default="adam", choices=list(optim.OPTIMIZERS))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", type=named_path, default="runs", help="the run folder is OUT/<model name>/")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint.safetensors")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in the run folder")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--engine", default="numpy", choices=["numpy", "torch"], help="torch: train on PyTorch "
                   "(pip install 'convscope[torch]'); several processes under torchrun or with --nproc")
    t.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="with --engine torch")
    t.add_argument("--nproc", type=_processes, default=1, help="start N local DistributedDataParallel processes")
    t.add_argument("--timeout", type=float, default=60.0, help="seconds a rank waits for the others")
    sm = sub.add_parser("summary", help="per-layer table: shapes, parameters, MACs, memory, receptive fields")
    sm.add_argument("model", help="a model file, a run folder, a zoo name (lenet5, alexnet, vgg16, resnet18, "
                                  "resnet50, mobilenet_v1, unet_small), torch:package.module:factory or .onnx")
    sm.add_argument("--input", help="one sample's shape, e.g. 1x28x28 (if the model file names none)")
    sm.add_argument("--batch-size", type=_at_least_1, default=1)
    form = sm.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--markdown", action="store_true")
    form.add_argument("--wide", action="store_true", help="every column, however wide the terminal")
    sz = sub.add_parser("size", help="one convolution's arithmetic, step by step")
    sz.add_argument("--input", required=True, help="one sample's shape, e.g. 3x32x32")
    sz.add_argument("--1d", dest="signal", action="store_true", help="a 2-number --input is channels x length")
    sz.add_argument("--kernel", type=int, required=True)
    sz.add_argument("--stride", type=int, default=1)
    sz.add_argument("--padding", default="0", help="an int, or valid / same / full")
    sz.add_argument("--dilation", type=int, default=1)
    sz.add_argument("--filters", type=int, default=1)
    sz.add_argument("--groups", type=int, default=1)
    sz.add_argument("--transposed", action="store_true")
    sz.add_argument("--output-padding", type=int, default=0)
    cp = sub.add_parser("compare", help="models side by side: parameters, MACs, memory, receptive field, depth")
    cp.add_argument("models", nargs="+", help="model files or zoo names")
    cp.add_argument("--input", help="one sample's shape for all of them, e.g. 3x224x224")
    draw_command.add_parser(sub)
    predict_command.add_parser(sub)
    ex = sub.add_parser("experiment", help="re-run one of the lecture's claims on real data")
    ex.add_argument("name", choices=["permutation", "translation", "order1d", "stacking", "bottleneck", "kernels"])
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--quick", action="store_true")
    ex.add_argument("--out", type=named_path, default="experiments", help="folder for NAME.json and NAME.png")
    xp = sub.add_parser("explore", help="one self-contained HTML page: a convolution playground and the model's "
                                        "layers, input boxes, feature maps, saliency and prediction")
    xp.add_argument("model", nargs="?", help="a model file, zoo name, torch:pkg.mod:factory or .onnx file "
                                             "(default: examples/lenet_digits.yaml, or the run folder's model)")
    xp.add_argument("--input", help="one sample's shape, e.g. 1x8x8 (default: the model file's input_shape)")
    xp.add_argument("--weights", help="a .safetensors file or a `convscope train` run folder")
    source = xp.add_mutually_exclusive_group()
    source.add_argument("--image", help="an image file, resized to the model's input")
    source.add_argument("--sample", type=int, help="test sample N of the data set (default 0)")
    xp.add_argument("--data", help="the data set of --sample (default: the run's, else digits)")
    xp.add_argument("-o", "--output", type=named_path, default="explore.html",
                    help="the page to write (default: explore.html)")
    return p


COMMANDS = {"train": train, "summary": summary_cmd, "size": size_cmd, "compare": compare_cmd, "tour": tour_cmd,
            "draw": draw_command.run, "predict": predict_command.run, "experiment": experiment_cmd, "explore": explore_cmd, "matrix": lambda args: show_matrix_example()}


def _one_line(err: BaseException) -> str:
    """The error as one line: a file error names the file, a multi-line message is joined."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    return " ".join(str(err).split())


def main(argv=None) -> int:
    """Run one command; a mistake is one line on stderr and exit code 2, Ctrl-C exit code 130."""
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, OSError) as err:
        print(f"convscope {args.command}: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"convscope {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
