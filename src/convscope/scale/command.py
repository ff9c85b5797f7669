"""`convscope train` with `--engine torch`, `--nproc N` or `--data DIR|FILE.npz`: the command's edge
(it prints), calling `fit` with the chosen engine and writing the run folder from rank 0."""
from __future__ import annotations

import os
import sys

from . import processes

_OPTIONS = ("data", "epochs", "lr", "batch_size", "optimizer", "seed", "out", "engine", "device", "timeout")


def train(args) -> int:
    if args.nproc < 1 or not args.timeout > 0:
        raise ValueError(f"--nproc {args.nproc} must be at least 1 and --timeout {args.timeout} above 0 seconds")
    if args.nproc > 1 and "RANK" not in os.environ:
        if args.engine != "torch":
            raise ValueError(f"--nproc {args.nproc} trains with DistributedDataParallel: add --engine torch")
        processes.require_torch()
        _check_inputs(args)
        return processes.spawn(_worker_argv(args), args.nproc, report=lambda line: print(f"convscope train: {line}",
                                                                                          file=sys.stderr))
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return _train(args, rank)
    try:
        return _train(args, rank)
    except Exception as err:  # a rank's failure is reported with its rank; the launcher stops the others
        print(f"convscope train: rank {rank} of {world} failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    finally:
        if args.engine == "torch":
            processes.leave()


def _check_inputs(args) -> None:
    """Read the model file and the data once before starting workers: a bad file is one line, not N,
    and an image folder is decoded into its cache once, then memory-mapped by every worker."""
    from ..data import load_data
    from ..model_files import resolve_model

    load_data(args.data, getattr(resolve_model(args.model), "input_shape", None))


def _worker_argv(args) -> list:
    argv = ["train", str(args.model)]
    for name in _OPTIONS:
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return argv + [f"--{flag}" for flag in ("resume", "overwrite", "quiet") if getattr(args, flag)]


def _train(args, rank: int) -> int:
    from rich.console import Console

    from .. import fit, manual_seed
    from ..data import load_data
    from ..model_files import resolve_model
    from ..model_files.runs import CHECKPOINT, check_new_run, run_dir, write_run

    if args.engine == "torch":
        processes.require_torch()
    if args.engine == "numpy" and args.device != "cpu":
        raise ValueError(f"--device {args.device}: the NumPy engine runs on the CPU; add --engine torch")
    manual_seed(args.seed)
    model = resolve_model(args.model)
    x_train, y_train, x_test, y_test = load_data(args.data, getattr(model, "input_shape", None))
    out = run_dir(args.out, model.name)
    check_new_run(out, args.resume, args.overwrite)
    console = Console(quiet=rank != 0)
    world = int(os.environ.get("WORLD_SIZE", 1))
    console.print(f"training {model.name} on {args.data} with the {args.engine} engine"
                  + (f" on {args.device}" if args.engine == "torch" else "") + (f", {world} processes" if world > 1 else "")
                  + f": {len(x_train)} train / {len(x_test)} test samples, "
                  f"{sum(p.data.size for p in model.parameters()):,} parameters")
    engine = None
    if args.engine == "torch":
        from .torch_fit import TorchEngine

        engine = TorchEngine(args.device, args.timeout)
    try:
        history = fit(model, (x_train, y_train), (x_test, y_test), epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed,
                      checkpoint=out / CHECKPOINT, resume=args.resume, quiet=args.quiet, engine=engine)
    except KeyboardInterrupt as stop:
        console.print(f"[yellow]{stop}[/yellow]; rerun with --resume to continue")
        return 130
    if rank == 0:
        console.print(history)
        write_run(out, model, history, {"model": model.name, "data": str(args.data), "epochs": args.epochs,
                                        "engine": args.engine, "device": args.device, "processes": world})
        console.print(f"saved {out / 'model.safetensors'} and {out / 'history.json'}")
    return 0
