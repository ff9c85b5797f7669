"""Model files, the layer form: a YAML list of layers (type + arguments), with residual and concat blocks.

    name: lenet_digits
    input_shape: [1, 8, 8]
    layers:
      - {type: Conv2d, in_channels: 1, out_channels: 16, kernel_size: 3, padding: 1}
      - {type: ReLU}
      - {type: Residual, body: [{type: Conv2d, ...}, ...], shortcut: {type: Conv2d, ...}}
      - {type: Concat, branches: [[...], {type: Identity}], dim: 1}

A layer argument (a Residual's body or shortcut, a Concat branch) is a list of layers (built as a
Sequential) or a single layer. A converted network is written in the graph form (`graph_form`).

Each layer's arguments and checks come from its declaration in the layer registry
(`convscope.nn.registry`). Errors name the file, the line and the layer.
"""
from __future__ import annotations

from pathlib import Path

from .. import nn
from ..nn.containers import GraphModel
from . import bounded_yaml, graph_form
from .layer_spec import build_sequence, spec_list
from .values import parse_shape


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
    Sequential), or the graph form a converted network is written in (see `convscope.model_files.graph_form`).

    meta=True builds it shape-only (`nn.init.meta`): parameters with shapes and dtypes but no data,
    so a model of any size is summarised without allocating its weights; it cannot run or train.
    """
    where = str(source) if _is_path(source) else "<model>"
    text = bounded_yaml.decode(Path(source).read_bytes() if _is_path(source) else source, where)
    doc = bounded_yaml.load(text, where, _loader())
    if isinstance(doc, list):
        doc = {"layers": doc, "__line__": 1}
    if graph_form.is_graph(doc):
        def build():
            return graph_form.build(doc, where)
    elif isinstance(doc, dict) and isinstance(doc.get("layers"), list):
        def build():
            return build_sequence(doc["layers"], where, doc["__line__"])
    else:
        raise ValueError(f"{where}: a model file is a mapping with a 'layers' list (or just the list), or a graph "
                         "with 'modules', 'steps' and 'output'")
    if not meta:  # all the weights together must fit, not only each array: decide before allocating
        from ..analysis.memory import require_weights_fit

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


def to_document(model, name: str | None = None, input_shape=None) -> dict:
    """The whole model file as data: name, input_shape (one sample) and the layers (or, for a
    converted graph, its modules and steps)."""
    if isinstance(model, GraphModel):
        return graph_form.to_document(model, name, input_shape)
    layers = spec_list(model)
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
        return graph_form.dump(doc)
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
