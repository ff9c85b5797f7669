"""`fit` on PyTorch: the same batches, optimizer, seeds, history and checkpoints as `cs.fit`, on a
GPU or on many processes with DistributedDataParallel.

The model stays a convscope model: it goes to PyTorch with `to_torch` and its weights come back
after every epoch, so checkpoints are written by the library's own `write_checkpoint` and either
engine resumes them. With several processes each global batch (the one `cs.fit` would take) is cut
into one contiguous shard per rank; each rank's loss is its shard's sum times world / batch, so
DDP's gradient average is exactly the gradient of the global batch mean, even for a short last batch.
"""
from __future__ import annotations

import math
import signal
import time
from pathlib import Path

import numpy as np

from .. import random
from ..train import (History, Position, TrainingDiverged, interrupt_flag, make_optimizer, progress,
                     read_checkpoint, write_checkpoint)
from . import optimizers, processes


def fit_torch(model, train, val=None, *, epochs: int, lr: float = 1e-3, batch_size: int = 64, optimizer="adam",
              checkpoint=None, resume: bool = False, seed: int = 0, quiet: bool = False, weight_decay: float = 0.0,
              device: str = "cpu", timeout: float = 60.0) -> History:
    """Train a convscope classifier with PyTorch; its weights are updated in place. Returns the History.

    Takes `cs.fit`'s arguments plus `device` ("cpu" or "cuda"). Under torchrun (or `--nproc`), every
    process calls it with the same arguments; rank 0 shows progress and writes the checkpoint, and
    collectives give up after `timeout` seconds. Ctrl-C or SIGTERM on any rank stops all ranks after
    the same batch, with one checkpoint saved; then KeyboardInterrupt is raised on every rank.
    """
    torch = processes.require_torch()
    from ..bridges import to_torch

    x, y = train
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"fit_torch: {len(x)} inputs but {len(y)} targets")
    group = processes.join(device, timeout)
    opt = make_optimizer(optimizer, model, lr, weight_decay)
    random.manual_seed(seed)
    torch.manual_seed(int(np.random.SeedSequence([seed, group.rank]).generate_state(1)[0]))  # dropout: one stream per rank
    shuffle = np.random.default_rng(seed)
    history, pos = History(), Position()
    if resume and checkpoint and Path(checkpoint).exists():
        history, pos = read_checkpoint(checkpoint, model, opt, shuffle)
    net = to_torch(model).to(group.device)
    name_of = {id(p): name for name, p in model.named_parameters()}
    by_name = dict(net.named_parameters())
    params = [by_name[name_of[id(p)]] for p in opt.params]  # the torch twin of each optimized parameter
    topt = optimizers.torch_optimizer(opt, params)
    ddp = torch.nn.parallel.DistributedDataParallel(net) if group.world > 1 else net
    run = _Run(torch, model, net, ddp, opt, topt, params, group, checkpoint, shuffle)
    steps = opt.steps
    n_batches = math.ceil(len(x) / batch_size)
    with interrupt_flag((signal.SIGINT, signal.SIGTERM)) as stop, progress(quiet or group.rank != 0) as bar:
        while pos.epoch < epochs:
            order = _epoch_order(pos, shuffle, len(x))
            task = bar.add_task(f"epoch {pos.epoch + 1}/{epochs}", total=n_batches, completed=pos.batch,
                                loss=math.nan, rate=0.0) if bar else None
            loss_sum, correct, seen, seconds = pos.sums
            net.train()
            for b in range(pos.batch, n_batches):
                t0 = time.perf_counter()
                idx = order[b * batch_size:(b + 1) * batch_size]
                value, right, wanted = run.step(x, y, idx, stop["set"])
                steps += 1
                if not math.isfinite(value):
                    kept = f"; the last good checkpoint {checkpoint} is kept" if checkpoint else ""
                    raise TrainingDiverged(f"fit_torch: loss is {value} at epoch {pos.epoch + 1}, batch {b + 1} "
                                           f"of {n_batches} (try a smaller lr than {opt.lr}){kept}")
                loss_sum += value
                correct += right
                seen += len(idx)
                seconds += time.perf_counter() - t0
                if bar:
                    bar.update(task, advance=1, loss=loss_sum / seen, rate=seen / max(seconds, 1e-9))
                if wanted:
                    pos.batch, pos.sums = b + 1, (loss_sum, correct, seen, seconds)
                    run.save(history, pos, steps)
                    raise KeyboardInterrupt(f"training interrupted at epoch {pos.epoch + 1}, batch {b + 1}"
                                            + (f"; checkpoint saved to {checkpoint}" if checkpoint else ""))
            record = {"epoch": pos.epoch + 1, "loss": loss_sum / seen, "accuracy": correct / seen,
                      "seconds": seconds, "samples_per_s": seen / max(seconds, 1e-9)}
            if val is not None:
                record["val_loss"], record["val_accuracy"] = run.evaluate(*val)
            history.epochs.append(record)
            pos = Position(pos.epoch + 1)
            run.save(history, pos, steps)
    run.weights_back(steps)
    return history


def _epoch_order(pos, shuffle, n: int) -> np.ndarray:
    """The epoch's permutation, replayed from the generator state at its start (as `cs.fit` does)."""
    if pos.epoch_rng is None:
        pos.epoch_rng = shuffle.bit_generator.state
    replay = np.random.default_rng()
    replay.bit_generator.state = pos.epoch_rng
    order = replay.permutation(n)
    shuffle.bit_generator.state = replay.bit_generator.state
    return order


def shard(idx: np.ndarray, rank: int, world: int) -> np.ndarray:
    """Rank `rank`'s contiguous part of a global batch (sizes differ by at most one)."""
    return np.array_split(idx, world)[rank]


def shard_weight(batch: int, world: int) -> float:
    """What a rank multiplies its shard's loss sum by: DDP averages the world's gradients, so
    (1/world) * sum_r world/batch * grad(sum over shard r) = grad(mean over the global batch)."""
    return world / batch


class _Run:
    """The torch side of one training run: a step on this rank's shard, evaluation, checkpoints."""

    def __init__(self, torch, model, net, ddp, opt, topt, params, group, checkpoint, shuffle):
        self.torch, self.model, self.net, self.ddp, self.opt, self.topt = torch, model, net, ddp, opt, topt
        self.params, self.group, self.checkpoint, self.shuffle = params, group, checkpoint, shuffle

    def _shard(self, idx):
        return shard(idx, self.group.rank, self.group.world)

    def _tensors(self, x, y, idx):
        torch, dev = self.torch, self.group.device
        xb = torch.from_numpy(np.ascontiguousarray(x[idx], dtype=np.float32)).to(dev)
        return xb, torch.from_numpy(np.asarray(y[idx], dtype=np.int64)).to(dev)

    def _sum(self, *values) -> list:
        """Values summed over all ranks (one all-reduce)."""
        t = self.torch.tensor(values, dtype=self.torch.float64, device=self.group.device)
        if self.group.world > 1:
            self.torch.distributed.all_reduce(t)
        return t.tolist()

    def step(self, x, y, idx, stop: bool) -> tuple:
        """One optimizer step on the global batch `idx`: (loss sum, correct, any rank asked to stop)."""
        F = self.torch.nn.functional
        xb, yb = self._tensors(x, y, self._shard(idx))
        logits = self.ddp(xb)
        losses = F.cross_entropy(logits, yb, reduction="none")
        self.topt.zero_grad(set_to_none=True)
        (losses.sum() * shard_weight(len(idx), self.group.world)).backward()
        self.topt.step()
        total, right, stops = self._sum(float(losses.detach().sum()), float((logits.argmax(1) == yb).sum()),
                                        float(stop))
        return total, int(right), stops > 0

    def evaluate(self, x, y, batch_size: int = 256) -> tuple[float, float]:
        """(mean loss, accuracy) on (x, y), each rank taking its share of the samples."""
        F = self.torch.nn.functional
        mine = self._shard(np.arange(len(x)))
        loss = right = 0.0
        self.net.eval()
        with self.torch.no_grad():
            for i in range(0, len(mine), batch_size):
                xb, yb = self._tensors(x, y, mine[i:i + batch_size])
                logits = self.net(xb)
                loss += float(F.cross_entropy(logits, yb, reduction="sum"))
                right += float((logits.argmax(1) == yb).sum())
        self.net.train()
        loss, right = self._sum(loss, right)
        return loss / len(x), right / len(x)

    def weights_back(self, steps: int) -> None:
        """Copy the torch weights and optimizer state into the convscope model and optimizer."""
        own = self.model.state_dict()
        self.model.load_state_dict({k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()
                                    if k in own})
        optimizers.copy_state_back(self.topt, self.params, self.opt, steps)

    def save(self, history, pos, steps: int) -> None:
        if not self.checkpoint:
            return
        if self.group.rank == 0:
            self.weights_back(steps)
            write_checkpoint(self.checkpoint, self.model, self.opt, history, pos, self.shuffle)
        if self.group.world > 1:
            self.torch.distributed.barrier()  # nobody leaves before the checkpoint is on disk
