"""Model specs: one function turns what a user names (a zoo name, a bundled example, a YAML model
file, a run folder, `torch:package.module:factory`, an `.onnx` file) into a convscope model, and one
function reads a shape written as `1x28x28`. Both raise a ValueError naming what was given."""
from __future__ import annotations

from pathlib import Path


def resolve_model(spec, meta: bool = False):
    """The model a spec names; a Module passes through unchanged.

    `meta=True` builds model files, bundled examples and zoo models shape-only (parameters with
    shapes and dtypes, no data), which is all the analysis needs: a model of any size is described
    without allocating its weights; ONNX files are read shape-only too (weights not read, ops
    convscope cannot run kept as opaque rows). Run folders and torch: specs bring their weights.

    Accepted: a model file (`.yaml`/`.yml`), a `convscope train` run folder (its trained model),
    `name.onnx`, `torch:pkg.mod:factory` (the factory is called with no arguments, the module put in
    eval mode), zoo names (`convscope.zoo.NAMES`) and the bundled examples (`convscope.models.NAMES`).
    """
    from . import models, zoo
    from .modelfile import load_model
    from .nn.module import Module

    if isinstance(spec, Module):
        return spec
    spec = str(spec)
    if spec.startswith("torch:"):
        return _torch_model(spec)
    path = Path(spec)
    if path.is_dir():
        from .runs import load_run

        return load_run(path).model
    if spec.endswith(".onnx"):
        return _onnx_model(path, meta)
    if spec.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise ValueError(f"model file {spec} does not exist")
        return load_model(path, meta=meta)
    if spec in zoo.NAMES:
        return zoo.load(spec, meta=meta)
    if spec in models.NAMES:
        return load_model(models.example_model(spec), meta=meta)
    raise ValueError(f"unknown zoo model {spec!r}, and no model file, run folder or bundled example of that "
                     f"name; the zoo has {', '.join(zoo.NAMES)}, the bundled examples are {', '.join(models.NAMES)}; "
                     "or write torch:package.module:factory or an .onnx file")


def parse_shape(text, what: str = "shape") -> tuple:
    """A shape of positive ints from `'1x28x28'`, a list or a tuple; a ValueError naming `what` otherwise."""
    parts = text.lower().split("x") if isinstance(text, str) else text
    try:
        shape = tuple(int(v) for v in parts)
        ok = all(v >= 1 and float(v) == float(p) for v, p in zip(shape, parts))
    except (TypeError, ValueError):
        ok = False
    if not ok or not shape:
        raise ValueError(f"{what} {text!r} must be positive sizes like 1x28x28 (channels x spatial sizes)")
    return shape


def _onnx_model(path: Path, meta: bool = False):
    if not path.is_file():
        raise ValueError(f"ONNX file {path} does not exist")
    from .bridges import from_onnx

    return from_onnx(path, meta=meta)


def _torch_model(spec: str):
    """Import and call the factory; whatever the user's code raises becomes one ValueError naming the spec."""
    import importlib

    from .bridges import from_torch

    try:
        _, module_name, factory = spec.split(":")
    except ValueError:
        raise ValueError(f"{spec!r}: write torch:package.module:factory") from None
    try:
        module = getattr(importlib.import_module(module_name), factory)()
    except Exception as err:  # noqa: BLE001 - the user's import or factory failed; say which and why
        raise ValueError(f"{spec}: calling {module_name}.{factory}() failed: {type(err).__name__}: {err}") from None
    if not hasattr(module, "eval") or not hasattr(module, "named_parameters"):
        raise ValueError(f"{spec}: {module_name}.{factory}() returned a {type(module).__name__}, "
                         "not a torch.nn.Module")
    try:
        return from_torch(module.eval())
    except (ValueError, TypeError):
        raise
    except Exception as err:  # noqa: BLE001 - torch.fx cannot trace every module; name the failure
        raise ValueError(f"{spec}: cannot convert it: {type(err).__name__}: {err}") from None
