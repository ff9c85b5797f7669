"""`make bench`: every convscope-vs-PyTorch benchmark, collected into one Markdown table.

Each benchmark script runs in its own process (the thread environment must be set before NumPy and torch
load). Per-layer cases and memory run once, in the tuned environment; whole models and training run three
times: tuned (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4: idle threads of one library do not spin
on the cores the other is timed on), the default environment a user has, and the tuned one again with one
core kept busy by a second process (a plain CPU loop).

Above the table: the CPU (lscpu's model name), its vector ISA (/proc/cpuinfo's flags), NumPy's float32
GEMM peak measured in the same run and ResNet-18 b8's fraction of it (bench_models.py). With
BENCH_SAVE=PATH the whole result is also written there as JSON (`bench_results.py`'s record, which
tools/readme_numbers.py keeps per CPU kind).

    python benchmarks/bench_all.py [--only models,training]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import subprocess
import sys

import bench_results as report
from common import cpu_kind, cpu_model, machine_header, vector_isa

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


def collect(script: str, variant: str) -> tuple[list[dict], dict]:
    """The rows and facts a benchmark script emits, run in the given variant; its own printout goes to stderr."""
    env_vars, busy = VARIANTS[variant]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    env.update(env_vars, BENCH_JSON="1")
    with busy_core(busy):
        done = subprocess.run([sys.executable, str(HERE / script)], env=env, capture_output=True, text=True)
    print(done.stdout + done.stderr, file=sys.stderr)
    if done.returncode:
        raise SystemExit(f"bench_all: {script} ({variant}) failed with exit code {done.returncode}")
    lines = done.stdout.splitlines()
    facts = {}
    for line in lines:
        if line.startswith("BENCHINFO "):
            facts.update(json.loads(line[10:]))
    return [json.loads(line[6:]) for line in lines if line.startswith("BENCH ")], facts


def _ratio(row: dict | None) -> float:
    return float("nan") if row is None or not row["theirs"] else row["ours"] / row["theirs"]


def _result(rows: list[dict], facts: dict) -> dict:
    """The record `bench_results.py` keeps (without `machine`, which the README generator writes)."""
    model = cpu_model()
    peak = {k: facts[k] for k in ("peak_model", "gflop", "ours_gflops", "torch_gflops")} if "gflop" in facts else None
    return dict(kind=cpu_kind(model), cpu=model, isa=vector_isa(), date=datetime.date.today().isoformat(),
                machine=machine_header(), gemm_gflops=facts.get("gemm_gflops"), peak=peak, rows=rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCRIPTS), help="comma-separated: " + ", ".join(SCRIPTS))
    args = parser.parse_args(argv)
    chosen = [s for s in SCRIPTS if s in args.only.split(",")]
    rows, facts = [], {}
    for name in chosen:
        runs = {}
        for v in (VARIANTS if name in VARIED else ("tuned",)):
            runs[v], found = collect(SCRIPTS[name], v)
            if v == "tuned":
                facts.update(found)
        keyed = {v: {(r["section"], r["case"]): r for r in rs} for v, rs in runs.items()}
        for row in runs["tuned"]:
            key = (row["section"], row["case"])
            rows.append(dict(row, ratio=_ratio(row), **{v: _ratio(keyed[v].get(key)) if v in keyed else None
                                                        for v in ("default", "busy")}))
    result = _result(rows, facts)
    print(f"\n{machine_header()}")
    if report.peak_line(result):
        print(report.peak_line(result))
    print(f"\n{report.RATIO_NOTE}.\n")
    print("\n".join(report.full_table(result)))
    if os.environ.get("BENCH_SAVE"):
        pathlib.Path(os.environ["BENCH_SAVE"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
