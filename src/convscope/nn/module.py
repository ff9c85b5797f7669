"""Module: the base of every layer and model, with PyTorch's names and habits."""
from __future__ import annotations

import contextlib
import inspect
from collections import OrderedDict

import numpy as np

from ..ops.registry import current_interpreter
from ..tensor import Tensor, state_changed


_observers: list = []  # callables (module, output) run after every module call (see observe())


def observe(callback):
    """Context manager: call callback(module, output) after every module's forward."""
    @contextlib.contextmanager
    def scope():
        _observers.append(callback)
        try:
            yield
        finally:
            _observers.remove(callback)
    return scope()


class Parameter(Tensor):
    """A tensor a module learns: requires_grad, listed by parameters() and state_dict()."""

    def __init__(self, data):
        super().__init__(np.asarray(data), requires_grad=True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Holds parameters, buffers (e.g. running statistics) and child modules.

    Subclasses set attributes in __init__ and write forward(). The constructor's arguments are
    recorded (`config()`), so any model can be written back to a model file (`convscope.to_yaml`).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        def recording_init(self, *args, **kw):
            if not hasattr(self, "_config"):  # the most derived class records its arguments
                bound = inspect.signature(init).bind(self, *args, **kw)
                object.__setattr__(self, "_config", {k: v for k, v in list(bound.arguments.items())[1:]})
            init(self, *args, **kw)
        recording_init.__signature__ = inspect.signature(init)
        recording_init.__doc__ = init.__doc__
        cls.__init__ = recording_init

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_name", "")

    def __setattr__(self, name, value):
        if "_modules" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before setting attributes")
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
            if not value._name:
                object.__setattr__(value, "_name", name)
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """State that is saved but not learned (BatchNorm's running statistics)."""
        self._buffers[name] = value
        object.__setattr__(self, name, value)
        state_changed()

    # ---------------------------------------------------------------- calling
    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args):
        interpreter = current_interpreter()
        try:
            if interpreter is not None:
                return interpreter.call_module(self, args)
            out = self.forward(*args)
            for observe in _observers:
                observe(self, out)
            return out
        except (ValueError, TypeError) as err:
            if self._modules or getattr(err, "labelled", False):
                raise
            labelled = type(err)(f"{self.label}: {err}")
            labelled.labelled = True
            raise labelled from None

    @property
    def label(self) -> str:
        """How errors name this layer: its class and, when it has one, its name in the model."""
        return f"{type(self).__name__} '{self._name}'" if self._name else type(self).__name__

    # ---------------------------------------------------------------- traversal
    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix: str = "", memo=None):
        """(name, module) for this module and every descendant, each module once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        return (m for _, m in self.named_modules())

    def get(self, path: str):
        """The submodule, parameter or buffer at a dotted path ("layer1.0.conv1", "fc.weight")."""
        owner = self
        for name in path.split("."):
            owner = owner._modules[name] if name in owner._modules else \
                owner._parameters[name] if name in owner._parameters or name not in owner._buffers else \
                owner._buffers[name]
        return owner

    def layer(self, name):
        """The submodule with this qualified name (a module passes through unchanged)."""
        if not isinstance(name, str):
            return name
        named = dict(self.named_modules())
        if name not in named:
            raise ValueError(f"no layer named {name!r}; layers: {', '.join(n for n in named if n)}")
        return named[name]

    def named_parameters(self):
        """(qualified name, Parameter), each shared parameter once."""
        seen = set()
        for prefix, module in self.named_modules():
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        for prefix, module in self.named_modules():
            for name, b in module._buffers.items():
                yield (f"{prefix}.{name}" if prefix else name), b

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, dtype):
        """Cast every parameter and buffer to `dtype` (float32 by default; float64 for exact checks)."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
        for m in self.modules():
            for name, b in m._buffers.items():
                m.register_buffer(name, b.astype(dtype))
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def train(self, mode: bool = True):
        if any(m.training != mode for m in self.modules()):
            state_changed()  # train-mode forwards moved the running statistics
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, by qualified name (PyTorch's names)."""
        state, seen = OrderedDict(), set()
        for prefix, module in self.named_modules():  # per module, parameters then buffers, as PyTorch
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    state[dot + name] = p.data.copy()
            for name, b in module._buffers.items():
                state[dot + name] = np.array(b, copy=True)
        return state

    def load_state_dict(self, state, strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers; one error lists every mismatch."""
        targets = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        own = {**{n: p.data for n, p in targets.items()}, **buffers}
        missing = [n for n in own if n not in state]
        unexpected = [n for n in state if n not in own]
        wrong = [f"{n}: file {tuple(np.shape(state[n]))} vs model {own[n].shape}"
                 for n in own if n in state and tuple(np.shape(state[n])) != own[n].shape]
        problems = (["missing keys: " + ", ".join(missing)] if missing and strict else []) + \
                   (["unexpected keys: " + ", ".join(unexpected)] if unexpected and strict else []) + \
                   (["shape mismatch: " + "; ".join(wrong)] if wrong else [])
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + " | ".join(problems))
        state_changed()
        for name, value in state.items():
            if name not in own:
                continue
            if own[name].flags.writeable:
                own[name][...] = value  # in place: optimizers keep their references
            elif name in targets:  # a shape-only parameter gets its data
                targets[name].data = np.array(value, dtype=own[name].dtype)
            else:
                owner, _, leaf = name.rpartition(".")
                self.layer(owner or self).register_buffer(leaf, np.array(value, dtype=own[name].dtype))

    def config(self) -> dict:
        """The constructor arguments this module was built with."""
        return dict(getattr(self, "_config", {}))

    # ---------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
