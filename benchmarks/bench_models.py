"""Whole-model inference: torchvision architectures converted with `cs.from_torch`, convscope vs PyTorch.

Same process, same threads (2 unless --threads), eval mode and no_grad, 224x224 inputs, random
weights (seeded) and BatchNorm statistics made non-trivial so that a folded BatchNorm is really
tested. The two libraries are timed interleaved (convscope, PyTorch, convscope, ...) after a
warm-up call, and each keeps its best time. Every convscope output is checked against PyTorch's
(max|diff| / max|ref| <= 1e-4) before it is timed. A model that does not convert yet is reported
as such rather than stopping the table.

ResNet-18 is also reported as a fraction of NumPy's float32 GEMM peak measured in the same run
(2048^3, best of 4, the same threads): its nominal FLOPs (2 x the direct convolutions' MACs,
29 GFLOP at batch 8) over its time. A GEMM at peak is what both libraries' big convolutions
reduce to, so the fraction says how far from the machine's arithmetic the model runs, on any CPU.

    make bench            # or: python benchmarks/bench_models.py [--repeat 3] [--only resnet]
"""
from __future__ import annotations

from common import emit, environment, gemm_peak, info, interleaved, machine_header

environment()  # before NumPy and torch load: see common.py

import argparse  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import convscope as cs  # noqa: E402

TOLERANCE = 1e-4  # max|diff| / max|ref|, float32, the whole-model tolerance

DENSE, DEPTHWISE = "<= 1.0x (stretch 0.8x)", "<= 1.5x"
# (label, torchvision factory, batch, target)
MODELS = [
    ("ResNet-18", "resnet18", 8, DENSE),
    ("DenseNet-121", "densenet121", 4, DENSE),
    ("VGG-11", "vgg11", 2, DENSE),
    ("SqueezeNet 1.1", "squeezenet1_1", 8, DENSE),
    ("MobileNet v2", "mobilenet_v2", 8, DEPTHWISE),
    ("EfficientNet-B0", "efficientnet_b0", 8, DEPTHWISE),
]


def torch_model(factory: str, seed: int = 0):
    """A torchvision model in eval mode with seeded weights and BatchNorm statistics that are not
    the identity (fresh models have mean 0, var 1, which would hide a wrong fold)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from tests.bridges.torchvision_models import build

    torch.manual_seed(seed)
    return build(factory)


def relative_error(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def conv_flops(model, batch: int, size: int = 224) -> float:
    """Nominal FLOPs of a forward: 2 x the multiply-adds of its convolutions, computed directly."""
    rows = cs.summary(model, (3, size, size)).to_dict()["rows"]
    return 2.0 * batch * sum(r["macs"] for r in rows if r["kind"].startswith("Conv"))


def run_case(label, factory, batch, repeat, size=224):
    """One row: (label, batch, ours ms, torch ms, error, model) or (label, batch, reason it did not run)."""
    try:
        tm = torch_model(factory)
        model = cs.from_torch(tm).eval()
    except (ValueError, TypeError, NotImplementedError) as err:  # not every layer converts yet
        lines = str(err).splitlines()
        return label, batch, "does not convert yet: " + (lines[1].strip() if len(lines) > 1 else lines[0])[:80]
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    xt = torch.from_numpy(x)

    def ours():
        with cs.no_grad():
            return np.asarray(model(cs.Tensor(x)).data)

    def theirs():
        with torch.no_grad():
            return tm(xt)

    try:
        got = ours()
    except (ValueError, TypeError, NotImplementedError) as err:
        return label, batch, f"does not run yet: {str(err).splitlines()[0][:70]}"
    err = relative_error(got, theirs().numpy())
    if not err <= TOLERANCE:
        return label, batch, f"WRONG: max|diff|/max|ref| = {err:.2e} > {TOLERANCE:g}"
    if not np.array_equal(got, ours()):
        return label, batch, "WRONG: two runs of the same input differ"
    ms_ours, ms_torch = (t * 1e3 for t in interleaved([ours, theirs], repeat))
    return label, batch, ms_ours, ms_torch, err, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; each side keeps its best")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="run the models whose name contains this text")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("CONVSCOPE_NUM_THREADS", str(args.threads))
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads, user_api="blas")
    except ImportError:
        pass
    print(machine_header())
    peak = gemm_peak()
    print(f"NumPy float32 GEMM peak (2048^3, best of 4, {args.threads} threads): {peak:.0f} GFLOP/s")
    info(gemm_gflops=peak)
    print(f"Whole models, eval + no_grad, 224x224, {args.threads} threads, interleaved, best of {args.repeat}; "
          f"outputs checked against PyTorch {torch.__version__} (max|diff|/max|ref| <= {TOLERANCE:g})\n")
    fractions = []
    print("| model | batch | convscope ms | PyTorch ms | ratio | rel. error |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, factory, batch, target in MODELS:
        if args.only.lower() not in label.lower():
            continue
        row = run_case(label, factory, batch, args.repeat)
        if len(row) == 3:
            print(f"| {row[0]} | {row[1]} | {row[2]} | | | |", flush=True)
            emit("whole model (eval)", f"{label} b{batch}: {row[2]}", float("nan"), float("nan"), target)
        else:
            _, _, ms_ours, ms_torch, err, model = row
            print(f"| {label} | {batch} | {ms_ours:.0f} | {ms_torch:.0f} | {ms_ours / ms_torch:.2f}x | {err:.1e} |",
                  flush=True)
            emit("whole model (eval)", f"{label} b{batch}", ms_ours, ms_torch, target)
            if factory == "resnet18":
                fractions.append(peak_fraction(label, batch, conv_flops(model, batch), ms_ours, ms_torch, peak))
    for line in fractions:
        print(line)


def peak_fraction(label, batch, flops, ms_ours, ms_torch, peak) -> str:
    """How close a model runs to the GEMM peak: nominal FLOPs over time, as a fraction of it."""
    ours, theirs = flops / ms_ours / 1e6, flops / ms_torch / 1e6  # GFLOP/s
    info(peak_model=f"{label} b{batch}", gflop=flops / 1e9, ours_gflops=ours, torch_gflops=theirs)
    return (f"{label} b{batch}: {flops / 1e9:.1f} GFLOP (2 x convolution MACs); convscope {ours:.0f} GFLOP/s = "
            f"{ours / peak:.2f} of NumPy's GEMM peak, PyTorch {theirs:.0f} GFLOP/s = {theirs / peak:.2f}")


if __name__ == "__main__":
    main()
