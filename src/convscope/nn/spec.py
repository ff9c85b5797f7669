"""A model as plain data: each layer a mapping of its type and the arguments it was built with, a
layer argument (Residual's body, Concat's branches) a list of such mappings. This is what model
files hold (`convscope.modelfile` reads them back); it is generic over the layer registry."""
from __future__ import annotations

from .registry import declaration


def to_spec(module, name: str = "") -> dict:
    """The mapping that rebuilds `module` (built-in layers and blocks only)."""
    decl = declaration(module)
    kind = type(module).__name__
    if decl is None:
        raise TypeError(f"to_yaml: {kind} is not a built-in layer; model files hold built-in layers and blocks only")
    spec = {"type": kind}
    if name and not name.isdigit():
        spec["name"] = name
    if decl.name == "Sequential":  # the list of layers itself
        spec["layers"] = [to_spec(m, n) for n, m in module._modules.items()]
        return spec
    given = module.config()  # only what the user gave: defaults stay implicit in the file
    for arg, kind_of in decl.args.items():
        if not kind_of.modules:
            if arg in given:
                spec[arg] = _lists(given[arg])
        elif decl.variadic(arg):
            spec[arg] = [_layer_value(m) for m in module._modules.values()]
        elif getattr(module, arg) is not None:
            spec[arg] = _layer_value(getattr(module, arg))
    return spec


def _spec_list(module) -> list:
    if _is_sequential(module):
        return [to_spec(m, n) for n, m in module._modules.items()]
    return [to_spec(module)]


def _layer_value(module):
    """A layer argument: a Sequential as its list of layers, any other layer as its own mapping."""
    return _spec_list(module) if _is_sequential(module) else to_spec(module)


def _is_sequential(module) -> bool:
    decl = declaration(module)
    return decl is not None and decl.name == "Sequential"


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def to_document(model, name: str | None = None, input_shape=None) -> dict:
    """The whole model file as data: name, input_shape (one sample) and the layers (or, for a
    converted graph, its modules and steps)."""
    if hasattr(model, "steps") and hasattr(model, "output_ref"):
        from ..graphfile import to_document as graph_document

        return graph_document(model, name, input_shape)
    layers = _spec_list(model)
    doc = {"name": name or getattr(model, "name", "model")}
    shape = input_shape or getattr(model, "input_shape", None)
    if shape:
        doc["input_shape"] = list(shape)
    doc["layers"] = layers
    return doc


def to_yaml(model, name: str | None = None, input_shape=None) -> str:
    """The model file (YAML) that rebuilds `model`; see `convscope.load_model`."""
    import yaml

    doc = to_document(model, name, input_shape)
    if "steps" in doc:
        from ..graphfile import dump

        return dump(doc)
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
