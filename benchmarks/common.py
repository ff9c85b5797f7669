"""What the benchmarks share: the thread environment, the machine they ran on, and the rows of
`make bench`'s one table.

Import this before NumPy or torch: `environment()` must run before either library loads.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time

# Both libraries run 2-thread pools in one process. Left to spin after each call (OpenBLAS for
# ~0.1 s, OpenMP for a while), one library's idle threads steal the cores the other is timed on
# (measured: PyTorch's ResNet conv went from 9 to 17-38 ms right after a NumPy GEMM). Passive
# waiting is the "tuned" environment; BENCH_ENV=default measures what a user gets without it.
TUNED = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def environment() -> str:
    """Set the tuned thread environment unless BENCH_ENV=default; return which one runs."""
    name = os.environ.get("BENCH_ENV", "tuned")
    if name == "tuned":
        for key, value in TUNED.items():
            os.environ.setdefault(key, value)
    return name


def emit(section: str, case: str, ours: float, theirs: float, target: str = "", unit: str = "ms") -> None:
    """One row of the combined table (printed as a tagged JSON line when bench_all.py collects them)."""
    if os.environ.get("BENCH_JSON"):
        print("BENCH " + json.dumps(dict(section=section, case=case, ours=ours, theirs=theirs, target=target,
                                         unit=unit)), flush=True)


def best_time(fn, repeat: int = 3) -> float:
    """The fastest of `repeat` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def interleaved(fns, rounds: int) -> list[float]:
    """Each callable's best time in seconds over `rounds` interleaved rounds (A, B, A, B, ...), after one
    warm-up call each."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


# Vector instruction sets worth naming, from /proc/cpuinfo's flags (narrow to wide); the ratios to
# PyTorch move with them (oneDNN and OpenBLAS pick kernels per ISA), so every table says which.
ISA_FLAGS = {"avx2": "avx2", "avx512f": "avx512f", "amx_tile": "amx"}


def cpu_model() -> str:
    """lscpu's Model name (else /proc/cpuinfo's model name, else what platform knows)."""
    for command, key in ((["lscpu"], "Model name"), (["cat", "/proc/cpuinfo"], "model name")):
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        found = re.search(rf"^{key}\s*:\s*(.+)$", out, re.M)
        if found:
            return found.group(1).strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def vector_isa() -> str:
    """The vector ISAs the CPU flags name, e.g. 'avx2 avx512f amx'; 'unknown' off Linux."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return "unknown"
    flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split()) if "flags" in text else set()
    return " ".join(name for flag, name in ISA_FLAGS.items() if flag in flags) or "none of " + "/".join(ISA_FLAGS)


def cpu_kind(model: str) -> str:
    """The key a result is kept under: the model name without trademarks, clock and 'Processor'
    ('Intel(R) Xeon(R) Processor' -> 'Intel Xeon', 'AMD EPYC 7B13' -> 'AMD EPYC 7B13')."""
    name = re.sub(r"\((R|TM|tm|r)\)|\bCPU\b|\bProcessor\b|@.*$|\d+-Core", " ", model)
    return " ".join(name.split()) or model


def machine_header() -> str:
    """The line printed above every table: which CPU and which vector ISA."""
    return f"CPU: {cpu_model()}; vector ISA: {vector_isa()}; {os.cpu_count()} CPUs"


def gemm_peak(n: int = 2048, repeat: int = 4) -> float:
    """NumPy's float32 GEMM rate in GFLOP/s (n^3 matrices, best of `repeat`), with BLAS's threads as set."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)  # warm-up: BLAS threads and buffers
    return 2 * n ** 3 / best_time(lambda: np.matmul(a, a, out=out), repeat) / 1e9


def info(**facts) -> None:
    """Facts about the run (a GEMM peak, a model's nominal FLOPs) for bench_all.py to collect."""
    if os.environ.get("BENCH_JSON"):
        print("BENCHINFO " + json.dumps(facts), flush=True)
