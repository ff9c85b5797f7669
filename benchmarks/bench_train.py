"""Training speed, convscope vs PyTorch: an epoch of the LeNet of examples/lenet_digits.yaml on digits
(batch 64), and one step of ResNet-18 with a CIFAR-style stem (3x3 stem conv, no max pool) on 32x32
inputs, batch 32 (forward, backward and Adam).

Same model, weights, batches, optimizer and threads; runs are interleaved (convscope, PyTorch, ...)
and each side keeps its best. Prints the times and the ratio.
"""
from __future__ import annotations

import sys

from common import emit, environment, interleaved, machine_header

environment()  # before NumPy and torch load: see common.py

import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import convscope as cs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = "<= 1.3x"


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


def lenet(rounds: int = 5):
    x, y, _, _ = cs.data.digits()
    ours = cs.load_model(ROOT / "examples" / "lenet_digits.yaml")
    theirs = torch_lenet()
    ours.load_state_dict(dict(zip(ours.state_dict(), (v.numpy() for v in theirs.state_dict().values()))))
    opt_a, opt_b = cs.optim.Adam(ours.parameters(), lr=1e-3), torch.optim.Adam(theirs.parameters(), lr=1e-3)
    xt, yt = torch.tensor(x), torch.tensor(y)
    best = interleaved([lambda: epoch_ours(ours, opt_a, x, y, 64), lambda: epoch_torch(theirs, opt_b, xt, yt, 64)],
                       rounds)
    a, b = len(x) / best[0], len(x) / best[1]
    print(f"LeNet on digits (N={len(x)}, batch 64, Adam), threads: torch {torch.get_num_threads()}")
    print(f"convscope {a:,.0f} samples/s   PyTorch {b:,.0f} samples/s   PyTorch/convscope time ratio {b / a:.2f}")
    emit("training", f"LeNet digits, epoch of {len(x)} (batch 64)", best[0] * 1e3, best[1] * 1e3, TARGET)


def cifar_resnet18():
    """torchvision's ResNet-18 for 32x32 inputs: a 3x3 stride-1 stem and no max pool, 10 classes."""
    sys.path.insert(0, str(ROOT))
    from tests.bridges.torchvision_models import builders

    torch.manual_seed(0)
    model = builders()[0].resnet18(weights=None, num_classes=10)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model.train()


def resnet18_step(rounds: int = 3, batch: int = 32):
    theirs = cifar_resnet18()
    ours = cs.from_torch(theirs).train()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32), np.arange(batch) % 10
    xt, yt = torch.tensor(x), torch.tensor(y)
    opt_a, opt_b = cs.optim.Adam(ours.parameters(), lr=1e-3), torch.optim.Adam(theirs.parameters(), lr=1e-3)
    best = interleaved([lambda: epoch_ours(ours, opt_a, x, y, batch), lambda: epoch_torch(theirs, opt_b, xt, yt, batch)],
                       rounds)
    print(f"ResNet-18 (CIFAR stem) step, batch {batch}, 32x32, Adam: convscope {best[0] * 1e3:.0f} ms   "
          f"PyTorch {best[1] * 1e3:.0f} ms   ratio {best[0] / best[1]:.2f}")
    emit("training", f"ResNet-18 CIFAR-style step (batch {batch}, 32x32)", best[0] * 1e3, best[1] * 1e3, TARGET)


def main():
    print(machine_header())
    lenet()
    resnet18_step()


if __name__ == "__main__":
    main()
