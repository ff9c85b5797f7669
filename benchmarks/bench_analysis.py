"""Analysis speed: cs.summary of a 1000-layer convolution chain and of the zoo's ResNet-50 (target < 1 s)."""
from __future__ import annotations

import time

import convscope as cs
from convscope import zoo


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    nn = cs.nn
    chain = nn.Sequential(*[nn.Conv2d(8, 8, 3, padding=1) for _ in range(1000)])
    resnet = zoo.load("resnet50")
    print(f"summary, 1000-layer conv chain (8x64x64): {timed(lambda: cs.summary(chain, (8, 64, 64))):.3f} s")
    print(f"summary, ResNet-50 (3x224x224):            {timed(lambda: cs.summary(resnet, (3, 224, 224))):.3f} s")


if __name__ == "__main__":
    main()
