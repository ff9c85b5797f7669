"""The PyTorch engine of `cs.fit`: its steps run on PyTorch, on a GPU or on many processes with
DistributedDataParallel; the loop (batches, seeds, history, checkpoints, Ctrl-C) is `cs.fit`'s own.

The model stays a convscope model: it goes to PyTorch with `to_torch` and its weights come back
before every checkpoint, which the loop writes in the library's one format, so either engine
resumes it. With several processes each global batch (the one the loop takes) is cut into one
contiguous shard per rank; each rank's loss is its shard's sum times world / batch, so DDP's
gradient average is exactly the gradient of the global batch mean, even for a short last batch.
"""
from __future__ import annotations

import signal

import numpy as np

from ..train import History, fit
from . import optimizers, processes


def fit_torch(model, train, val=None, *, device: str = "cpu", timeout: float = 60.0, **kwargs) -> History:
    """Train a convscope classifier with PyTorch; its weights are updated in place. Returns the History.

    Takes `cs.fit`'s arguments (but not `loss`: the loss is cross-entropy) plus `device` ("cpu" or
    "cuda"). Under torchrun (or `--nproc`), every process calls it with the same arguments; rank 0
    shows progress and writes the checkpoint, and collectives give up after `timeout` seconds. Ctrl-C
    or SIGTERM on any rank stops all ranks after the same batch, with one checkpoint saved; then
    `TrainingInterrupted` (a KeyboardInterrupt) is raised on every rank.
    """
    return fit(model, train, val, engine=TorchEngine(device, timeout), **kwargs)


def shard(idx: np.ndarray, rank: int, world: int) -> np.ndarray:
    """Rank `rank`'s contiguous part of a global batch (sizes differ by at most one)."""
    return np.array_split(idx, world)[rank]


def shard_weight(batch: int, world: int) -> float:
    """What a rank multiplies its shard's loss sum by: DDP averages the world's gradients, so
    (1/world) * sum_r world/batch * grad(sum over shard r) = grad(mean over the global batch)."""
    return world / batch


class TorchEngine:
    """Runs `cs.fit`'s steps on PyTorch: this rank's shard of each batch, evaluation, and the weights
    and optimizer state going back to the convscope model (the interface is `train.NumpyEngine`'s)."""
    name = "fit_torch"
    signals = (signal.SIGINT, signal.SIGTERM)  # torchrun and the launcher stop workers with SIGTERM

    def __init__(self, device: str = "cpu", timeout: float = 60.0):
        self.device, self.timeout = device, timeout

    @property
    def lead(self) -> bool:
        return self.group.rank == 0

    def prepare(self, model, opt, x, batch_size: int, loss) -> None:
        self.torch = processes.require_torch()
        if loss is not None:
            raise TypeError(f"fit_torch: the PyTorch engine trains with cross-entropy; got loss={loss!r}")
        self.group = processes.join(self.device, self.timeout)

    def start(self, model, opt, x, y, seed: int) -> None:
        from ..bridges import to_torch

        torch = self.torch
        # dropout: one stream per rank (seeded before to_torch, which draws from it)
        torch.manual_seed(int(np.random.SeedSequence([seed, self.group.rank]).generate_state(1)[0]))
        self.model, self.opt, self.x, self.y = model, opt, x, y
        self.net = to_torch(model).to(self.group.device)
        name_of = {id(p): name for name, p in model.named_parameters()}
        by_name = dict(self.net.named_parameters())
        self.params = [by_name[name_of[id(p)]] for p in opt.params]  # the torch twin of each optimized parameter
        self.topt = optimizers.torch_optimizer(opt, self.params)
        self.ddp = torch.nn.parallel.DistributedDataParallel(self.net) if self.group.world > 1 else self.net
        self.steps = opt.steps
        self.net.train()

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

    def step(self, idx: np.ndarray, stop: dict) -> tuple[float, int, bool]:
        """One optimizer step on the global batch `idx`: (loss sum, correct, any rank asked to stop)."""
        F = self.torch.nn.functional
        xb, yb = self._tensors(self.x, self.y, shard(idx, self.group.rank, self.group.world))
        logits = self.ddp(xb)
        losses = F.cross_entropy(logits, yb, reduction="none")
        self.topt.zero_grad()
        (losses.sum() * shard_weight(len(idx), self.group.world)).backward()
        self.topt.step()
        self.steps += 1
        total, right, stops = self._sum(float(losses.detach().sum()), float((logits.argmax(1) == yb).sum()),
                                        float(stop["set"]))
        return total, int(right), stops > 0

    def evaluate(self, x, y, batch_size: int = 256) -> tuple[float, float]:
        """(mean loss, accuracy) on (x, y), each rank taking its share of the samples."""
        F = self.torch.nn.functional
        mine = shard(np.arange(len(x)), self.group.rank, self.group.world)
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

    def sync(self) -> None:
        """Copy the torch weights and optimizer state into the convscope model and optimizer."""
        own = self.model.state_dict()
        self.model.load_state_dict({k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()
                                    if k in own})
        optimizers.copy_state_back(self.topt, self.params, self.opt, self.steps)

    def barrier(self) -> None:
        if self.group.world > 1:
            self.torch.distributed.barrier()  # nobody leaves before the checkpoint is on disk
