"""What a user names made a model: one function turns a zoo name, a bundled example, a YAML model
file, a run folder, `torch:package.module:factory` or an `.onnx` file into a convscope model, and
raises a ValueError naming what was given otherwise."""
from __future__ import annotations

from pathlib import Path


def resolve_model(spec, meta: bool = False, input_shape=None):
    """The model a spec names; a Module passes through unchanged.

    A torch.nn.Module or `torch:` spec with `input_shape` gives the model the analysis reads: every
    operation convscope cannot run stays as a step known by its shape (PyTorch's own shape
    propagation), so a summary always has every row; without `input_shape` it is converted exactly
    (`cs.from_torch`), refusing what it cannot run.

    `meta=True` builds model files, bundled examples and zoo models shape-only (parameters with
    shapes and dtypes, no data), which is all the analysis needs: a model of any size is described
    without allocating its weights; ONNX files are read shape-only too (weights not read, ops
    convscope cannot run kept as opaque rows). Run folders and torch: specs bring their weights.

    Accepted: a model file (`.yaml`/`.yml`), a `convscope train` run folder (its trained model),
    `name.onnx`, `torch:pkg.mod:factory` (the factory is called with no arguments, the module put in
    eval mode), zoo names (`convscope.zoo.NAMES`) and the bundled examples (`convscope.model_files.examples.NAMES`).
    """
    from ..nn.module import Module
    from . import examples, zoo
    from .document import load_model

    if isinstance(spec, Module):
        return spec
    if _is_torch_module(spec):
        return _from_torch(spec, repr(type(spec).__name__), input_shape)
    spec = str(spec)
    if spec.startswith("torch:"):
        return _torch_model(spec, input_shape)
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
    if spec in examples.NAMES:
        return load_model(examples.example_model(spec), meta=meta)
    raise ValueError(f"unknown zoo model {spec!r}, and no model file, run folder or bundled example of that "
                     f"name; the zoo has {', '.join(zoo.NAMES)}, the bundled examples are {', '.join(examples.NAMES)}; "
                     "or write torch:package.module:factory or an .onnx file")


def with_weights(spec, weights):
    """(model, trained, facts, how the weights were found) for a spec and a --weights value: a file of
    weights, or a run folder (its model, unless a spec names another of the same layers, and its
    facts). `trained` says whether the weights mean anything: False only for a model file or zoo
    model built with random weights."""
    from ..io import load
    from .runs import load_run

    if weights is not None and Path(weights).is_dir():
        run = load_run(weights)
        model = run.model if spec is None else resolve_model(spec)
        if spec is not None:
            model.load_state_dict(run.model.state_dict())
        return model, True, run.facts, f"trained weights from the run folder {weights}"
    model = resolve_model(spec)
    if weights is not None:
        model.load_state_dict(load(weights))
        return model, True, {}, f"weights from {weights}"
    if not isinstance(spec, (str, Path)):
        return model, True, {}, "weights as given"
    if str(spec).endswith(".onnx"):
        return model, True, {}, f"weights stored in {spec}"
    if str(spec).startswith("torch:"):
        return model, True, {}, "weights as the PyTorch factory made them"
    return model, False, {}, "random weights (no --weights given)"


def _onnx_model(path: Path, meta: bool = False):
    if not path.is_file():
        raise ValueError(f"ONNX file {path} does not exist")
    from ..bridges import from_onnx

    return from_onnx(path, meta=meta)


def summary(model, input_shape, batch_size: int = 1, dtype="float32"):
    """`cs.summary`: the analysis summary of a convscope model, a model spec, or a torch.nn.Module
    (whose operations convscope cannot run are rows known by their shape, flagged "not counted")."""
    from ..analysis import summary as summarise

    return summarise(resolve_model(model, meta=True, input_shape=tuple(input_shape)), input_shape, batch_size, dtype)


def _is_torch_module(obj) -> bool:
    import sys

    torch = sys.modules.get("torch")  # a torch module exists only if torch was imported
    return torch is not None and isinstance(obj, torch.nn.Module)


def _torch_model(spec: str, input_shape=None):
    """Import and call the factory; whatever the user's code raises becomes one ValueError naming the spec."""
    import importlib

    try:
        _, module_name, factory = spec.split(":")
    except ValueError:
        raise ValueError(f"{spec!r}: write torch:package.module:factory") from None
    try:
        module = getattr(importlib.import_module(module_name), factory)()
    except Exception as err:  # noqa: BLE001 - the user's import or factory failed; say which and why
        raise ValueError(f"{spec}: calling {module_name}.{factory}() failed: {type(err).__name__}: {err}") from None
    if not _is_torch_module(module):
        raise ValueError(f"{spec}: {module_name}.{factory}() returned a {type(module).__name__}, "
                         "not a torch.nn.Module")
    return _from_torch(module.eval(), spec, input_shape)


def _from_torch(module, what: str, input_shape=None):
    """from_torch, or with an input shape the analysis model; torch's own errors become one ValueError."""
    from ..bridges import analysis_model, from_torch
    from .values import parse_shape

    try:
        if input_shape is None:
            return from_torch(module)
        return analysis_model(module, parse_shape(input_shape, "input_shape"))
    except (ValueError, TypeError):
        raise
    except Exception as err:  # noqa: BLE001 - torch.fx or torch itself refused; name the failure
        raise ValueError(f"{what}: cannot convert it: {type(err).__name__}: {' '.join(str(err).split())}") from None
