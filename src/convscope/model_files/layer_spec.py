"""One layer as plain data and back: a mapping of its type and the arguments it was built with, a
layer argument (Residual's body, Concat's branches) a list of such mappings. Both forms of model
file hold layers this way (`document`, `graph_form`); it is generic over the layer registry.
Errors name the file, the line and the layer."""
from __future__ import annotations

from collections import OrderedDict

from .. import nn
from ..nn.registry import declaration, declarations
from .values import excerpt


# ------------------------------------------------------------------------------ writing

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
    for arg, arg_type in decl.args.items():
        if not arg_type.modules:
            if arg in given:
                spec[arg] = _lists(given[arg])
        elif decl.variadic(arg):
            spec[arg] = [_layer_value(m) for m in module._modules.values()]
        elif getattr(module, arg) is not None:
            spec[arg] = _layer_value(getattr(module, arg))
    return spec


def spec_list(module) -> list:
    if _is_sequential(module):
        return [to_spec(m, n) for n, m in module._modules.items()]
    return [to_spec(module)]


def _layer_value(module):
    """A layer argument: a Sequential as its list of layers, any other layer as its own mapping."""
    return spec_list(module) if _is_sequential(module) else to_spec(module)


def _is_sequential(module) -> bool:
    decl = declaration(module)
    return decl is not None and decl.name == "Sequential"


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


# ------------------------------------------------------------------------------ reading

def build_sequence(items, where, line) -> nn.Sequential:
    if not isinstance(items, list) or not items:
        raise ValueError(f"{where} line {line}: expected a non-empty list of layers")
    built = [build_layer(spec, where, i) for i, spec in enumerate(items)]
    if any(name for name, _ in built):
        return nn.Sequential(OrderedDict((name or str(i), layer) for i, (name, layer) in enumerate(built)))
    return nn.Sequential(*(layer for _, layer in built))


def build_layer(spec, where, index):
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: layer {index} must be a mapping with a 'type', got {excerpt(spec)}")
    spec = dict(spec)
    line = spec.pop("__line__")
    kind, name = spec.pop("type", None), spec.pop("name", None)
    if not isinstance(kind, (str, type(None))) or not isinstance(name, (str, type(None))):
        raise ValueError(f"{where} line {line}, layer {index}: 'type' and 'name' are text, got type "
                         f"{excerpt(kind)} and name {excerpt(name)}")
    shown = kind if kind is None or len(kind) <= 60 else excerpt(kind)
    at = f"{where} line {line}, layer {index}" + (f" ({shown} {excerpt(name)})" if name else f" ({shown})" if kind else "")
    decl = declaration(kind) if isinstance(kind, str) else None
    if decl is None:
        known = ", ".join(sorted(declarations()))
        raise ValueError(f"{at}: unknown layer type {excerpt(kind)}; known types: {known}")
    try:
        if decl.name == "Sequential":  # a nested list of layers
            return name, build_sequence(spec.pop("layers", None), where, line)
        unknown = [k for k in spec if k not in decl.args]
        if unknown:
            raise ValueError(f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                             f"{kind} takes {', '.join(decl.args)}")
        positional, kwargs = [], {}
        for arg, value in spec.items():
            if not decl.args[arg].modules:
                kwargs[arg] = _tuples(value)
            elif decl.variadic(arg):  # Concat's branches: one layer or a layer list each
                if not isinstance(value, list):
                    raise ValueError(f"{arg} is a list (of layers or layer lists), got {excerpt(value)}")
                positional = [_branch(b, where, line, i) for i, b in enumerate(value)]
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
    return build_layer(value, where, index)[1] if isinstance(value, dict) else build_sequence(value, where, line)


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
