"""The training loop: mini-batches in a seeded order, a progress bar, the history, and checkpoints
that never lose work (Ctrl-C saves one; a resumed run reaches exactly the weights an uninterrupted
one would). It is the one loop of both engines: an engine (`NumpyEngine` here, the PyTorch one in
`convscope.scale`) only runs the steps; the checkpoint format is `checkpoints`'.
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

from . import checkpoints, optim, random
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


class NumpyEngine:
    """What runs the steps of `fit` on convscope's own tensors: the default engine, and the interface
    every engine implements (`convscope.scale.TorchEngine` is the other one).

    The loop is `fit`'s alone (epoch order, batches, progress, history, checkpoints, Ctrl-C, resume,
    divergence checks); an engine only runs steps. `fit` calls `prepare` before any random number is
    drawn, `start` once a resumed checkpoint is in the model and optimizer, `step` per batch and
    `evaluate` per epoch, and before every checkpoint `sync`, then `barrier` once it is written.
    """
    name = "fit"  # how messages name the training function
    signals = (signal.SIGINT,)  # what stops training after the current batch, with a checkpoint
    lead = True  # this process shows the progress bar and writes checkpoints

    def prepare(self, model, opt, x, batch_size: int, loss) -> None:
        """Refuse what cannot train (here: a batch that cannot fit in memory, decided from shapes)."""
        self.loss_fn = loss or CrossEntropyLoss()
        require_fits(model, np.shape(x)[1:], min(batch_size, len(x)), training=True, what=_name(model),
                     optimizer_states=opt.kept_states())

    def start(self, model, opt, x, y, seed: int) -> None:
        """Set up the steps on the training data, from the model's and optimizer's current state."""
        # x may be memory-mapped images (`data.Images`): each batch is converted as it is read
        self.model, self.opt, self.x, self.y = model, opt, x, np.asarray(y)
        model.train()

    def step(self, idx: np.ndarray, stop: dict) -> tuple[float, int, bool]:
        """One optimizer step on the samples `idx`: (their loss summed, how many were classified right,
        whether to stop: `stop["set"]` read after the step, the same answer in every process)."""
        logits = self.model(Tensor(self.x[idx]))
        loss = self.loss_fn(logits, self.y[idx])
        value = loss.item()
        if math.isfinite(value):  # a diverged batch leaves the weights of the last good one
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return value * len(idx), int((logits.data.argmax(axis=1) == self.y[idx]).sum()), stop["set"]

    def evaluate(self, x, y) -> tuple[float, float]:
        """(mean loss, accuracy) on (x, y)."""
        return evaluate(self.model, x, y, loss_fn=self.loss_fn)

    def sync(self) -> None:
        """Make the model and optimizer hold the weights and state reached (here they always do)."""

    def barrier(self) -> None:
        """Wait until every process gets here (here there is one)."""


def fit(model, train, val=None, *, epochs: int, lr: float = 1e-3, batch_size: int = 64, optimizer="adam",
        loss=None, checkpoint=None, resume: bool = False, seed: int = 0, quiet: bool = False,
        weight_decay: float = 0.0, engine=None) -> History:
    """Train a classifier on (x, y) with mini-batches; return the per-epoch History.

    Args:
        train, val: (x, y) arrays; val is evaluated after every epoch.
        optimizer: "adam", "sgd" (momentum 0.9) or an `optim.Optimizer` instance.
        checkpoint: path of a .safetensors checkpoint written (atomically) after every epoch and on
            Ctrl-C; with `resume=True` training continues from it.
        seed: makes initialisation-independent randomness (shuffling, dropout) repeatable.
        engine: what runs the steps: None for this library's own (`NumpyEngine`), or
            `convscope.scale.TorchEngine(device)` for PyTorch (see `convscope.scale.fit_torch`).
    Raises:
        TrainingDiverged: the loss became NaN/inf (names epoch and batch; the checkpoint is kept).
        TrainingInterrupted: a KeyboardInterrupt after Ctrl-C, once the checkpoint is saved.
    """
    engine = engine or NumpyEngine()
    x, y = rows(train[0]), np.asarray(train[1])
    _check_sizes(engine.name, x, y, epochs, batch_size)
    opt = _optimizer(optimizer, model, lr, weight_decay, engine.name)
    engine.prepare(model, opt, x, batch_size, loss)
    if loss is None:
        _check_classes(engine.name, model, x, y)
    random.manual_seed(seed)
    shuffle = np.random.default_rng(seed)
    history, pos = History(), checkpoints.Position()
    if resume and checkpoint and Path(checkpoint).exists():
        done, pos = checkpoints.read(checkpoint, model, opt, shuffle)
        history = History(done)
    engine.start(model, opt, x, y, seed)
    run = _Run(engine, model, opt, shuffle, checkpoint, history, len(x), batch_size)
    # overflow on the way to a NaN loss is reported once, as TrainingDiverged, not as NumPy warnings
    with interrupt_flag(engine.signals) as stop, _progress(quiet or not engine.lead) as bar, \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while pos.epoch < epochs:
            record = run.epoch(pos, epochs, stop, bar)
            if val is not None:
                record["val_loss"], record["val_accuracy"] = engine.evaluate(*val)
                if not math.isfinite(record["val_loss"]):
                    raise TrainingDiverged(f"{engine.name}: the test loss is {record['val_loss']} after epoch "
                                           f"{pos.epoch + 1} (try a smaller lr than {opt.lr}); "
                                           "the last checkpoint is kept")
            history.epochs.append(record)
            pos = checkpoints.Position(pos.epoch + 1)
            run.save(pos)
    return history


@dataclass
class _Run:
    """One call of `fit`: what its epochs share."""
    engine: NumpyEngine
    model: object
    opt: optim.Optimizer
    shuffle: np.random.Generator
    checkpoint: object
    history: History
    n_samples: int
    batch_size: int

    @property
    def n_batches(self) -> int:
        return math.ceil(self.n_samples / self.batch_size)

    def epoch(self, pos, epochs: int, stop: dict, bar) -> dict:
        """Train the rest of epoch pos.epoch + 1 (from batch pos.batch) and return its History record."""
        order = self._order(pos)
        task = bar.add_task(f"epoch {pos.epoch + 1}/{epochs}", total=self.n_batches, completed=pos.batch,
                            loss=math.nan, rate=0.0) if bar else None
        loss_sum, correct, seen, seconds = pos.sums
        for b in range(pos.batch, self.n_batches):
            t0 = time.perf_counter()
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch_loss, right, stopping = self.engine.step(idx, stop)
            if not math.isfinite(batch_loss):
                kept = f"; the last good checkpoint {self.checkpoint} is kept" if self.checkpoint else ""
                raise TrainingDiverged(f"{self.engine.name}: loss is {batch_loss} at epoch {pos.epoch + 1}, batch "
                                       f"{b + 1} of {self.n_batches} (try a smaller lr than {self.opt.lr}){kept}")
            loss_sum += batch_loss
            correct += right
            seen += len(idx)
            seconds += time.perf_counter() - t0
            if bar:
                bar.update(task, advance=1, loss=loss_sum / seen, rate=seen / max(seconds, 1e-9))
            if stopping:
                pos.batch, pos.sums = b + 1, (loss_sum, correct, seen, seconds)
                self.save(pos)
                raise TrainingInterrupted(f"training interrupted at epoch {pos.epoch + 1}, batch {b + 1}"
                                          + (f"; checkpoint saved to {self.checkpoint}" if self.checkpoint else ""),
                                          pos.epoch + 1, b + 1, self.history)
        return {"epoch": pos.epoch + 1, "loss": loss_sum / seen, "accuracy": correct / seen,
                "seconds": seconds, "samples_per_s": seen / max(seconds, 1e-9)}

    def _order(self, pos) -> np.ndarray:
        """The epoch's permutation, replayed from the shuffle generator's state at the epoch's start."""
        if pos.epoch_rng is None:
            pos.epoch_rng = self.shuffle.bit_generator.state
        replay = np.random.default_rng()
        replay.bit_generator.state = pos.epoch_rng
        order = replay.permutation(self.n_samples)
        self.shuffle.bit_generator.state = replay.bit_generator.state
        return order

    def save(self, pos) -> None:
        """Bring the engine's weights home and, with a checkpoint path, write it (one process)."""
        self.engine.sync()
        if self.checkpoint:
            if self.engine.lead:
                checkpoints.write(self.checkpoint, self.model, self.opt, self.history.epochs, pos, self.shuffle)
            self.engine.barrier()


def _check_sizes(name: str, x, y, epochs, batch_size) -> None:
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{name}: {len(x)} inputs but {len(y)} targets")
    for what, value, least in (("epochs", epochs, 0), ("batch_size", batch_size, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name}: {what} must be an int >= {least}, got {value!r}")


def _check_classes(name: str, model, x, y) -> None:
    """For the cross-entropy loss: integer targets, and one output per class for each sample (decided
    from shapes alone, before any step, for every engine)."""
    from .analysis import trace

    y = np.asarray(y)
    if y.dtype.kind not in "iu" or y.ndim != 1:
        raise ValueError(f"{name}: the cross-entropy loss takes one integer class per sample, got targets of "
                         f"dtype {y.dtype} and shape {y.shape}")
    out, classes = trace(model, tuple(x.shape[1:])).output.shape, int(y.max()) + 1
    if not scores_classes(out, classes):
        raise ValueError(f"{name}: {_name(model)} gives outputs of shape {'x'.join(map(str, out[1:]))} per sample "
                         f"but the targets have {classes} classes: {CLASS_RULE.format(classes=classes)}")


CLASS_RULE = "the last layer needs at least {classes} outputs"


def scores_classes(out_shape: tuple, classes: int) -> bool:
    """Whether a batch output of shape `out_shape` gives a score to each of `classes` classes (labels
    0 to classes - 1): (N, K) with K >= classes. More scores than labels train as they do in PyTorch's
    cross-entropy: a class no target names is only ever pushed down."""
    return len(out_shape) == 2 and out_shape[1] >= classes


def _name(model) -> str:
    return f"model {getattr(model, 'name', None) or type(model).__name__!r}"


def _optimizer(spec, model, lr, weight_decay, name: str):
    """An Optimizer given as such, or by one of optim.OPTIMIZERS' names."""
    if isinstance(spec, optim.Optimizer):
        return spec
    if not isinstance(spec, str) or spec not in optim.OPTIMIZERS:
        raise ValueError(f"{name}: optimizer {spec!r} is not {', '.join(map(repr, optim.OPTIMIZERS))} or an Optimizer")
    cls, settings = optim.OPTIMIZERS[spec]
    return cls(model.parameters(), lr=lr, weight_decay=weight_decay, **settings)


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
