"""Reference architectures as model files (architecture only, freshly initialised weights)."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def names(folder: Path) -> list:
    """The model files of a folder, by name (the zoo's, the bundled examples')."""
    return sorted(p.stem for p in folder.glob("*.yaml"))


def named_file(folder: Path, name: str, what: str) -> Path:
    """The model file `name` of a folder; a ValueError naming `what` and the choices otherwise."""
    known = names(folder)
    if name not in known:
        raise ValueError(f"unknown {what} {name!r}; {what}s: {', '.join(known)}")
    return folder / f"{name}.yaml"


NAMES = names(HERE)


def path(name: str) -> Path:
    return named_file(HERE, name, "zoo model")


def load(name: str, meta: bool = False):
    """Build a zoo model by name, e.g. zoo.load('resnet18'); meta=True builds it shape-only (no
    weights allocated: for summaries and receptive fields of the large ones)."""
    from ..document import load_model

    return load_model(path(name), meta=meta)
