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
    import json
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from . import data, fit, load_model, manual_seed, save

    manual_seed(args.seed)
    model = load_model(args.model)
    x_train, y_train, x_test, y_test = data.DATASETS[args.data]()
    out = Path(args.out) / model.name
    console = Console()
    console.print(f"training {model.name} on {args.data}: {len(x_train)} train / {len(x_test)} test samples, "
                  f"{sum(p.data.size for p in model.parameters()):,} parameters")
    try:
        history = fit(model, (x_train, y_train), (x_test, y_test), epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed,
                      checkpoint=out / "checkpoint.safetensors", resume=args.resume, quiet=args.quiet)
    except KeyboardInterrupt as stop:
        console.print(f"[yellow]{stop}[/yellow]; rerun with --resume to continue")
        return 130
    table = Table("epoch", "loss", "accuracy", "test loss", "test accuracy", "seconds", "samples/s")
    for e in history.epochs:
        table.add_row(str(e["epoch"]), f"{e['loss']:.4f}", f"{e['accuracy']:.2%}", f"{e['val_loss']:.4f}",
                      f"{e['val_accuracy']:.2%}", f"{e['seconds']:.2f}", f"{e['samples_per_s']:,.0f}")
    console.print(table)
    save(model, out / "model.safetensors")
    (out / "history.json").write_text(history.to_json())
    console.print(f"saved {out / 'model.safetensors'} and {out / 'history.json'}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="convscope", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("matrix", help="the lecture's 4x4 / 3x3 convolution-as-matrix example (the default)")
    t = sub.add_parser("train", help="train a YAML model file on a bundled data set")
    t.add_argument("model", help="a model file, e.g. examples/lenet_digits.yaml")
    t.add_argument("--data", default="digits", choices=["digits", "mnist1d", "translated_digits"])
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs", help="folder for runs/<model name>/ (default: runs)")
    t.add_argument("--resume", action="store_true", help="continue from runs/<name>/checkpoint.safetensors")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.command in (None, "matrix"):
        return show_matrix_example()
    try:
        return train(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"convscope train: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
