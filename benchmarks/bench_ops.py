"""convscope ops vs PyTorch on the same machine, same process, same threads.

Each case is timed interleaved (convscope, PyTorch, convscope, ...) after warm-up, and each side
keeps a fast time (the 10th percentile of its calls), because this machine is shared and noisy. Prints milliseconds and the ratio
convscope / PyTorch for the forward pass and for forward + backward, and the peak extra memory of
one convscope forward (tracemalloc) relative to output + weights.

    make bench            # or: python benchmarks/bench_ops.py [--repeat 7] [--only resnet]
"""
from __future__ import annotations

from common import emit, environment, machine_header

environment()  # before NumPy and torch load: see common.py

import argparse
import time
import tracemalloc

import numpy as np
import torch
import torch.nn.functional as F

from convscope import ops


def conv_case(name, n, c, size, o, k, stride=1, padding=0, groups=1):
    return dict(name=name, kind="conv", x=(n, c, *size), w=(o, c // groups, *([k] * len(size))),
                kw=dict(stride=stride, padding=padding, groups=groups))


CASES = [
    conv_case("digits", 256, 1, (8, 8), 16, 3, padding=1),
    conv_case("mnist conv1", 64, 1, (28, 28), 32, 3, padding=1),
    conv_case("mnist conv2", 64, 32, (14, 14), 64, 3, padding=1),
    conv_case("resnet block", 8, 64, (56, 56), 64, 3, padding=1),
    conv_case("strided", 8, 64, (56, 56), 128, 3, stride=2, padding=1),
    conv_case("pointwise", 8, 256, (28, 28), 64, 1),
    conv_case("stem 7x7/2", 4, 3, (224, 224), 64, 7, stride=2, padding=3),
    conv_case("1-D k9", 32, 16, (4096,), 32, 9, padding=4),
    conv_case("depthwise", 8, 128, (56, 56), 128, 3, padding=1, groups=128),
    dict(name="max pool 2x2/2", kind="pool", x=(8, 64, 56, 56)),
]

# (forward, forward+backward) where they differ from (<= 1.5x, <= 2.5x): memory-bound ops
TARGETS = {"depthwise": ("<= 2x", "<= 3x"), "max pool 2x2/2": ("<= 3x", "<= 3x")}

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


# Each round runs one side BURST times in a row and keeps the later calls only (the first one
# after a switch wakes that library's threads and warms the caches).
BURST = 3


def best_of(fns, repeat, seconds=0.0, quantile=10):
    """Interleaved timing in rounds (A A A, B B B, A A A, ...); each side's fast time, in ms.

    At least `repeat` rounds, and more until `seconds` have passed (at most 200): the machine's
    slow spells last a while, and a short case needs many rounds to also catch a quiet one. The
    fast time is the `quantile`-th percentile of a side's calls rather than their minimum, which
    over hundreds of calls is sometimes a lone outlier (measured: one PyTorch depthwise call in
    1.26 ms among hundreds at 1.95 ms or more).
    """
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    start, rounds = time.perf_counter(), 0
    while rounds < repeat or (time.perf_counter() - start < seconds and rounds < 200):
        rounds += 1
        for i, fn in enumerate(fns):
            for call in range(BURST):
                t0 = time.perf_counter()
                fn()
                if call:
                    times[i].append(time.perf_counter() - t0)
    return [float(np.percentile(t, quantile)) * 1e3 for t in times]


def peak_extra(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def callables(case, rng):
    x = rng.standard_normal(case["x"]).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    if case["kind"] == "pool":
        dy = rng.standard_normal(ops.max_pool(x, 2).shape).astype(np.float32)
        dyt = torch.tensor(dy)

        def ours_fb():
            _, idx = ops.max_pool(x, 2, return_indices=True)
            ops.max_pool_backward(dy, idx, x.shape)

        def torch_fb():
            xt.grad = None
            F.max_pool2d(xt, 2).backward(dyt)

        def torch_f():
            with torch.no_grad():
                return F.max_pool2d(xt, 2)

        return (lambda: ops.max_pool(x, 2)), torch_f, ours_fb, torch_fb, 0
    w = (rng.standard_normal(case["w"]) * 0.1).astype(np.float32)
    b = rng.standard_normal(case["w"][0]).astype(np.float32)
    kw = case["kw"]
    wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    tconv = TORCH_CONV[x.ndim - 2]
    dy = rng.standard_normal(ops.conv(x, w, b, **kw).shape).astype(np.float32)
    dyt = torch.tensor(dy)

    def torch_f():
        with torch.no_grad():
            return tconv(xt, wt, bt, **kw)

    def ours_fb():
        ops.conv(x, w, b, **kw)
        ops.conv_backward(dy, x, w, **kw)

    def torch_fb():
        xt.grad = wt.grad = bt.grad = None
        tconv(xt, wt, bt, **kw).backward(dyt)

    return (lambda: ops.conv(x, w, b, **kw)), torch_f, ours_fb, torch_fb, w.nbytes + b.nbytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="at least this many rounds")
    parser.add_argument("--seconds", type=float, default=2.0, help="and more rounds until this long per comparison")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(machine_header())
    print(f"threads: torch {torch.get_num_threads()}, numpy BLAS {blas_threads()}; float32; 10th-percentile time of"
          f" {args.repeat}+ interleaved rounds ({args.seconds:g} s or more per comparison)")
    head = f"{'case':<16}{'fwd ms':>9}{'torch':>9}{'ratio':>7}{'f+b ms':>10}{'torch':>9}{'ratio':>7}{'mem':>7}"
    print(head)
    print("-" * len(head))
    for case in CASES:
        if args.only not in case["name"]:
            continue
        ours_f, torch_f, ours_fb, torch_fb, wbytes = callables(case, rng)
        of, tf = best_of([ours_f, torch_f], args.repeat, args.seconds)
        ofb, tfb = best_of([ours_fb, torch_fb], args.repeat, args.seconds)
        out_bytes = ours_f().nbytes
        mem = peak_extra(ours_f) / (out_bytes + wbytes)
        print(f"{case['name']:<16}{of:9.2f}{tf:9.2f}{of / tf:7.2f}{ofb:10.2f}{tfb:9.2f}{ofb / tfb:7.2f}{mem:7.2f}")
        label = f"{case['name']} ({describe(case)})"
        forward, both = TARGETS.get(case["name"], ("<= 1.5x", "<= 2.5x"))
        emit("layer forward", label, of, tf, forward)
        emit("layer forward+backward", label, ofb, tfb, both)
    print("\nratio = convscope / PyTorch (lower is better); mem = peak bytes of one convscope forward / (output + weights)")


def describe(case) -> str:
    """N, input, output channels and the window, e.g. 'N8, 64x56x56 -> 128, k3 s2 p1'."""
    n, *x = case["x"]
    if case["kind"] == "pool":
        return f"N{n}, {'x'.join(map(str, x))}"
    kw = case["kw"]
    parts = [f"k{case['w'][2]}"] + [f"{k[0]}{v}" for k, v in kw.items() if k in ("stride", "padding") and v != (k == "stride")] + \
        ([f"groups {kw['groups']}"] if kw.get("groups", 1) > 1 else [])
    return f"N{n}, {'x'.join(map(str, x))} -> {case['w'][0]}, {' '.join(parts)}"


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
        return ",".join(str(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")
    except ImportError:
        return "?"


if __name__ == "__main__":
    main()
