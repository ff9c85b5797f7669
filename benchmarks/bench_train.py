"""Training speed: the LeNet of examples/lenet_digits.yaml on digits, convscope vs PyTorch.

Same model, weights, batches (64), optimizer (Adam) and threads; epochs are interleaved
(convscope, PyTorch, ...) and each side keeps its best epoch. Prints samples/s and the ratio.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_ops.py: no spinning threads between libraries
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import pathlib  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

import convscope as cs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def torch_lenet():
    t = torch.nn
    return t.Sequential(t.Conv2d(1, 16, 3, padding=1), t.ReLU(), t.MaxPool2d(2), t.Conv2d(16, 32, 3, padding=1),
                        t.ReLU(), t.MaxPool2d(2), t.Flatten(), t.Linear(128, 64), t.ReLU(), t.Linear(64, 10))


def epoch_ours(model, opt, x, y, bs):
    loss_fn = cs.nn.CrossEntropyLoss()
    for i in range(0, len(x), bs):
        loss = loss_fn(model(cs.Tensor(x[i:i + bs])), y[i:i + bs])
        opt.zero_grad()
        loss.backward()
        opt.step()


def epoch_torch(model, opt, x, y, bs):
    loss_fn = torch.nn.CrossEntropyLoss()
    for i in range(0, len(x), bs):
        loss = loss_fn(model(x[i:i + bs]), y[i:i + bs])
        opt.zero_grad()
        loss.backward()
        opt.step()


def main(rounds: int = 5):
    x, y, _, _ = cs.data.digits()
    ours = cs.load_model(ROOT / "examples" / "lenet_digits.yaml")
    theirs = torch_lenet()
    ours.load_state_dict(dict(zip(ours.state_dict(), (v.numpy() for v in theirs.state_dict().values()))))
    opt_a, opt_b = cs.optim.Adam(ours.parameters(), lr=1e-3), torch.optim.Adam(theirs.parameters(), lr=1e-3)
    xt, yt = torch.tensor(x), torch.tensor(y)
    runs = [lambda: epoch_ours(ours, opt_a, x, y, 64), lambda: epoch_torch(theirs, opt_b, xt, yt, 64)]
    best = [float("inf")] * 2
    for r in range(rounds + 1):
        for i, run in enumerate(runs):
            t0 = time.perf_counter()
            run()
            if r:  # round 0 is the warm-up
                best[i] = min(best[i], time.perf_counter() - t0)
    a, b = len(x) / best[0], len(x) / best[1]
    print(f"LeNet on digits (N={len(x)}, batch 64, Adam), threads: torch {torch.get_num_threads()}")
    print(f"convscope {a:,.0f} samples/s   PyTorch {b:,.0f} samples/s   PyTorch/convscope time ratio {b / a:.2f}")


if __name__ == "__main__":
    main()
