"""PyTorch bridge: any torch.nn.Module as a convscope model, captured as PyTorch runs it
(torch.export, real shapes, ATen ops), and convscope models handed to PyTorch to scale out. torch is
imported only here, only when called (`pip install convscope[torch]`).

A captured graph becomes a GraphModel whose steps name what they run: a converted layer (one per
torch module with a convscope twin, however often it is called), a registered op (matched by its
declared ATen names) or a graph function (FUNCTIONS in graph.py). See torch_capture and torch_convert.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..nn import registry
from ..nn.containers import GraphModel
from ..nn.graph import FUNCTIONS
from ..nn.module import Module
from ..ops import registry as op_registry
from ..tensor import apply, state_changed

__all__ = ["GraphModel", "CapturedModel", "from_torch", "to_torch", "analysis_model"]

# torch keyword arguments that change nothing convscope computes when they have this value
IGNORED = {"inplace": None, "return_indices": False, "divisor_override": None, "memory_format": None, "dtype": None}


def _one_input_ops() -> dict:
    """Registered ops with one tensor input, by each of their torch names: torch's positional
    arguments after the input are the op's attributes, in order."""
    def one_input(op) -> bool:
        kinds = [p.kind for p in inspect.signature(op.forward).parameters.values() if p.kind is not p.KEYWORD_ONLY]
        return kinds == [inspect.Parameter.POSITIONAL_OR_KEYWORD]
    return {name: op for op in op_registry.all_ops() if op.torch and one_input(op) for name in op.torch}


def _keep(key: str, value) -> bool:
    """Whether a torch keyword argument matters (inplace=True only saves memory in torch; private
    ones such as softmax's _stacklevel only steer torch's warnings)."""
    if key.startswith("_"):
        return False
    return key not in IGNORED or (key != "inplace" and value != IGNORED[key])


def _snake(name: str) -> str:
    return name.replace("_", "").lower()


class OpLayer(Module):
    """A torch module whose functional form is a registered op (nn.Hardswish is F.hardswish): the op
    with the module's attributes. Subclassed per torch class, so summaries show torch's name."""

    def __init__(self, op_name: str, **attrs):
        super().__init__()
        self.op_name, self.attrs = op_name, attrs

    def forward(self, x):
        return apply(op_registry.get(self.op_name), x, **self.attrs)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())


_OP_LAYERS: dict = {}


def _op_layer(m, ops: dict):
    """OpLayer for a parameterless torch module named like a one-input op (SiLU -> silu), or None."""
    if any(True for _ in m.parameters()) or any(_keep(k, getattr(m, k)) for k in IGNORED if hasattr(m, k)):
        return None  # weights need a registered layer; return_indices=True is not the op's output
    op = next((op for name, op in ops.items() if _snake(name) == _snake(type(m).__name__)), None)
    if op is None:
        return None
    cls = _OP_LAYERS.setdefault(type(m).__name__, type(type(m).__name__, (OpLayer,), {}))
    return cls(op.name, **{a: getattr(m, a) for a in op.attrs if hasattr(m, a)})


def _twin_class(twin, t, blocks):
    """The torch class a twin names: torch.nn.<Name>, torch_blocks.<Name> or a dotted path."""
    return twin.resolve(t, blocks)


def _twin_base(m):
    """The class whose twin converts `m`: its own, or the nearest base with a twin whose forward `m`
    runs unchanged (`class C2(nn.Conv2d): pass`); a subclass with its own forward (timm's Linear)
    is captured through its ops instead."""
    cls = type(m)
    if hasattr(m, "convscope_padding"):  # to_torch's padded convolutions: pad, then the parent's conv
        return cls.__mro__[1]
    twins = registry.torch_twins()
    return next((base for base in cls.__mro__ if base.__name__ in twins and
                 getattr(base, "forward", None) is cls.forward), cls)


def _module_of(m):
    """The convscope layer for a torch layer, with the same arguments and weights: the registered
    layer whose PyTorch twin is m's class (and whose fixed arguments m has)."""
    import torch.nn as t

    from . import torch_blocks as tb

    cls = _twin_base(m)
    for decl in registry.torch_twins().get(cls.__name__, []):
        twin = decl.torch
        if _twin_class(twin, t, tb) is not cls or any(getattr(m, k) != v for k, v in twin.fixed.items()):
            continue
        refused = [f"{k}={getattr(m, k)!r} (only {v!r} is supported)" for k, v in twin.refuse.items()
                   if getattr(m, k, v) != v]
        if refused:
            raise ValueError(f"{cls.__name__}: " + ", ".join(refused))
        out = decl.cls(**{a: twin.read[a](m) if a in twin.read else getattr(m, a) for a in decl.args})
        out.load_state_dict({k: v.detach().cpu().numpy() for k, v in m.state_dict().items()
                             if not k.endswith("num_batches_tracked")})
        return out.train(m.training)
    return None


# ------------------------------------------------------------------------------ capture

def _is_leaf(m) -> bool:
    """Twins stand for leaf layers (containers are captured through), and for to_torch's own blocks."""
    from . import torch_blocks as tb

    return not any(True for _ in m.children()) or isinstance(m, (tb.GlobalPool, tb.KMax))


def _layers(module):
    """layer_for(path) -> the convscope layer for the torch module at `path` (made once, so a module
    called again is the same layer and its weights stay tied), or None when it has no twin."""
    made: dict = {}
    ops = _one_input_ops()

    def layer_for(path: str):
        if path not in made:
            sub = module.get_submodule(path) if path else None
            try:
                made[path] = (_module_of(sub) or _op_layer(sub, ops)) if sub is not None and _is_leaf(sub) else None
            except (ValueError, TypeError, AttributeError):  # a setting the twin refuses, an empty
                made[path] = None  # container: the module's ATen ops (if any) stand for it
        return made[path]
    return layer_for


def _capture(model, module, input_shape, opaque: bool, layer_for, batch: int = 2):
    """Fill `model` (a GraphModel holding the module's state) with the steps of `module` captured on
    `input_shape`; (steps, output, the input's shape as captured: None for a dynamic axis)."""
    from . import torch_capture as cap
    from .torch_convert import Converter, unconverted

    program = cap.export(module, input_shape, batch)
    for _ in range(3):  # ops convscope lacks, through PyTorch's decompositions (which may need more)
        missing = unconverted(program, layer_for)
        decomposed = cap.decompose(program, missing) if missing else None
        if decomposed is None:
            break
        program = decomposed
    conv = Converter(module, program, model, layer_for, opaque)
    steps, output = conv.run()
    message = conv.refusal()
    if message is not None:
        raise ValueError(message)
    user = {s.arg.name for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"}
    return steps, output, cap.shape_of(next(n for n in program.graph.nodes if n.name in user))


class CapturedModel(GraphModel):
    """A torch module as a GraphModel: its layers, parameters and buffers (in PyTorch's order), and
    the steps captured at each sample shape it was called with (the batch axis dynamic when PyTorch
    allowed it). A shape not seen yet is captured while the torch module it came from lives (once
    per shape, the layers and parameters kept, so trained weights stay)."""

    def __init__(self, module=None, opaque: bool = False):
        super().__init__()
        object.__setattr__(self, "_graphs", {})
        object.__setattr__(self, "_opaque", opaque)
        object.__setattr__(self, "_layer_for", None if module is None else _layers(module))
        object.__setattr__(self, "_source", None)
        if module is not None:
            import weakref

            from .torch_convert import place_state

            place_state(self, module, self._layer_for)
            object.__setattr__(self, "_source", weakref.ref(module))

    def capture(self, shape, batch: int = 2) -> None:
        """Capture the steps for one sample shape (on a batch of `batch`, the first call's own:
        a module taking unbatched input captures as it runs) and run them from now on."""
        shape = tuple(int(s) for s in shape)
        module = self._source() if self._source is not None else None
        if module is None:
            captured = ", ".join("x".join(map(str, k)) for k in self._graphs) or "no shape"
            raise ValueError(f"from_torch: this model was captured at sample shape {captured}; at "
                             f"{'x'.join(map(str, shape))} convert again with from_torch(module, input_shape={shape})")
        self._graphs[shape] = _capture(self, module, shape, self._opaque, self._layer_for, batch)
        self._use(shape)

    def _recapture(self, shape, inputs) -> None:
        """Capture at a new input shape; an input PyTorch cannot take either gets the error of the
        layer that refuses it (the steps captured before run on it) rather than PyTorch's."""
        try:
            self.capture(shape[1:], shape[0])
        except ValueError:
            if self.steps:
                super().forward(*inputs)  # raises the convscope layer's own error, if one refuses
            raise

    def _use(self, shape) -> None:
        steps, output, _ = self._graphs[shape]
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "output_ref", output)
        state_changed()  # the execution plan of the old steps is stale

    def _key(self, shape) -> tuple:
        """The sample shape whose graph answers an input of this shape (the batch too when torch fixed it)."""
        for key, (_, _, captured) in self._graphs.items():
            if key == tuple(shape[1:]) and (captured[0] is None or captured[0] == shape[0]):
                return key
        return None

    def forward(self, *inputs):
        shape = tuple(getattr(inputs[0], "shape", ())) if inputs else ()
        if shape:
            key = self._key(shape)
            if key is None:
                self._recapture(shape, inputs)
            elif self._graphs[key][0] is not self.steps:
                self._use(key)
        return super().forward(*inputs)
    forward.runs_graph = True


def _captured(module, input_shape, opaque: bool) -> CapturedModel:
    from . import torch_capture as cap

    model = CapturedModel(module, opaque)
    shape = input_shape if input_shape is not None else cap.declared_shape(module)
    if shape is not None:
        model.capture(shape)
    return model


def from_torch(module, input_shape=None) -> GraphModel:
    """A convscope model with the structure and weights of a torch.nn.Module, captured as PyTorch runs
    it (torch.export at real shapes): layers with a convscope twin become those layers (named by
    their module path; a module called several times is one layer), everything else the registered
    ops of its ATen ops. Parameters keep their PyTorch names; the forward returns what the torch
    module returns (a tensor, or tuples and dicts of them).

    `input_shape`: one sample's shape, channels first; without it, the one the module declares
    (timm's `pretrained_cfg`), else the model is captured at its first call (its layers and weights
    are there from the start). The batch axis is free; at another sample shape the model is
    captured again from `module` while it lives.
    What does not convert raises one ValueError: each op with its count and module path.
    """
    model = _captured(module, input_shape, opaque=False)
    return model.train(module.training)


def analysis_model(module, input_shape) -> GraphModel:
    """The model the analysis reads: from_torch's, except that an operation convscope cannot run is a
    step known by its shape only (the shape torch recorded; counted as nothing and flagged) instead
    of an error. Its forward cannot run those steps: it is for `trace` and `summary`."""
    return _captured(module, input_shape, opaque=True).eval()


# ------------------------------------------------------------------------------ to torch

def to_torch(model):
    """A torch.nn.Module computing what `model` computes (built-in layers and blocks), with its
    weights; train it with DistributedDataParallel, export it, run it on a GPU."""
    import torch

    out = _torch_of(model)
    state = {k: torch.tensor(np.ascontiguousarray(v)) for k, v in model.state_dict().items()}
    missing, unexpected = out.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"to_torch: weights do not line up: missing {missing}, unexpected {unexpected}")
    return out.train(model.training)


def _torch_of(m):
    """The torch module for a registered convscope layer: its twin built from the layer's arguments."""
    import torch.nn as t

    from . import torch_blocks as tb

    decl = registry.declaration(m)
    if decl is None:
        raise ValueError(f"to_torch: {type(m).__name__} is not a built-in convscope layer or block (custom modules "
                         f"need a hand-written PyTorch twin); config: {m.config()}")
    if decl.torch is None:
        raise ValueError(f"to_torch: {decl.name} declares no PyTorch twin (register(..., torch=TorchTwin(...)))")
    twin, args = decl.torch, registry.arguments(m)
    if twin.build is not None:
        return twin.build(m, args, _torch_of, t, tb)
    return _twin_class(twin, t, tb)(**args, **twin.fixed)
