"""Run fuzz cases of every family and count them by family and class (shared by the suite and
`tools/fuzz.py`)."""
from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import harness
from .generators import FAMILIES

ROOT = Path(__file__).resolve().parents[2]


def cases(family: str, seed: int, count: int):
    """The `count` cases of a family for a seed: case i is rebuilt from (family, seed, i) alone."""
    for i in range(count):
        rnd = random.Random(f"{family}-{seed}-{i}")
        yield i, FAMILIES[family](rnd)


def run(families, count: int, seed: int = 0, minutes: float | None = None, progress=None):
    """Outcomes of `count` cases per family (fewer if `minutes` run out), one temporary folder each."""
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="convscope-fuzz-") as tmp:
        for family in families:
            for i, case in cases(family, seed, count):
                if deadline is not None and time.monotonic() > deadline:
                    break
                folder = Path(tmp) / f"{family}-{i}"
                folder.mkdir()
                outcome = harness.run(family, case, folder, watch=ROOT / "src")
                outcome.extra = {"seed": seed, "index": i}
                outcomes.append(outcome)
                if progress:
                    progress(outcome)
    return outcomes


def table(outcomes) -> str:
    """Markdown: cases by family and class."""
    counts = Counter((o.family, o.verdict) for o in outcomes)
    families = sorted({o.family for o in outcomes})
    lines = ["| family | cases | returned | refused | failure |", "|---|---:|---:|---:|---:|"]
    for f in families:
        n = sum(counts[(f, v)] for v in ("returned", "refused", "failure"))
        lines.append(f"| {f} | {n} | {counts[(f, 'returned')]} | {counts[(f, 'refused')]} | {counts[(f, 'failure')]} |")
    return "\n".join(lines)
