"""Capture: the graph PyTorch itself records when a module runs, at real shapes (torch.export).

torch.export runs the module's Python on a sample whose shapes are real (its values are not), so
control flow over shapes (TensorFlow's 'same' padding, `if skip.shape[1] != 0`, `isinstance(x,
Tensor)`) goes the way it goes when the module runs, subclasses and modules convscope does not know
need nothing (their calls are recorded as ATen ops), and `torch._assert` is an assertion node,
dropped. The batch axis is left dynamic (sizes computed from it are graph values); the other axes
are those of the sample. Each node carries its output shape (`meta["val"]`) and the stack of module
calls it was recorded in (`meta["nn_module_stack"]`), which name layers and errors.
"""
from __future__ import annotations

import contextlib
import io
import warnings

SAMPLE_BATCH = 2  # a batch of 1 would be taken as a constant (torch.export specialises sizes 0 and 1)


def declared_shape(module):
    """The input shape (one sample) the module declares: timm's `pretrained_cfg["input_size"]`, or None."""
    cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None)
    if isinstance(cfg, dict) and cfg.get("input_size"):
        return tuple(int(s) for s in cfg["input_size"])
    return None


def export(module, input_shape, batch: int = SAMPLE_BATCH):
    """torch.export's program of `module` in eval mode on a zero sample of `input_shape` (modes put
    back), the batch axis dynamic where the module allows it. A module the capture cannot follow
    raises one ValueError naming it, the shape and torch's reason (its first line)."""
    import torch

    x = torch.zeros(batch, *input_shape)
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            try:
                return torch.export.export(module, (x,), dynamic_shapes=({0: torch.export.Dim.AUTO},), strict=False)
            except Exception:  # noqa: BLE001 - a batch axis the module fixes: capture it as it is
                return torch.export.export(module, (x,), strict=False)
    except Exception as err:  # noqa: BLE001 - torch's reason, in one line
        raise ValueError(_why(module, x, input_shape, err)) from None
    finally:
        for m, mode in modes:
            m.training = mode


def _why(module, x, input_shape, err) -> str:
    """Whether PyTorch cannot run the module on the sample at all, or runs it and cannot capture it."""
    import torch

    shape = "x".join(map(str, input_shape))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module(x)
    except Exception as ran:  # noqa: BLE001 - the input does not fit the module
        return (f"{type(module).__name__}: PyTorch cannot run it on one sample of shape {shape}: "
                f"{type(ran).__name__}: {_first_line(ran)}")
    return (f"{type(module).__name__}: PyTorch runs it on a sample of shape {shape} but torch.export cannot "
            f"capture it: {type(err).__name__}: {_first_line(err)}")


def _first_line(err) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def decompose(program, ops):
    """`program` with the ATen ops `ops` (OpOverloads) replaced by their decompositions into core
    ATen ops (PyTorch's own tables), the rest kept as they are; None when PyTorch has none of them."""
    import torch

    table = torch.export.default_decompositions()
    chosen = {op: table[op] for op in ops if op in table}
    if not chosen:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return program.run_decompositions(chosen)


def named_arguments(node) -> dict | None:
    """An ATen node's arguments by the names of its schema (defaults filled in), or None if the
    target has no schema."""
    schema = getattr(node.target, "_schema", None)
    if schema is None:
        return None
    out = {}
    for i, arg in enumerate(schema.arguments):
        if i < len(node.args) and not arg.kwarg_only:
            out[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        else:
            out[arg.name] = arg.default_value if arg.has_default_value() else None
    return out


def defaults(node) -> dict:
    schema = getattr(node.target, "_schema", None)
    return {a.name: a.default_value for a in schema.arguments if a.has_default_value()} if schema else {}


def aten_name(target) -> str | None:
    """`conv2d` for aten.conv2d.default (in-place forms as their plain op: `relu_` is `relu`)."""
    packet = getattr(target, "_overloadpacket", None)
    if packet is None or getattr(target, "namespace", "aten") != "aten":
        return None
    name = packet.__name__
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


def module_stack(node) -> list:
    """[(path, class name)] of the module calls the node was recorded in, outermost first (the root
    module's path is "")."""
    stack = node.meta.get("nn_module_stack") or {}
    return [(key, path, cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}")
            for key, (path, cls) in stack.items()]


def shape_of(node):
    """The output shape torch recorded for a node (the batch axis as None when it is dynamic), or
    None when its output is not one tensor."""
    val = node.meta.get("val")
    if not hasattr(val, "shape"):
        return None
    return tuple(s if isinstance(s, int) else None for s in val.shape)
