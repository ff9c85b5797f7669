"""The execution plan against the layers on many generated chains, by seed (the differential test's
own generator and check, without hypothesis's overhead): every failure is printed with the seed that
rebuilds it.

    python tools/plan_sweep.py --chains 100000 --graphs 10000 [--start 0]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.nn.test_plan_differential import assert_plan_equals_layers, random_model  # noqa: E402


def sweep(what: str, start: int, count: int) -> int:
    """Chains (what="chains") or their converted graphs ("graphs") for seeds start .. start + count - 1."""
    from convscope.bridges import from_torch, to_torch

    began, failures, skipped = time.monotonic(), 0, 0
    for seed in range(start, start + count):
        model, x = random_model(random.Random(seed))
        if what == "graphs":
            try:
                model = from_torch(to_torch(model).eval(), x.shape[1:]).eval()
            except (ValueError, RuntimeError):  # a setting PyTorch has no layer for, or refuses at batch 1
                skipped += 1
                continue
        try:
            assert_plan_equals_layers(model, x)
        except AssertionError as err:
            failures += 1
            print(f"FAIL {what} seed {seed}: {str(err)[:400]}", flush=True)
    print(f"{what}: {count:,} from seed {start}, {failures} failures, {skipped} not convertible, "
          f"{time.monotonic() - began:.0f} s", flush=True)
    return failures


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chains", type=int, default=10_000)
    p.add_argument("--graphs", type=int, default=1_000)
    p.add_argument("--start", type=int, default=0)
    args = p.parse_args()
    warnings.simplefilter("ignore")  # NaN and inf on purpose: an all-padding window, an overflow
    failed = sweep("chains", args.start, args.chains) + sweep("graphs", args.start, args.graphs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
