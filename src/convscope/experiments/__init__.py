"""The lecture's claims, re-run on real data: `cs.experiments.run(name, seed=0, quick=False, out=None)`."""
from __future__ import annotations

from .base import EXPERIMENTS, Result, run
from . import claims  # noqa: F401  (registers the experiments)

__all__ = ["run", "Result", "EXPERIMENTS"]
