"""The bundled examples: the small model files the tour, the experiments and the README train,
shipped with the package (the repository's examples/ links to them). `convscope train lenet_digits` finds them by name."""
from __future__ import annotations

from pathlib import Path

from ..zoo import named_file, names

HERE = Path(__file__).resolve().parent
NAMES = names(HERE)


def example_model(name: str) -> Path:
    """The path of a bundled model file, e.g. example_model('lenet_digits')."""
    return named_file(HERE, name, "example model")
