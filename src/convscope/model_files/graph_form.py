"""The graph form of a model file: a converted network (`cs.from_torch`) written as data, so that it
reopens with `cs.load_model` without PyTorch, trains from the command line, and is summarised
shape-only like any model file.

    name: resnet18
    input_shape: [3, 224, 224]
    modules:                      # each layer once, by its dotted path (the state dict's prefixes)
      conv1: {type: Conv2d, in_channels: 3, out_channels: 64, kernel_size: 7, stride: 2, padding: 3, bias: false}
      ...
    parameters: {}                # loose parameters read by "const" steps: path -> shape
    steps:                        # [name, kind, target, args, kwargs], in order
      - [x, input]
      - [conv1, module, conv1, [{ref: x}]]
      - [add, function, add, [{ref: bn2}, {ref: relu}]]
      - [relu_1, op, relu, [{ref: add}]]
    output: {ref: fc}

A value in args, kwargs or output is plain YAML (numbers, strings, lists, null), or one of the
mappings {ref: step name}, {tuple: [...]}, {slice: [start, stop, step]}, {dict: {...}}.
Weights go beside it in a .safetensors file (`cs.save`), as for every model.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..nn.containers import GraphModel
from ..nn.graph import FUNCTIONS, Ref
from ..nn.module import Parameter
from ..ops import registry as op_registry
from .values import excerpt, parse_shape
from .layer_spec import build_layer, to_spec

KINDS = ("input", "module", "op", "function", "const")


def is_graph(doc) -> bool:
    return isinstance(doc, dict) and "steps" in doc


# ------------------------------------------------------------------------------ writing

def to_document(model: GraphModel, name=None, input_shape=None) -> dict:
    """The graph model file of `model` as data (only registered layers, ops and graph functions)."""
    modules, parameters, steps = {}, {}, []
    for step_name, kind, target, args, kwargs in model.steps:
        if kind not in KINDS:
            raise TypeError(f"to_yaml: step {step_name!r} calls {target!r} directly; a model file holds registered "
                            "layers, ops and graph functions only")
        if kind == "module" and target not in modules:
            modules[target] = _layer_spec(model.get(target), target)
        elif kind == "const":
            parameters[target] = list(model.get(target).shape)
        row = [step_name, kind] + ([] if kind == "input" else [target])
        if args or kwargs:
            row.append(_encode(list(args), step_name))
        if kwargs:
            row.append({k: _encode(v, step_name) for k, v in kwargs.items()})
        steps.append(row)
    doc = {"name": name or getattr(model, "name", None) or "model"}
    shape = input_shape or getattr(model, "input_shape", None)
    if shape:
        doc["input_shape"] = [int(s) for s in shape]
    doc.update(modules=modules, parameters=parameters, steps=steps, output=_encode(model.output_ref, "output"))
    return doc


def _layer_spec(layer, path: str) -> dict:
    try:
        spec = to_spec(layer)
    except TypeError as err:
        raise TypeError(f"to_yaml: layer {path!r}: {err}") from None
    spec.pop("name", None)
    return spec


def _encode(value, where: str):
    if isinstance(value, Ref):
        return {"ref": value.name}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v, where) for k, v in value.items()}}
    if isinstance(value, slice):
        return {"slice": [_encode(v, where) for v in (value.start, value.stop, value.step)]}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"to_yaml: step {where!r} has an argument a model file cannot hold: {value!r} "
                    f"({type(value).__name__})")


def dump(doc: dict) -> str:
    """The document as YAML with one line per module and per step, so a graph reads top to bottom."""
    import yaml

    def flow(value) -> str:
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=float("inf")).strip()

    head = {k: v for k, v in doc.items() if k in ("name", "input_shape")}
    lines = [yaml.safe_dump(head, sort_keys=False, default_flow_style=None).strip()]
    for key in ("modules", "parameters"):
        lines.append(f"{key}:" + ("" if doc[key] else " {}"))
        lines += [f"  {flow({path: value})[1:-1]}" for path, value in doc[key].items()]  # "path: {...}"
    lines.append("steps:")
    lines += [f"  - {flow(step)}" for step in doc["steps"]]
    lines.append(flow({"output": doc["output"]})[1:-1])
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ reading

def build(doc: dict, where: str) -> GraphModel:
    """The GraphModel a graph model file describes."""
    model = GraphModel()
    for key in ("modules", "steps", "output"):
        if key not in doc:
            raise ValueError(f"{where}: a graph model file needs '{key}' (it has {', '.join(_keys(doc))})")
    modules, parameters = doc["modules"] or {}, doc.get("parameters") or {}
    if not isinstance(modules, dict) or not isinstance(parameters, dict):
        raise ValueError(f"{where}: 'modules' and 'parameters' are mappings of dotted paths")
    modules, parameters = ({k: v for k, v in m.items() if k != "__line__"} for m in (modules, parameters))
    for path, spec in modules.items():
        model.place(str(path), build_layer(spec, where, str(path))[1])
    for path, shape in parameters.items():
        shape = parse_shape(shape, f"{where}: parameter {excerpt(path)} shape") if shape != [] else ()
        model.place(str(path), Parameter(nn.init.constant(shape, 0.0, what=f"parameter {path}")))
    if not isinstance(doc["steps"] or [], list):
        raise ValueError(f"{where}: 'steps' is a list of [name, kind, target, args, kwargs], got {excerpt(doc['steps'])}")
    seen = set()
    for i, row in enumerate(doc["steps"] or []):
        model.steps.append(_step(row, i, where, model, seen))
        seen.add(model.steps[-1][0])
    object.__setattr__(model, "output_ref", _decode(doc["output"], where, "output", seen))
    return model


def _keys(doc) -> list:
    return [k for k in doc if k != "__line__"]


def _step(row, i: int, where: str, model: GraphModel, seen: set) -> tuple:
    at = f"{where}: step {i}"
    if not isinstance(row, list) or len(row) < 2 or not isinstance(row[0], str) or row[1] not in KINDS:
        raise ValueError(f"{at}: expected [name, kind, target, args, kwargs] with kind one of {', '.join(KINDS)}, "
                         f"got {excerpt(row)}")
    name, kind = row[0], row[1]
    if kind == "input":
        return (name, "input", None, (), {})
    if len(row) < 3 or len(row) > 5:
        raise ValueError(f"{at} ({name!r}): expected [name, kind, target, args, kwargs], got {len(row)} entries")
    target = row[2]
    _check_target(kind, target, f"{at} ({name!r})", model)
    args = _decode(row[3] if len(row) > 3 else [], where, name, seen)
    kwargs = _decode(row[4] if len(row) > 4 else {}, where, name, seen)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError(f"{at} ({name!r}): args must be a list and kwargs a mapping")
    return (name, kind, target, tuple(args), kwargs)


def _check_target(kind: str, target, at: str, model: GraphModel) -> None:
    if kind in ("module", "const"):
        try:
            model.get(str(target))
        except KeyError:
            what = "modules" if kind == "module" else "parameters"
            raise ValueError(f"{at}: {kind} {excerpt(target)} is not in the file's {what}") from None
    elif kind == "op":
        try:
            op_registry.get(str(target))
        except ValueError:
            raise ValueError(f"{at}: no registered op {excerpt(target)}") from None
    elif target not in FUNCTIONS:
        raise ValueError(f"{at}: no graph function {excerpt(target)}; known: {', '.join(sorted(FUNCTIONS))}")


def _decode(value, where: str, step: str, seen: set):
    if isinstance(value, list):
        return [_decode(v, where, step, seen) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: v for k, v in value.items() if k != "__line__"}
    if len(value) == 1 and next(iter(value)) in TAGS:
        (tag, inner), = value.items()
        if not isinstance(inner, TAGS[tag][0]) or (tag == "slice" and not 1 <= len(inner) <= 3):
            raise ValueError(f"{where}: step {excerpt(step)}: {{{tag}: ...}} holds {TAGS[tag][1]}, got {excerpt(inner)}")
        if tag == "ref":
            if inner not in seen:
                raise ValueError(f"{where}: step {excerpt(step)} reads {excerpt(inner)}, which no earlier step makes")
            return Ref(inner)
        if tag == "tuple":
            return tuple(_decode(v, where, step, seen) for v in inner)
        if tag == "slice":
            return slice(*(_decode(v, where, step, seen) for v in inner))
        return {k: _decode(v, where, step, seen) for k, v in inner.items() if k != "__line__"}
    return {k: _decode(v, where, step, seen) for k, v in value.items()}


# the mappings that stand for something else than a mapping: {tag: what it holds}
TAGS = {"ref": (str, "a step's name"), "tuple": (list, "a list"), "slice": (list, "a list of 1 to 3 values"),
        "dict": (dict, "a mapping")}
