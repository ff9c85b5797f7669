"""Analysis speed and memory: cs.summary of a 1000-layer convolution chain and of the zoo's ResNet-50
(target < 1 s); a model file of 10^11 parameters summarised shape-only (target < 1 s, < 200 MB peak);
ResNet-50 summarised shape-only (meta) against built with its weights (peak memory, tracemalloc).

    python benchmarks/bench_analysis.py
"""
from __future__ import annotations

import time
import pathlib
import tracemalloc

import convscope as cs
from common import best_time
from convscope import zoo

HUGE = (pathlib.Path(__file__).resolve().parents[1] / "examples" / "huge_1e11.yaml").read_text()  # 1.001e11 parameters


def measured(fn):
    """(seconds, peak bytes allocated by Python and NumPy during fn) of one call."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        fn()
        return time.perf_counter() - t0, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main():
    nn = cs.nn
    chain = nn.Sequential(*[nn.Conv2d(8, 8, 3, padding=1) for _ in range(1000)])
    resnet = zoo.load("resnet50")
    print(f"summary, 1000-layer conv chain (8x64x64): {best_time(lambda: cs.summary(chain, (8, 64, 64))):.3f} s")
    print(f"summary, ResNet-50 (3x224x224):            {best_time(lambda: cs.summary(resnet, (3, 224, 224))):.3f} s")

    def huge():
        model = cs.load_model(HUGE, meta=True)
        return cs.summary(model, model.input_shape)
    params = huge().totals["params"]
    seconds, peak = min(measured(huge) for _ in range(3))
    print(f"load + summary, {params:,} parameters (meta): {seconds:.3f} s, peak {peak / 1e6:.1f} MB "
          "(targets < 1 s, < 200 MB)")
    for meta in (False, True):
        seconds, peak = measured(lambda: cs.summary(zoo.load("resnet50", meta=meta), (3, 224, 224)))
        kind = "meta   " if meta else "weights"
        print(f"load + summary, ResNet-50 {kind}: {seconds:.3f} s, peak {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
