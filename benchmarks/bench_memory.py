"""Peak resident memory of a whole-model forward: ResNet-18, batch 8, 224x224, eval, no grad; each library
in its own fresh subprocess (`ru_maxrss`), so neither sees the other's allocations or imports (convscope's
is the zoo's ResNet-18, torch's torchvision's: the same architecture and parameter count).

    python benchmarks/bench_memory.py
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

from common import emit, machine_header

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHILD = {"convscope": """
import resource
import numpy as np
import convscope as cs
model = cs.zoo.load("resnet18").eval()  # the same architecture, built without importing torch
x = np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32)
with cs.no_grad():
    model(cs.Tensor(x))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
""", "torch": """
import resource, sys
sys.path.insert(0, {tools!r})
import numpy as np, torch
from tests.bridges.torchvision_models import build
torch.set_num_threads(2)
torch.manual_seed(0)
model = build("resnet18")
x = np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32)
with torch.no_grad():
    model(torch.from_numpy(x))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""}


def peak(library: str) -> int:
    code = CHILD[library].replace("{tools!r}", repr(str(ROOT)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def main():
    print(machine_header())
    ours, theirs = (min(peak(lib) for _ in range(2)) for lib in ("convscope", "torch"))
    print(f"peak RSS, ResNet-18 b8 forward: convscope {ours / 1e6:.0f} MB   PyTorch {theirs / 1e6:.0f} MB   "
          f"ratio {ours / theirs:.2f}")
    emit("memory", "ResNet-18 b8 forward, peak RSS", ours / 1e6, theirs / 1e6, "<= 1x", unit="MB")
    return json.dumps({"convscope": ours, "torch": theirs})


if __name__ == "__main__":
    main()
