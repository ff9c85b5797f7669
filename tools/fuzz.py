"""Fuzz convscope as a careless user or an attacker would: model files, weights, ONNX graphs and
command lines, each case in a forked child with memory and time limits (tests/fuzz/).

    python tools/fuzz.py --cases 10000 [--families model_file,cli] [--seeds 1,2,3,4] [--minutes 30]

Prints the counts by family and class, the wall time, and every failure with what rebuilds it
(family, seed, index). The cases are shared evenly among the families and the seeds. Exit code 1
when any case failed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MPLBACKEND", "Agg")

from tests.fuzz import runner  # noqa: E402
from tests.fuzz.generators import FAMILIES  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=400, help="cases in all, shared by the families and seeds")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--minutes", type=float, help="stop starting cases after this long")
    args = p.parse_args()
    families, seeds = args.families.split(","), [int(s) for s in args.seeds.split(",")]
    per = max(1, args.cases // (len(families) * len(seeds)))
    start = time.monotonic()
    done = [0]

    def progress(outcome):
        done[0] += 1
        if outcome.verdict == "failure":
            print(f"FAIL {outcome.family} seed {outcome.extra['seed']} case {outcome.extra['index']}: {outcome.case}\n"
                  f"     {outcome.detail.splitlines()[0] if outcome.detail else ''}", flush=True)
        elif done[0] % 100 == 0:
            print(f"... {done[0]} cases", flush=True)
    deadline = None if args.minutes is None else time.monotonic() + 60 * args.minutes
    outcomes = []
    for seed in seeds:
        left = None if deadline is None else max(0.0, (deadline - time.monotonic()) / 60)
        outcomes += runner.run(families, per, seed, left, progress)
    print(runner.table(outcomes))
    print(f"{len(outcomes)} cases ({per} per family and seed, seeds {args.seeds}) in {time.monotonic() - start:.0f} s")
    return 1 if any(o.verdict == "failure" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
