"""The training loop: mini-batches, a progress bar, and checkpoints that never lose work.

A checkpoint is one safetensors file holding the weights, the optimizer state and, as metadata,
the position in training (epoch and batch), the history and every random state, so a resumed run
reaches exactly the weights an uninterrupted one would.
"""
from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io, optim, random
from .analysis.memory import require_fits
from .data.standard import rows
from .nn.loss import CrossEntropyLoss
from .tensor import Tensor, no_grad


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the last good checkpoint is left as it was."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training between two batches; carries where (epoch and batch, from 1) and the
    history of the finished epochs, so the caller can keep the weights reached so far."""

    def __init__(self, message: str, epoch: int, batch: int, history: "History"):
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history


@dataclass
class History:
    """Per-epoch metrics: loss, accuracy, val_loss, val_accuracy, seconds, samples_per_s."""
    epochs: list = field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    def __len__(self):
        return len(self.epochs)

    def to_dict(self) -> dict:
        return {"epochs": list(self.epochs)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def __rich__(self):
        """The epochs as a table (what `convscope train` prints, whichever engine trained)."""
        from rich.table import Table

        table = Table("epoch", "loss", "accuracy", "test loss", "test accuracy", "seconds", "samples/s")
        for e in self.epochs:
            table.add_row(str(e["epoch"]), f"{e['loss']:.4f}", f"{e['accuracy']:.2%}", f"{e['val_loss']:.4f}",
                          f"{e['val_accuracy']:.2%}", f"{e['seconds']:.2f}", f"{e['samples_per_s']:,.0f}")
        return table


def predict(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs (logits) for x, in batches, in eval mode, without a graph."""
    x = rows(x)
    if len(x):
        require_fits(model, x.shape[1:], min(batch_size, len(x)), training=False, what=_name(model))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([model(Tensor(x[i:i + batch_size])).data for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def evaluate(model, x, y, batch_size: int = 256, loss_fn=None) -> tuple[float, float]:
    """(mean loss, accuracy) of a classifier on (x, y), in eval mode, without a graph."""
    logits = predict(model, x, batch_size)
    loss = (loss_fn or CrossEntropyLoss())(Tensor(logits), y).item()
    return loss, float((logits.argmax(axis=1) == y).mean())


@dataclass
class _Position:
    """Where training stands, with what is needed to replay the current epoch's batches."""
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the current epoch done
    epoch_rng: dict | None = None  # shuffle generator state at the start of the current epoch
    sums: tuple = (0.0, 0, 0, 0.0)  # loss sum, correct, seen, seconds so far in the epoch


def _checkpoint_write(path, model, opt, history: History, pos: _Position, shuffle: np.random.Generator):
    arrays = {f"{io.MODEL_PREFIX}{k}": v for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    arrays.update({f"optim.{k}": v for k, v in opt_state["arrays"].items()})
    meta = io.json_meta(epoch=pos.epoch, batch=pos.batch, epoch_rng=pos.epoch_rng, sums=list(pos.sums),
                        history=history.to_dict(), optimizer={"name": type(opt).__name__.lower(),
                                                              "steps": opt_state["steps"]},
                        shuffle_rng=shuffle.bit_generator.state, global_rng=random.get_state())
    io.write_tensors(path, arrays, {"kind": "checkpoint", **meta})


def _checkpoint_read(path, model, opt, shuffle: np.random.Generator):
    arrays, meta = io.read_tensors(path, "checkpoint")
    try:
        m = {k: json.loads(v) for k, v in meta.items() if k not in ("format", "kind")}
        model.load_state_dict(io.checkpoint_weights(arrays))
        if m["optimizer"]["name"] != type(opt).__name__.lower():
            raise ValueError(f"it was written by {m['optimizer']['name']}, this run uses {type(opt).__name__}")
        opt.load_state_dict({"arrays": {k[6:]: v for k, v in arrays.items() if k.startswith("optim.")},
                             "steps": m["optimizer"]["steps"]})
        shuffle.bit_generator.state = m["shuffle_rng"]
        random.set_state(m["global_rng"])
        pos = _Position(m["epoch"], m["batch"], m["epoch_rng"], tuple(m["sums"]))
        return History(m["history"]["epochs"]), pos
    except (KeyError, TypeError, json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{path}: cannot resume from this checkpoint: {err}") from None


def checkpoint_position(path) -> dict:
    """Where a checkpoint resumes: {"epoch": e, "batch": b} with e the epoch it continues (from 1) and
    b the batches of it already done (0 at an epoch boundary)."""
    _, meta = io.read_tensors(path, "checkpoint")
    try:
        return {"epoch": json.loads(meta["epoch"]) + 1, "batch": json.loads(meta["batch"])}
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot resume from this checkpoint: no position ({err})") from None


@contextlib.contextmanager
def interrupt_flag(signals=(signal.SIGINT,)):
    """Turn these signals (Ctrl-C by default) into a flag the loop checks between batches (main
    thread only: elsewhere signals cannot be handled, and the flag stays unset)."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in signals}
    for s in previous:
        signal.signal(s, lambda *_: flag.update(set=True))
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def fit(model, train, val=None, *, epochs: int, lr: float = 1e-3, batch_size: int = 64, optimizer="adam",
        loss=None, checkpoint=None, resume: bool = False, seed: int = 0, quiet: bool = False,
        weight_decay: float = 0.0) -> History:
    """Train a classifier on (x, y) with mini-batches; return the per-epoch History.

    Args:
        train, val: (x, y) arrays; val is evaluated after every epoch.
        optimizer: "adam", "sgd" (momentum 0.9) or an `optim.Optimizer` instance.
        checkpoint: path of a .safetensors checkpoint written (atomically) after every epoch and on
            Ctrl-C; with `resume=True` training continues from it.
        seed: makes initialisation-independent randomness (shuffling, dropout) repeatable.
    Raises:
        TrainingDiverged: the loss became NaN/inf (names epoch and batch; the checkpoint is kept).
        TrainingInterrupted: a KeyboardInterrupt after Ctrl-C, once the checkpoint is saved.
    """
    x, y = rows(train[0]), np.asarray(train[1])
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"fit: {len(x)} inputs but {len(y)} targets")
    for name, value, least in (("epochs", epochs, 0), ("batch_size", batch_size, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"fit: {name} must be an int >= {least}, got {value!r}")
    loss_fn = loss or CrossEntropyLoss()
    opt = _optimizer(optimizer, model, lr, weight_decay)
    require_fits(model, x.shape[1:], min(batch_size, len(x)), training=True, what=_name(model),
                 optimizer_states=2 if isinstance(opt, optim.Adam) else int(bool(opt.settings.get("momentum"))))
    random.manual_seed(seed)
    shuffle = np.random.default_rng(seed)
    history, pos = History(), _Position()
    if resume and checkpoint and Path(checkpoint).exists():
        history, pos = _checkpoint_read(checkpoint, model, opt, shuffle)
    n_batches = math.ceil(len(x) / batch_size)
    # overflow on the way to a NaN loss is reported once, as TrainingDiverged, not as NumPy warnings
    with interrupt_flag() as interrupted, _progress(quiet) as bar, \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while pos.epoch < epochs:
            if pos.epoch_rng is None:
                pos.epoch_rng = shuffle.bit_generator.state
            replay = np.random.default_rng()
            replay.bit_generator.state = pos.epoch_rng
            order = replay.permutation(len(x))
            shuffle.bit_generator.state = replay.bit_generator.state
            task = bar.add_task(f"epoch {pos.epoch + 1}/{epochs}", total=n_batches, completed=pos.batch, loss=math.nan,
                                rate=0.0) if bar else None
            loss_sum, correct, seen, seconds = pos.sums
            model.train()
            for b in range(pos.batch, n_batches):
                t0 = time.perf_counter()
                idx = order[b * batch_size:(b + 1) * batch_size]
                logits = model(Tensor(x[idx]))
                batch_loss = loss_fn(logits, y[idx])
                value = batch_loss.item()
                if not math.isfinite(value):
                    kept = f"; the last good checkpoint {checkpoint} is kept" if checkpoint else ""
                    raise TrainingDiverged(f"fit: loss is {value} at epoch {pos.epoch + 1}, batch {b + 1} of "
                                           f"{n_batches} (try a smaller lr than {opt.lr}){kept}")
                opt.zero_grad()
                batch_loss.backward()
                opt.step()
                loss_sum += value * len(idx)
                correct += int((logits.data.argmax(axis=1) == y[idx]).sum())
                seen += len(idx)
                seconds += time.perf_counter() - t0
                if bar:
                    bar.update(task, advance=1, loss=loss_sum / seen, rate=seen / max(seconds, 1e-9))
                if interrupted["set"]:
                    pos.batch, pos.sums = b + 1, (loss_sum, correct, seen, seconds)
                    if checkpoint:
                        _checkpoint_write(checkpoint, model, opt, history, pos, shuffle)
                    raise TrainingInterrupted(f"training interrupted at epoch {pos.epoch + 1}, batch {b + 1}"
                                              + (f"; checkpoint saved to {checkpoint}" if checkpoint else ""),
                                              pos.epoch + 1, b + 1, history)
            record = {"epoch": pos.epoch + 1, "loss": loss_sum / seen, "accuracy": correct / seen,
                      "seconds": seconds, "samples_per_s": seen / max(seconds, 1e-9)}
            if val is not None:
                record["val_loss"], record["val_accuracy"] = evaluate(model, *val, loss_fn=loss_fn)
                if not math.isfinite(record["val_loss"]):
                    raise TrainingDiverged(f"fit: the test loss is {record['val_loss']} after epoch {pos.epoch + 1} "
                                           f"(try a smaller lr than {opt.lr}); the last checkpoint is kept")
            history.epochs.append(record)
            pos = _Position(pos.epoch + 1)
            if checkpoint:
                _checkpoint_write(checkpoint, model, opt, history, pos, shuffle)
    return history


def _name(model) -> str:
    return f"model {getattr(model, 'name', None) or type(model).__name__!r}"


def _optimizer(spec, model, lr, weight_decay):
    if isinstance(spec, optim.Optimizer):
        return spec
    if spec == "adam":
        return optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if spec == "sgd":
        return optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"fit: optimizer {spec!r} is not 'adam', 'sgd' or an Optimizer")


@contextlib.contextmanager
def _progress(quiet: bool):
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[rate]:.0f} samples/s"),
               TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        yield bar


# The checkpoint format and the loop's parts, public so that other engines (convscope.scale) write
# and read the very same checkpoints and show the same progress bar.
Position = _Position
write_checkpoint, read_checkpoint = _checkpoint_write, _checkpoint_read
make_optimizer, progress = _optimizer, _progress
