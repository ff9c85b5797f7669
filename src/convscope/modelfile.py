"""Model files: a YAML list of layers (type + arguments), with residual and concat blocks.

    name: lenet_digits
    input_shape: [1, 8, 8]
    layers:
      - {type: Conv2d, in_channels: 1, out_channels: 16, kernel_size: 3, padding: 1}
      - {type: ReLU}
      - {type: Residual, body: [{type: Conv2d, ...}, ...], shortcut: {type: Conv2d, ...}}
      - {type: Concat, branches: [[...], {type: Identity}], dim: 1}

A layer argument (a Residual's body or shortcut, a Concat branch) is a list of layers (built as a
Sequential) or a single layer.

Each layer's arguments and checks come from its declaration in the layer registry
(`convscope.nn.registry`). Errors name the file, the line and the layer.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from . import graphfile, nn
from .nn import registry
from .nn.spec import to_yaml as _to_yaml
from .specs import parse_shape


def _loader():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping_with_line(loader, node):
        value = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
        value["__line__"] = node.start_mark.line + 1
        return value
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping_with_line)
    return Loader


def load_model(source, meta: bool = False) -> nn.Module:
    """Build a model from a YAML model file (a path, or the YAML text itself): a list of layers (a
    Sequential), or the graph form a converted network is written in (see `convscope.graphfile`).

    meta=True builds it shape-only (`nn.init.meta`): parameters with shapes and dtypes but no data,
    so a model of any size is summarised without allocating its weights; it cannot run or train.
    """
    import yaml

    text, where = (Path(source).read_text(), str(source)) if _is_path(source) else (str(source), "<model>")
    try:
        doc = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as err:
        raise ValueError(f"{where}: not valid YAML: {err}") from None
    if isinstance(doc, list):
        doc = {"layers": doc, "__line__": 1}
    if graphfile.is_graph(doc):
        def build():
            return graphfile.build(doc, where, lambda spec, path: _layer(spec, where, path)[1])
    elif isinstance(doc, dict) and isinstance(doc.get("layers"), list):
        def build():
            return _sequence(doc["layers"], where, doc["__line__"])
    else:
        raise ValueError(f"{where}: a model file is a mapping with a 'layers' list (or just the list), or a graph "
                         "with 'modules', 'steps' and 'output'")
    if not meta:  # all the weights together must fit, not only each array: decide before allocating
        from .analysis.memory import require_weights_fit

        with nn.init.meta():
            require_weights_fit(build(), f"model file {where}")
    with nn.init.meta(meta):
        model = build()
    object.__setattr__(model, "name", doc.get("name") or (Path(where).stem if where != "<model>" else "model"))
    shape = doc.get("input_shape")
    object.__setattr__(model, "input_shape", parse_shape(shape, f"{where}: input_shape") if shape else None)
    return model


def _is_path(source) -> bool:
    return isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml")))


def _sequence(items, where, line) -> nn.Sequential:
    if not isinstance(items, list) or not items:
        raise ValueError(f"{where} line {line}: expected a non-empty list of layers")
    built = [_layer(spec, where, i) for i, spec in enumerate(items)]
    if any(name for name, _ in built):
        return nn.Sequential(OrderedDict((name or str(i), layer) for i, (name, layer) in enumerate(built)))
    return nn.Sequential(*(layer for _, layer in built))


def _layer(spec, where, index):
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: layer {index} must be a mapping with a 'type', got {spec!r}")
    spec = dict(spec)
    line = spec.pop("__line__")
    kind, name = spec.pop("type", None), spec.pop("name", None)
    at = f"{where} line {line}, layer {index}" + (f" ({kind} '{name}')" if name else f" ({kind})" if kind else "")
    decl = registry.declaration(kind) if isinstance(kind, str) else None
    if decl is None:
        known = ", ".join(sorted(registry.declarations()))
        raise ValueError(f"{at}: unknown layer type {kind!r}; known types: {known}")
    try:
        if decl.name == "Sequential":  # a nested list of layers
            return name, _sequence(spec.pop("layers", None), where, line)
        unknown = [k for k in spec if k not in decl.args]
        if unknown:
            raise ValueError(f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                             f"{kind} takes {', '.join(decl.args)}")
        positional, kwargs = [], {}
        for arg, value in spec.items():
            if not decl.args[arg].modules:
                kwargs[arg] = _tuples(value)
            elif decl.variadic(arg):  # Concat's branches: one layer or a layer list each
                positional = [_branch(b, where, line, i) for i, b in enumerate(value or [])]
            else:  # Residual's body and shortcut
                kwargs[arg] = None if value is None else _branch(value, where, line, 0)
        decl.signature.bind(*positional, **kwargs)  # "missing a required argument: 'out_features'"
        return name, decl.cls(*positional, **kwargs)
    except (ValueError, TypeError) as err:
        if str(err).startswith(where):
            raise
        raise ValueError(f"{at}: {err}") from None


def _branch(value, where, line, index):
    """A layer argument: a list of layers is a Sequential, a single mapping is that layer."""
    return _layer(value, where, index)[1] if isinstance(value, dict) else _sequence(value, where, line)


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def to_yaml(model, name: str | None = None, input_shape=None) -> str:
    """The model file that rebuilds `model` (built-in layers and blocks only)."""
    return _to_yaml(model, name, input_shape)
