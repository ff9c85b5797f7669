"""The layer registry: each `nn` layer declares once its constructor arguments (type and checks), its
PyTorch twin and the ONNX ops that build it. Model files and the bridges read these declarations
instead of keeping their own per-layer tables.

A declaration sits beside its layer:

    @register(args=dict(in_features=count(), out_features=count(), bias=flag()),
              torch=TorchTwin("Linear", read={"bias": has_bias}), onnx=(OnnxImport("Gemm", linear_from_gemm),))
    class Linear(Module): ...

The argument names must be exactly the constructor's (defaults are read from the signature, so
they are written once); `bind` checks and normalises the values and stores them on the layer.
"""
from __future__ import annotations

import functools
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..messages import excerpt
from ..ops.geometry import _check_int, _pad_pair, ntuple
from .init import building_meta, is_meta


# ------------------------------------------------------------------------------ argument types

@dataclass(frozen=True)
class ArgType:
    """How one constructor argument is checked and normalised; `text` says in words what it accepts;
    `draw(rnd, n)` gives a small value of the type from a `random.Random` (generated tests build every
    registered layer from its declaration with it; a drawn value may still fail a layer's checks)."""
    text: str
    check: Callable  # (layer name, argument name, value, number of spatial axes) -> normalised value
    modules: bool = False  # the value is a layer (or layers): model files write it as a list of layers
    draw: Callable = lambda rnd, n: None


def count(minimum: int = 1) -> ArgType:
    """An int >= minimum (channels, features, k)."""
    return ArgType(f"int >= {minimum}", lambda layer, name, v, n: _check_int(name, v, minimum, layer, None),
                draw=lambda rnd, n: rnd.randint(minimum, minimum + 4))


def _one_or_each(rnd, n, value):
    """value() once (an int for every axis), or a tuple of one per axis."""
    return value() if n is None or rnd.random() < 0.5 else tuple(value() for _ in range(n))


def per_axis(minimum: int = 1) -> ArgType:
    """An int repeated over the spatial axes, or one int per axis (kernel_size, stride, dilation)."""
    def check(layer, name, v, n):
        return tuple(_check_int(name, e, minimum, layer, a) for a, e in enumerate(ntuple(v, n, name, layer)))
    return ArgType(f"int >= {minimum} or a tuple of one per axis", check,
                draw=lambda rnd, n: _one_or_each(rnd, n, lambda: rnd.randint(minimum, minimum + 2)))


def padding(*strings: str) -> ArgType:
    """One of `strings`, an int, one int per axis, or one (lo, hi) pair per axis."""
    def check(layer, name, v, n):
        if isinstance(v, str):
            if v not in strings:
                allowed = f"one of {', '.join(map(repr, strings))}, " if strings else ""
                raise ValueError(f"{layer}: {name} {excerpt(v)} is not allowed; use {allowed}an int or a tuple")
            return v
        per = ntuple(v, n, name, layer)
        pairs = [_pad_pair(p, layer, a) for a, p in enumerate(per)]
        return tuple(pair if isinstance(p, (tuple, list)) else pair[0] for p, pair in zip(per, pairs))
    def draw(rnd, n):
        if strings and rnd.random() < 0.3:
            return rnd.choice(strings)
        if n is not None and rnd.random() < 0.25:
            return tuple((rnd.randint(0, 2), rnd.randint(0, 2)) for _ in range(n))
        return _one_or_each(rnd, n, lambda: rnd.randint(0, 2))
    return ArgType(" | ".join([*map(repr, strings), "int", "tuple"]), check, draw=draw)


def flag() -> ArgType:
    def check(layer, name, v, n):
        if not isinstance(v, (bool, np.bool_)) and v not in (0, 1):
            raise TypeError(f"{layer}: {name} must be True or False, got {excerpt(v)}")
        return bool(v)
    return ArgType("bool", check, draw=lambda rnd, n: rnd.random() < 0.5)


def real(low: float = -np.inf, high: float = np.inf, *, high_open: bool = False, low_open: bool = False) -> ArgType:
    """A float in [low, high] (an end excluded when `*_open`)."""
    lo_b, hi_b = "(" if low_open else "[", ")" if high_open else "]"
    text = f"float in {lo_b}{low}, {high}{hi_b}"

    def check(layer, name, v, n):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{layer}: {name} must be a number, got {excerpt(v)}")
        if v < low or v > high or (low_open and v == low) or (high_open and v == high):
            raise ValueError(f"{layer}: {name} must be in {lo_b}{low}, {high}{hi_b}, got {v}")
        return float(v)
    def draw(rnd, n):
        lo = low if np.isfinite(low) else min(-2.0, high - 2.0)
        hi = high if np.isfinite(high) else lo + 4.0
        return rnd.uniform(lo, hi) if not (low_open and lo == low) else rnd.uniform(lo + (hi - lo) / 100, hi)
    return ArgType(text, check, draw=draw)


def axis() -> ArgType:
    """An axis index (negative counts from the end)."""
    def check(layer, name, v, n):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{layer}: {name} must be an int axis, got {excerpt(v)}")
        return int(v)
    return ArgType("int axis", check, draw=lambda rnd, n: rnd.choice([1, -1]))


def optional(arg_type: ArgType) -> ArgType:
    """None, or a value of `arg_type` (e.g. a pool's stride: None means the kernel size)."""
    return ArgType(f"None or {arg_type.text}", lambda layer, name, v, n: None if v is None else arg_type.check(layer, name, v, n),
                arg_type.modules, lambda rnd, n: None if rnd.random() < 0.5 else arg_type.draw(rnd, n))


def module() -> ArgType:
    """A layer (or block); model files write it as a list of layers."""
    def check(layer, name, v, n):
        from .module import Module

        if not isinstance(v, Module):
            raise TypeError(f"{layer}: {name} is a {type(v).__name__}, not a Module")
        return v
    return ArgType("Module", check, modules=True)


# ------------------------------------------------------------------------------ twins

@dataclass(frozen=True)
class TorchTwin:
    """The PyTorch layer computing the same thing, with the same parameter names.

    name: a class of torch.nn ("Conv2d"), "blocks.<Name>" for one of convscope.bridges.torch_blocks,
        or the dotted path of a class in another package ("torchvision.ops.StochasticDepth").
    fixed: extra constructor arguments of the twin; on import they must match (GlobalPool kind).
    refuse: twin attributes that must have this value to be convertible (padding_mode='zeros').
    read: argument -> function(torch module) where the twin stores it differently (bias).
    build: function(layer, args, convert, torch.nn, torch_blocks) -> torch module, when the twin's
        constructor differs from ours (padded convolutions, containers).
    fallback: for a dotted path, a function returning a torch class that computes the same, used
        when that package cannot be imported (it then stands for the twin both ways).
    """
    name: str
    fixed: dict = field(default_factory=dict)
    refuse: dict = field(default_factory=dict)
    read: dict = field(default_factory=dict)
    build: Callable | None = None
    fallback: Callable | None = None

    def resolve(self, nn, blocks):
        """The twin's class, given torch.nn and convscope's torch_blocks (both imported by the caller);
        a dotted path is imported here, so a twin outside torch.nn costs its package only when used."""
        if self.name.startswith("blocks."):
            return getattr(blocks, self.name.split(".", 1)[1])
        if "." not in self.name:
            return getattr(nn, self.name)
        module, _, cls = self.name.rpartition(".")
        try:
            return getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError, RuntimeError, OSError) as err:  # missing, or built for another torch
            if self.fallback is not None:
                return self.fallback()
            raise ValueError(f"the PyTorch twin {self.name} cannot be imported ({err}); install its package") from None


@dataclass(frozen=True)
class OnnxImport:
    """An ONNX op that builds this layer on import. `when(node)` picks among layers sharing an op
    (by rank); `build(node)` returns (constructor arguments, state dict of weights) where `node`
    offers .attrs, .const(i) (a constant input or None), .rank (input rank or None) and
    .pads(kernel, stride, dilation) (ONNX pads or auto_pad as (lo, hi) per axis)."""
    op: str
    build: Callable
    when: Callable = lambda node: True


def has_bias(m) -> bool:
    return getattr(m, "bias", None) is not None


# ------------------------------------------------------------------------------ declarations

@dataclass(frozen=True)
class Declaration:
    cls: type
    args: dict  # name -> ArgType, in constructor order
    signature: inspect.Signature
    n: int | None = None  # spatial axes, for layers with a fixed dimensionality
    checks: tuple = ()  # functions(layer name, normalised args) raising on a bad combination, or
    # returning the arguments with a derived value filled in
    torch: TorchTwin | None = None
    onnx: tuple = ()
    form: Callable | None = None  # (layer, watch) -> its eval form (`nn.forms`) or None; watch(owner,
    # attribute) reads an array the form copies from, so that the plan is remade when it is replaced

    @property
    def name(self) -> str:
        return self.cls.__name__

    def variadic(self, name: str) -> bool:
        return self.signature.parameters[name].kind is inspect.Parameter.VAR_POSITIONAL

    def bind(self, values: dict) -> dict:
        """Check and normalise the constructor's arguments (its locals()); every default filled in."""
        out = {}
        for name, arg_type in self.args.items():
            v = values[name]
            if self.variadic(name) and not isinstance(v, (tuple, list)):
                raise TypeError(f"{self.name}: {name} is a list of values, got {excerpt(v)}")
            out[name] = tuple(arg_type.check(self.name, f"{name}[{i}]", e, self.n) for i, e in enumerate(v)) \
                if self.variadic(name) else arg_type.check(self.name, name, v, self.n)
        for check in self.checks:  # a check may also fill in a derived value (a pool's stride)
            out = check(self.name, out) or out
        return out


_DECLARED: dict[str, Declaration] = {}


def register(args: dict | None = None, *, n: int | None = None, checks=(), torch: TorchTwin | None = None,
             onnx=(), form: Callable | None = None):
    """Class decorator declaring a layer. Refuses argument declarations that do not match the
    constructor (a missing, extra or misspelled name), unknown argument types and a second layer of the same name."""
    args = dict(args or {})

    def declare(cls):
        name = cls.__name__
        sig = inspect.signature(cls.__init__)
        params = [p for p in list(sig.parameters)[1:] if sig.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD]
        if list(args) != params:
            raise TypeError(f"register {name}: declared arguments {list(args)} differ from the constructor's "
                            f"{params} (same names, same order)")
        bad = [k for k, v in args.items() if not isinstance(v, ArgType)]
        if bad:
            raise TypeError(f"register {name}: arguments {bad} need an argument type (count(), per_axis(), padding(), ...)")
        if name in _DECLARED and _DECLARED[name].cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"register {name}: a layer of that name is already registered")
        decl = Declaration(cls, args, sig.replace(parameters=list(sig.parameters.values())[1:]), n, tuple(checks),
                           torch, tuple(onnx), form)
        _DECLARED[name] = decl
        cls.declaration = decl
        if not getattr(cls.forward, "refuses_meta", False):
            cls.forward = _refusing_meta(cls.forward)
        return cls
    return declare


def _refusing_meta(forward):
    """Running a layer whose parameters are shape-only (built under `init.meta()`) on real data would
    compute with zeros: refuse it, naming the way out. Shape-only inputs (the analysis tracer's) pass."""
    @functools.wraps(forward)
    def run(self, *args):
        if self.__dict__.get("_meta") and any(p is not None and is_meta(p.data) for p in self._parameters.values()) \
                and not all(is_meta(getattr(a, "data", a)) for a in args):
            raise ValueError("its parameters are shape-only (meta), built for analysis: it cannot run or train; "
                             "build it without meta=True")
        return forward(self, *args)
    run.refuses_meta = True
    return run


def unregister(name: str) -> None:
    """Forget a layer (tests that declare their own)."""
    _DECLARED.pop(name, None)


def declarations() -> dict[str, Declaration]:
    """Every registered layer by class name, in registration order."""
    return dict(_DECLARED)


def declaration(layer_or_name, inherited: bool = False) -> Declaration | None:
    """The declaration of a layer class, instance or name, if it is registered. A subclass has none
    of its own (its constructor may differ); `inherited=True` gives its nearest registered base's."""
    if isinstance(layer_or_name, str):
        return _DECLARED.get(layer_or_name)
    cls = layer_or_name if isinstance(layer_or_name, type) else type(layer_or_name)
    for base in cls.__mro__ if inherited else (cls,):
        decl = _DECLARED.get(base.__name__)
        if decl is not None and decl.cls is base:
            return decl
    return None


def bind(layer, values: dict) -> dict:
    """In a constructor: check its arguments (`locals()`) and store each normalised one as an attribute
    (PyTorch's habit)."""
    decl = declaration(layer, inherited=True)
    args = decl.bind(values)
    object.__setattr__(layer, "_meta", building_meta())  # so running a layer checks its parameters only if so
    for name, value in args.items():
        if not decl.args[name].modules:
            setattr(layer, name, value)
    return args


def arguments(layer) -> dict:
    """The normalised constructor arguments of a registered layer, defaults included: derived from the
    arguments it was built with (`Module.config()`, the one record of them)."""
    decl = declaration(layer)
    if any(t.modules for t in decl.args.values()):
        return {}  # a container's twin is built from its children (TorchTwin.build), not from arguments
    defaults = {k: p.default for k, p in decl.signature.parameters.items() if p.default is not p.empty}
    return decl.bind({**defaults, **layer.config()})


def torch_twins() -> dict[str, list[Declaration]]:
    """Twin class name -> the declarations that convert from it (several when `fixed` tells them apart)."""
    out: dict = {}
    for decl in _DECLARED.values():
        if decl.torch is not None:
            out.setdefault(decl.torch.name.split(".")[-1], []).append(decl)
    return out


def onnx_imports(op: str) -> list[tuple[Declaration, OnnxImport]]:
    """The layers an ONNX op type can build, with their import rules."""
    return [(d, imp) for d in _DECLARED.values() for imp in d.onnx if imp.op == op]


def torch_names() -> list[str]:
    """The PyTorch layers that convert to convscope layers (containers are traced through instead)."""
    return [d.torch.name for d in _DECLARED.values() if d.torch is not None and
            not d.torch.name.startswith("blocks.") and not any(t.modules for t in d.args.values())]
