"""Model files: a YAML list of layers (type + arguments), with residual and concat blocks.

    name: lenet_digits
    input_shape: [1, 8, 8]
    layers:
      - {type: Conv2d, in_channels: 1, out_channels: 16, kernel_size: 3, padding: 1}
      - {type: ReLU}
      - {type: Residual, body: [{type: Conv2d, ...}, ...], shortcut: [...]}
      - {type: Concat, branches: [[...], [...]], dim: 1}

Errors name the file, the line and the layer.
"""
from __future__ import annotations

import inspect
from collections import OrderedDict
from pathlib import Path

from . import nn
from .specs import parse_shape

BLOCKS = {"Sequential": "layers", "Residual": "body", "Concat": "branches"}


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


def load_model(source) -> nn.Sequential:
    """Build a model from a YAML model file (a path, or the YAML text itself)."""
    import yaml

    text, where = (Path(source).read_text(), str(source)) if _is_path(source) else (str(source), "<model>")
    try:
        doc = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as err:
        raise ValueError(f"{where}: not valid YAML: {err}") from None
    if isinstance(doc, list):
        doc = {"layers": doc, "__line__": 1}
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
        raise ValueError(f"{where}: a model file is a mapping with a 'layers' list (or just the list)")
    model = _sequence(doc["layers"], where, doc["__line__"])
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
    if kind not in nn.LAYERS:
        raise ValueError(f"{at}: unknown layer type {kind!r}; known types: {', '.join(sorted(nn.LAYERS))}")
    try:
        if kind == "Sequential":
            return name, _sequence(spec.pop("layers", None), where, line)
        if kind == "Residual":
            body = _sequence(_as_list(spec.pop("body", None)), where, line)
            short = spec.pop("shortcut", None)
            return name, nn.Residual(body, None if short is None else _sequence(_as_list(short), where, line))
        if kind == "Concat":
            branches = spec.pop("branches", None) or []
            return name, nn.Concat(*(_sequence(_as_list(b), where, line) for b in branches), **spec)
        cls = nn.LAYERS[kind]
        params = list(inspect.signature(cls.__init__).parameters)[1:]
        unknown = [k for k in spec if k not in params]
        if unknown:
            raise ValueError(f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                             f"{kind} takes {', '.join(params)}")
        return name, cls(**{k: _tuples(v) for k, v in spec.items()})
    except (ValueError, TypeError) as err:
        if str(err).startswith(where):
            raise
        raise ValueError(f"{at}: {err}") from None


def _as_list(value):
    return value if isinstance(value, list) else [value] if value is not None else value


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def to_yaml(model, name: str | None = None, input_shape=None) -> str:
    """The model file that rebuilds `model` (built-in layers and blocks only)."""
    import yaml

    layers = [_spec(m, n) for n, m in model._modules.items()] if isinstance(model, nn.Sequential) else [_spec(model, "")]
    doc = {"name": name or getattr(model, "name", "model")}
    shape = input_shape or getattr(model, "input_shape", None)
    if shape:
        doc["input_shape"] = list(shape)
    doc["layers"] = layers
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def _spec(module, name: str) -> dict:
    kind = type(module).__name__
    if nn.LAYERS.get(kind) is not type(module):
        raise TypeError(f"to_yaml: {kind} is not a built-in layer; model files hold built-in layers and blocks only")
    spec = {"type": kind}
    if name and not name.isdigit():
        spec["name"] = name
    if isinstance(module, nn.Sequential):
        spec["layers"] = [_spec(m, n) for n, m in module._modules.items()]
    elif isinstance(module, nn.Residual):
        spec["body"] = _spec_list(module.body)
        if module.shortcut is not None:
            spec["shortcut"] = _spec_list(module.shortcut)
    elif isinstance(module, nn.Concat):
        spec["branches"] = [_spec_list(b) for b in module._modules.values()]
        if module.dim != 1:
            spec["dim"] = module.dim
    else:
        spec.update({k: _lists(v) for k, v in module.config().items()})
    return spec


def _spec_list(module) -> list:
    if isinstance(module, nn.Sequential):
        return [_spec(m, n) for n, m in module._modules.items()]
    return [_spec(module, "")]


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, (tuple, list)) else value
