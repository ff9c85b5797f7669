"""The graph runtime: a model as a list of steps over named values, and the one interpreter that
replays them. Converted networks (torch, ONNX) are graphs; a Sequential is the chain of its layers;
the execution plan (`nn.plan`) runs the same steps after fusing some of them.

A step is (name, kind, target, args, kwargs), a `Ref` in args or kwargs standing for the value of an
earlier step. Kinds: "input" takes the next forward argument; "module" calls the submodule at the
dotted path `target` (a module called twice is one submodule, stepped twice); "op" applies the
registered op named `target` (its attributes in kwargs); "function" calls the graph function
`FUNCTIONS[target]`; "const" reads the parameter at path `target`; "onnx" calls `target` itself (an
imported ONNX node: a layer, or shape arithmetic kept as a function).
"""
from __future__ import annotations

import operator

import numpy as np

from ..messages import excerpt
from ..ops import registry as op_registry
from ..tensor import Tensor, apply, concat
from . import functional as F
from . import graph_aten as _aten
from .module import Module


class Ref:
    """A reference to the value of an earlier step."""
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"Ref({self.name!r})"


def resolve(value, env: dict):
    """`value` with every Ref replaced by its value in `env`, inside tuples, lists, dicts and slices."""
    if isinstance(value, Ref):
        return env[value.name]
    if isinstance(value, dict):
        return {k: resolve(v, env) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(resolve(v, env) for v in value)
    if isinstance(value, slice):
        return slice(resolve(value.start, env), resolve(value.stop, env), resolve(value.step, env))
    return value


def refs(value) -> list[str]:
    """The names of the values `value` refers to, in order (with repeats)."""
    if isinstance(value, Ref):
        return [value.name]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, slice):
        value = [value.start, value.stop, value.step]
    if isinstance(value, (list, tuple)):
        return [name for v in value for name in refs(v)]
    return []


def target(model: Module, kind: str, path):
    """What a step of `model` calls: the submodule or parameter at a dotted path, a registered op, a
    graph function, or (kind "onnx") the target itself."""
    if kind == "module":
        return model.get(path)
    if kind == "op":
        op = op_registry.get(path)
        return lambda *xs, **attrs: apply(op, *(x if isinstance(x, Tensor) else Tensor(x) for x in xs), **attrs)
    if kind == "function":
        return FUNCTIONS[path]
    if kind == "const":
        return lambda: model.get(path)
    return path


def interpret(model: Module, steps, output, inputs):
    """Run the graph (`steps`, `output`) of `model` one step after the other on `inputs`; the value of
    `output` (Refs resolved)."""
    env, feed = {}, iter(inputs)
    for name, kind, path, args, kwargs in steps:
        if kind == "input":
            env[name] = next(feed)
        else:
            env[name] = call(name, kind, path, target(model, kind, path), resolve(args, env), resolve(kwargs, env))
    return resolve(output, env)


def call(name: str, kind: str, path, fn, args, kwargs):
    """fn(*args, **kwargs) for step `name`. A layer names itself in its errors; a graph function or an
    op given values it cannot take (a number where a tensor belongs, an index past the end) raises
    from inside Python or NumPy, which becomes one ValueError naming the step and what it calls."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as err:
        if kind in ("module", "onnx") or getattr(err, "labelled", False):
            raise
        if isinstance(err, ValueError):
            raise ValueError(f"step {excerpt(name)} ({kind} {excerpt(path)}): {err}") from None
        failed = err  # a TypeError: often Python's own words about a value of the wrong type
    except (AttributeError, IndexError, KeyError, ZeroDivisionError, OverflowError) as err:
        failed = err
    given = ", ".join(type(a).__name__ for a in args) + "".join(f", {k}={type(v).__name__}" for k, v in kwargs.items())
    raise ValueError(f"step {excerpt(name)} ({kind} {excerpt(path)}) cannot take its arguments ({given}): "
                     f"it raised {type(failed).__name__}")


def op_of(model: Module, kind: str, path):
    """The registered op a step applies to its tensor arguments as given, or None: an "op" step's
    op, a graph function's declared op (`OPS`)."""
    if kind == "op":
        return op_registry.get(path)
    if kind == "function" and path in OPS:
        return op_registry.get(OPS[path])
    return None


# ------------------------------------------------------------------------------ graph functions
# What a step may call besides a module and a registered op: arithmetic on tensors and on sizes,
# indexing and the shape functions of PyTorch, with PyTorch's signatures. A step names its function,
# so a converted graph is data (a list of names and arguments), not code.

def _dim(x, dim: int) -> int:
    return dim % len(x.shape)


def _slices(x, dim: int, sizes) -> tuple:
    """x cut along `dim` into consecutive pieces of the given sizes."""
    dim, start, out = _dim(x, dim), 0, []
    for size in sizes:
        out.append(x[(slice(None),) * dim + (slice(start, start + size),)])
        start += size
    return tuple(out)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    n = x.shape[_dim(x, dim)]
    step = -(-n // chunks)  # PyTorch: pieces of ceil(n / chunks), the last one smaller
    return _slices(x, dim, [min(step, n - s) for s in range(0, n, step)])


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    n = x.shape[_dim(x, dim)]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        return _slices(x, dim, [min(s, n - a) for a in range(0, n, s)])
    return _slices(x, dim, list(split_size_or_sections))


def permute(x, *dims):
    return x.transpose(*dims)  # convscope's transpose takes a whole permutation, as NumPy's


def transpose(x, dim0: int, dim1: int):
    perm = list(range(x.ndim))
    a, b = _dim(x, dim0), _dim(x, dim1)
    perm[a], perm[b] = perm[b], perm[a]
    return x.transpose(perm)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    a, b = _dim(x, start_dim), _dim(x, end_dim)
    return x.reshape(*x.shape[:a], int(np.prod(x.shape[a:b + 1])), *x.shape[b + 1:])


def _reshape(x, *shape):
    return x.reshape(*shape)


def size(x, dim=None):
    return tuple(x.shape) if dim is None else x.shape[dim]


def mean(x, dim=None, keepdim=False, **kw):
    return x.mean(axis=tuple(dim) if isinstance(dim, list) else dim, keepdims=keepdim)


def reduce_sum(x, dim=None, keepdim=False, **kw):
    return x.sum(axis=tuple(dim) if isinstance(dim, list) else dim, keepdims=keepdim)


def amax(x, dim=None, keepdim=False):
    return x.max(axis=tuple(dim) if isinstance(dim, list) else dim, keepdims=keepdim)


def add(a, b, alpha=1, **kw):
    return a + (b * alpha if alpha != 1 else b)


def cat(tensors, dim=0, **kw):
    return concat(list(tensors), axis=dim)


def residual_add(y, s):
    """A Residual's two branches added: they must have the same shape (no broadcasting)."""
    if tuple(y.shape) != tuple(s.shape):
        raise ValueError(f"Residual: body output {tuple(y.shape)} and shortcut output {tuple(s.shape)} differ; "
                         "give a shortcut (e.g. a 1x1 Conv with the body's stride) that matches")
    return y + s


def concat_branches(outs, dim):
    """A Concat's branches joined along `dim`: they must agree on every other axis."""
    shapes = [tuple(o.shape) for o in outs]
    if len({s[:dim] + s[dim + 1:] for s in shapes}) > 1:
        raise ValueError(f"Concat: branch outputs {shapes} differ outside dim {dim}")
    return concat(list(outs), axis=dim)


def softmax(x, dim=-1, **kw):
    return F.softmax(x, -1 if dim is None else dim)


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, **kw):
    """F.interpolate through the registered op of that name, with PyTorch's argument names."""
    op = op_registry.get("interpolate")
    given = {"size": size, "scale_factor": scale_factor, "mode": mode, "align_corners": align_corners, **kw}
    return apply(op, x, **{k: v for k, v in given.items() if k in op.attrs})


def unsqueeze(x, dim: int):
    dim = dim % (x.ndim + 1)
    return x.reshape(*x.shape[:dim], 1, *x.shape[dim:])


def squeeze(x, dim=None):
    dims = {a % x.ndim for a in ((dim,) if isinstance(dim, int) else dim)} if dim is not None else set(range(x.ndim))
    return x.reshape(*(n for a, n in enumerate(x.shape) if not (a in dims and n == 1)))


def stack(tensors, dim=0, **kw):
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    return apply(op_registry.get("stack"), *tensors, axis=dim % (tensors[0].ndim + 1))


def _sizes(sizes) -> tuple:
    """PyTorch's sizes, given as arguments (x.repeat(2, 3)) or as one tuple (x.repeat((2, 3)))."""
    return tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else tuple(sizes)


def repeat(x, *sizes):
    """Tensor.repeat and torch.tile: copies along each axis (the tile op, NumPy's rule)."""
    return apply(op_registry.get("tile"), x, reps=_sizes(sizes))


def tile(x, dims):
    return repeat(x, tuple(dims))


def expand(x, *sizes):
    """Tensor.expand: broadcast to `sizes`, -1 keeping an axis (new axes lead)."""
    sizes, lead = _sizes(sizes), len(_sizes(sizes)) - x.ndim
    return apply(op_registry.get("expand"), x, shape=tuple(x.shape[a - lead] if s == -1 else s
                                                          for a, s in enumerate(sizes)))


def einsum(equation, *operands):
    operands = _sizes(operands) if len(operands) == 1 else operands  # torch.einsum(eq, [a, b]) too
    return apply(op_registry.get("einsum"), *operands, equation=equation)


def matmul(x, y):
    return apply(op_registry.get("matmul"), x, y)


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """F.instance_norm with PyTorch's arguments: the statistics of each sample (running ones are not used)."""
    if not use_input_stats or running_mean is not None:
        raise ValueError("instance_norm with running statistics is not supported (use_input_stats=True, none kept)")
    return F.instance_norm(x, weight, bias, eps)


def _channel_dropout(spatial: int):
    def dropout_nd(x, p=0.5, training=True, **kw):
        return F.channel_dropout(x, p, training, spatial)
    return dropout_nd


FUNCTIONS = {
    "add": add, "iadd": add, "sub": operator.sub, "isub": operator.sub, "mul": operator.mul, "imul": operator.mul,
    "truediv": operator.truediv, "floordiv": operator.floordiv, "neg": operator.neg, "pow": operator.pow,
    "getitem": operator.getitem, "getattr": getattr, "cat": cat, "concat": cat, "flatten": flatten,
    "reshape": _reshape, "view": _reshape, "permute": permute, "transpose": transpose, "chunk": chunk,
    "split": split, "size": size, "contiguous": lambda x, **kw: x, "clone": lambda x, **kw: x,
    "mean": mean, "sum": reduce_sum, "amax": amax, "softmax": softmax, "interpolate": interpolate,
    "stochastic_depth": F.stochastic_depth, "residual_add": residual_add, "concat_branches": concat_branches,
    # convscope's functions that take PyTorch's arguments in PyTorch's order (inplace is dropped before)
    "relu6": F.relu6, "hardtanh": F.hardtanh, "dropout": F.dropout, "layer_norm": F.layer_norm,
    "group_norm": F.group_norm, "linear": F.linear, "log_softmax": F.log_softmax,
    "prelu": F.prelu, "instance_norm": instance_norm, "dropout1d": _channel_dropout(1),
    "dropout2d": _channel_dropout(2), "dropout3d": _channel_dropout(3), "stack": stack, "repeat": repeat,
    "tile": tile, "expand": expand, "einsum": einsum, "matmul": matmul, "bmm": matmul, "mm": matmul,
    "unsqueeze": unsqueeze, "squeeze": squeeze,
}
FUNCTIONS.update(_aten.FUNCTIONS)
# ATen's shape ops that are torch's functions under another signature
FUNCTIONS.update({"aten.unsqueeze": unsqueeze, "aten.squeeze": squeeze, "aten.repeat": repeat, "aten.stack": stack,
                  "aten.expand": lambda x, size, implicit=False: expand(x, size),
                  "aten.expand_as": lambda x, other: expand(x, tuple(other.shape))})
FUNCTIONS["aten.split_with_sizes"] = split
# graph function -> the registered op it applies to its tensor arguments when called with them alone
# (the execution plan joins such a step to the one before it; the torch bridge needs the op registered)
OPS = {"add": "add", "iadd": "add", "residual_add": "add", "interpolate": "interpolate"}


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
