"""What the benchmarks share: the thread environment, and the rows of `make bench`'s one table.

Import this before NumPy or torch: `environment()` must run before either library loads.
"""
from __future__ import annotations

import json
import os
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
