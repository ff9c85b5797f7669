"""ONNX import speed and memory: torchvision's VGG-16-BN (138 M parameters, 553 MB) exported with
PyTorch's exporter, read back by cs.from_onnx (target < 3 s, near the time onnx.load takes to
parse the file), and read shape-only (meta=True) and summarised with the peak memory tracemalloc
sees (target: well below the 553 MB of weights).

    python benchmarks/bench_onnx.py [--model vgg16_bn] [--size 224]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import convscope as cs
from common import best_time


def export(name: str, size: int, path: Path) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.bridges.torchvision_models import builders

    torch.manual_seed(0)
    model = getattr(builders()[0], name)(weights=None).eval()
    torch.onnx.export(model, torch.zeros(1, 3, size, size), str(path), opset_version=17, dynamo=False,
                      input_names=["input"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="vgg16_bn")
    p.add_argument("--size", type=int, default=224)
    args = p.parse_args()
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.model}.onnx"
        export(args.model, args.size, path)
        mb = path.stat().st_size / 1e6
        parse = best_time(lambda: onnx.load(str(path)))
        full = best_time(lambda: cs.from_onnx(path))
        meta = best_time(lambda: cs.from_onnx(path, meta=True))
        tracemalloc.start()
        t0 = time.perf_counter()
        s = cs.summary(cs.from_onnx(path, meta=True), (3, args.size, args.size))
        took, peak = time.perf_counter() - t0, tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"{args.model} at {args.size}x{args.size}: {mb:.0f} MB file, {s.totals['params']:,} parameters (best of 3)")
    print(f"  onnx.load (parsing alone)        {parse:6.2f} s")
    print(f"  cs.from_onnx                     {full:6.2f} s   (target < 3 s)")
    print(f"  cs.from_onnx(meta=True)          {meta:6.2f} s")
    print(f"  meta import + summary            {took:6.2f} s, peak {peak / 1e6:.1f} MB traced "
          f"(weights {s.totals['param_bytes'] / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
