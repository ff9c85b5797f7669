"""`make bench`: every convscope-vs-PyTorch benchmark, collected into one Markdown table.

Each benchmark script runs in its own process (the thread environment must be set before NumPy and torch
load). Per-layer cases and memory run once, in the tuned environment; whole models and training run three
times: tuned (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4: idle threads of one library do not spin
on the cores the other is timed on), the default environment a user has, and the tuned one again with one
core kept busy by a second process (a plain CPU loop).

    python benchmarks/bench_all.py [--only models,training]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = {"layers": "bench_ops.py", "models": "bench_models.py", "training": "bench_train.py",
           "memory": "bench_memory.py"}
VARIED = ("models", "training")  # also measured in the default environment and with a busy core
VARIANTS = {"tuned": ({"BENCH_ENV": "tuned"}, False), "default": ({"BENCH_ENV": "default"}, False),
            "busy": ({"BENCH_ENV": "tuned"}, True)}


@contextlib.contextmanager
def busy_core(enabled: bool):
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if enabled else None
    try:
        yield
    finally:
        if loop:
            loop.kill()
            loop.wait()


def collect(script: str, variant: str) -> list[dict]:
    """The rows a benchmark script emits, run in the given variant; its own printout goes to stderr."""
    env_vars, busy = VARIANTS[variant]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    env.update(env_vars, BENCH_JSON="1")
    with busy_core(busy):
        done = subprocess.run([sys.executable, str(HERE / script)], env=env, capture_output=True, text=True)
    print(done.stdout + done.stderr, file=sys.stderr)
    if done.returncode:
        raise SystemExit(f"bench_all: {script} ({variant}) failed with exit code {done.returncode}")
    return [json.loads(line[6:]) for line in done.stdout.splitlines() if line.startswith("BENCH ")]


def _ratio(row: dict | None) -> str:
    if row is None or not math.isfinite(row["ours"]):
        return "-"
    return f"{row['ours'] / row['theirs']:.2f}x"


def _value(v: float, unit: str) -> str:
    if not math.isfinite(v):
        return "-"
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:.2f} {unit}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCRIPTS), help="comma-separated: " + ", ".join(SCRIPTS))
    args = parser.parse_args(argv)
    chosen = [s for s in SCRIPTS if s in args.only.split(",")]
    lines = ["| section | case | convscope | PyTorch | ratio | target | ratio, default env | ratio, one core busy |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for name in chosen:
        runs = {v: collect(SCRIPTS[name], v) for v in (VARIANTS if name in VARIED else ("tuned",))}
        keyed = {v: {(r["section"], r["case"]): r for r in rows} for v, rows in runs.items()}
        for row in runs["tuned"]:
            key = (row["section"], row["case"])
            other = [_ratio(keyed[v].get(key)) if v in keyed else "" for v in ("default", "busy")]
            lines.append(f"| {row['section']} | {row['case']} | {_value(row['ours'], row['unit'])} | "
                         f"{_value(row['theirs'], row['unit'])} | {_ratio(row)} | {row['target']} | "
                         f"{other[0]} | {other[1]} |")
    print("\nratio = convscope / PyTorch (lower is better); times are each side's fast time, interleaved in one "
          "process, 2 threads, float32.\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
