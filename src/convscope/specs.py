"""Model specs: one function turns what a user names (a zoo name, a YAML model file,
`torch:package.module:factory`, an `.onnx` file) into a convscope model."""
from __future__ import annotations

from pathlib import Path


def resolve_model(spec):
    """The model a spec names; a Module passes through unchanged.

    Accepted: a model file (`.yaml`/`.yml`, or any existing path), `name.onnx`, `torch:pkg.mod:factory`
    (the factory is called with no arguments, the module put in eval mode) and zoo names.
    """
    from . import zoo
    from .modelfile import load_model
    from .nn.module import Module

    if isinstance(spec, Module):
        return spec
    spec = str(spec)
    if spec.startswith("torch:"):
        return _torch_model(spec)
    if spec.endswith(".onnx"):
        from .bridges import from_onnx

        return from_onnx(spec)
    if spec.endswith((".yaml", ".yml")) or Path(spec).exists():
        return load_model(spec)
    return zoo.load(spec)


def _torch_model(spec: str):
    import importlib

    from .bridges import from_torch

    try:
        _, module_name, factory = spec.split(":")
    except ValueError:
        raise ValueError(f"{spec!r}: write torch:package.module:factory") from None
    return from_torch(getattr(importlib.import_module(module_name), factory)().eval())
