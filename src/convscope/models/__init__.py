"""The small model files the tour, the experiments and the README train, shipped with the package
(the repository's examples/ links to them). `convscope train lenet_digits` finds them by name."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = sorted(p.stem for p in HERE.glob("*.yaml"))


def example_model(name: str) -> Path:
    """The path of a bundled model file, e.g. example_model('lenet_digits')."""
    if name not in NAMES:
        raise ValueError(f"unknown example model {name!r}; the bundled ones are {', '.join(NAMES)}")
    return HERE / f"{name}.yaml"
