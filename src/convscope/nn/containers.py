"""Containers: chains (Sequential) and branches (Residual, Concat)."""
from __future__ import annotations

from collections import OrderedDict

from ..tensor import concat
from .module import Module


class Sequential(Module):
    """Layers applied in order; built from layers or from an OrderedDict of named layers."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            items = list(layers[0].items())
        else:
            items = [(str(i), layer) for i, layer in enumerate(layers)]
        for name, layer in items:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {name!r} is a {type(layer).__name__}, not a Module")
            setattr(self, name, layer)

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x

    def __getitem__(self, index):
        layers = list(self._modules.values())
        return Sequential(*layers[index]) if isinstance(index, slice) else layers[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Residual(Module):
    """y = body(x) + shortcut(x), with the identity as the default shortcut (He et al. 2016)."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if tuple(y.shape) != tuple(s.shape):
            raise ValueError(f"Residual: body output {tuple(y.shape)} and shortcut output {tuple(s.shape)} differ; "
                             "give a shortcut (e.g. a 1x1 Conv with the body's stride) that matches")
        return y + s


class Concat(Module):
    """Branches applied to the same input, their outputs joined along `dim` (channels by default)."""

    def __init__(self, *branches, dim=1):
        super().__init__()
        for i, branch in enumerate(branches):
            setattr(self, str(i), branch)
        self.dim = dim

    def forward(self, x):
        outs = [branch(x) for branch in self._modules.values()]
        shapes = [tuple(o.shape) for o in outs]
        if len({s[:self.dim] + s[self.dim + 1:] for s in shapes}) > 1:
            raise ValueError(f"Concat: branch outputs {shapes} differ outside dim {self.dim}")
        return concat(outs, axis=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}" if self.dim != 1 else ""
