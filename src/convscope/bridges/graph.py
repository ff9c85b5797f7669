"""The graph interpreter both bridges build: a model whose forward replays a converted graph
(torch.fx or ONNX) step by step with convscope layers and functions."""
from __future__ import annotations

from ..nn import functional as F
from ..nn import plan
from ..nn.module import Module


class Ref:
    """A reference to the value of an earlier graph node."""

    def __init__(self, name: str):
        self.name = name


class GraphModel(Module):
    """A model converted from a graph (torch.fx or ONNX): submodules keep their original names, and
    forward replays the graph's steps with convscope layers and functions.

    steps: (name, kind, fn, args, kwargs) in order; kind "input" takes the next forward argument,
    any other kind stores fn(*args, **kwargs), where a Ref in args stands for an earlier value.
    """

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "steps", [])
        object.__setattr__(self, "output_ref", None)

    def place(self, path: str, module: Module) -> None:
        """Attach `module` at a dotted path, making plain container modules on the way."""
        *parents, last = path.split(".")
        owner = self
        for name in parents:
            if name not in owner._modules:
                setattr(owner, name, Module())
            owner = owner._modules[name]
        setattr(owner, last, module)

    def get(self, path: str):
        owner = self
        for name in path.split("."):
            owner = owner._modules[name] if name in owner._modules else owner._parameters[name]
        return owner

    def forward(self, *inputs):
        if plan.applies(self):  # eval + no_grad: the execution plan (convscope.nn.plan)
            return plan.run(self, inputs, self.steps, self.output_ref, Ref)
        env = {}
        fetch = lambda v: env[v.name] if isinstance(v, Ref) else (  # noqa: E731
            type(v)(fetch(a) for a in v) if isinstance(v, (list, tuple)) else v)
        feed = iter(inputs)
        for name, kind, fn, args, kwargs in self.steps:
            if kind == "input":
                env[name] = next(feed)
            else:
                env[name] = fn(*(fetch(a) for a in args), **{k: fetch(v) for k, v in kwargs.items()})
        return fetch(self.output_ref)


def keepdims_pool(kind: str):
    """Adaptive pooling to output size 1 (global pooling keeping the spatial axes as 1s), or to the
    input's own size (the identity), as PyTorch's adaptive pools and ONNX's global pools compute."""
    def pool(x, output_size=1):
        size = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * (x.ndim - 2)
        if all(s == 1 for s in size):
            y = F.global_avg_pool(x) if kind == "avg" else F.global_max_pool(x)
            return y.reshape(*y.shape, *([1] * (x.ndim - 2)))
        if tuple(size) == tuple(x.shape[2:]):
            return x
        raise ValueError(f"adaptive_{kind}_pool to {tuple(size)} from {tuple(x.shape[2:])}: only output 1 "
                         "(global pooling) or the input size is supported")
    return pool
