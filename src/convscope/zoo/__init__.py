"""Reference architectures as model files (architecture only, freshly initialised weights)."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = sorted(p.stem for p in HERE.glob("*.yaml"))


def path(name: str) -> Path:
    if name not in NAMES:
        raise ValueError(f"unknown zoo model {name!r}; the zoo has {', '.join(NAMES)}")
    return HERE / f"{name}.yaml"


def load(name: str, meta: bool = False):
    """Build a zoo model by name, e.g. zoo.load('resnet18'); meta=True builds it shape-only (no
    weights allocated: for summaries and receptive fields of the large ones)."""
    from ..modelfile import load_model

    return load_model(path(name), meta=meta)
