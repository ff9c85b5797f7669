"""Small models for the explore tests: the LeNet of examples/, a branchy one and a 1-D one."""
from __future__ import annotations

from pathlib import Path

import convscope as cs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def lenet():
    cs.manual_seed(0)
    return cs.load_model(EXAMPLES / "lenet_digits.yaml")


def cnn1d():
    cs.manual_seed(0)
    return cs.load_model(EXAMPLES / "cnn1d_mnist1d.yaml")


def branchy():
    """A residual block whose shortcut is a strided 1x1 conv, then two branches of different kernels
    concatenated: input boxes are unions of paths whose windows differ."""
    nn = cs.nn
    cs.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    return nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, dilation=2), nn.Residual(body, nn.Conv2d(1, 4, 1, stride=2)),
                         nn.Concat(nn.Conv2d(4, 2, 1), nn.Sequential(nn.Conv2d(4, 2, 3, padding=2, dilation=2))),
                         nn.MaxPool2d(2, padding=1), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def conv3d():
    nn = cs.nn
    cs.manual_seed(0)
    return nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2), nn.Flatten(), nn.Linear(16, 3))


def torch_net():
    """A `torch:tests.explore.models:torch_net` factory: a small PyTorch CNN for 1x8x8 inputs."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Conv2d(4, 6, 3, stride=2, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(6 * 2 * 2, 10))


def rules():
    """Every rule the page's unit arithmetic redoes, for 1x8x8 digits: 'same' padding with dilation,
    a strided grouped conv, average pooling counting its padding, a strided dilated max pool, and
    LeakyReLU, Tanh and Sigmoid after them."""
    nn = cs.nn
    cs.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding="same", dilation=2), nn.LeakyReLU(0.1),
                         nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), nn.Tanh(),
                         nn.AvgPool2d(2, padding=1), nn.MaxPool2d(2, stride=1, padding=1, dilation=2),
                         nn.Flatten(), nn.Linear(6 * 3 * 3, 10), nn.Sigmoid())


def blocks():
    """A residual block (identity shortcut) and a concat of two branches, for 1x8x8 digits."""
    nn = cs.nn
    cs.manual_seed(2)
    body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Residual(body),
                         nn.Concat(nn.Conv2d(4, 2, 1), nn.Sequential(nn.Conv2d(4, 2, 3, padding=1))),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))


def deep():
    """Three stages of two residual blocks (conv, batch norm, ReLU) and a concat, for 1x8x8 digits:
    more overview columns than fit, so its blocks start folded."""
    nn = cs.nn
    cs.manual_seed(3)

    def block(c):
        return nn.Residual(nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                         nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)))
    stages = [nn.Sequential(block(4), nn.ReLU(), block(4), nn.ReLU()) for _ in range(3)]
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), *stages,
                         nn.Concat(nn.Conv2d(4, 2, 1), nn.Sequential(nn.Conv2d(4, 2, 3, padding=1), nn.ReLU())),
                         nn.GlobalAvgPool(), nn.Linear(4, 10))
