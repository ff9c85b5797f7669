"""Tensor: a NumPy array that records how it was computed, for reverse-mode autograd.

Every differentiable op is a primitive of the op registry (`convscope.ops.primitives`), applied
through one path, `apply`: the op's forward computes in NumPy and returns its local backward, and
the output keeps its parents and that backward when a parent needs a gradient. `Tensor.backward()`
sorts the graph once (iteratively, so deep chains are fine) and runs the local backwards in reverse,
summing gradients. Derived ops (`-`, `/`, `mean`) are built from basic ones. While an interpreter
is active (the shape-only tracer of `convscope.analysis`), `apply` hands the op to it instead.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .ops import registry
from .ops.primitives import elementwise as E
from .ops.primitives import shape as S

_grad_enabled = True


def meta(shape, dtype) -> np.ndarray:
    """A shape-only stand-in for an array: every element is one shared zero (no memory)."""
    return np.broadcast_to(np.zeros((), dtype), tuple(shape))


@contextlib.contextmanager
def no_grad():
    """Inside this block ops record no graph (evaluation, optimizer updates)."""
    global _grad_enabled
    saved, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = saved


def is_grad_enabled() -> bool:
    return _grad_enabled


_state_version = 0


def state_changed() -> None:
    """Count an in-place change of learned state (an optimizer step, load_state_dict, train/eval):
    execution plans made from the old values (`convscope.nn.plan`) compare `state_version()`."""
    global _state_version
    _state_version += 1


def state_version() -> int:
    return _state_version


def apply(op, *inputs, **attrs) -> "Tensor":
    """Apply a registered op to Tensors (attributes by keyword): the one path every op takes."""
    interpreter = registry.current_interpreter()
    if interpreter is not None:
        return interpreter.apply(op, inputs, attrs)
    data, backward = op.forward(*[t.data for t in inputs], **attrs)
    out = Tensor(np.asarray(data))  # NumPy reductions return scalars: keep their dtype
    if _grad_enabled and any(p.requires_grad for p in inputs):
        if op.grad_mask:
            needs = tuple(p.requires_grad for p in inputs)
            local = backward
            backward = lambda g: local(g, needs)  # noqa: E731
        out.requires_grad = True
        out._parents, out._backward, out.op = inputs, backward, op.name
    return out


def _as_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    arr = np.asarray(data, dtype=dtype)
    if dtype is None and not isinstance(data, np.ndarray) and arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # Python numbers and lists default to float32, as in PyTorch
    return arr


class Tensor:
    """An array with an optional gradient. `requires_grad=True` makes it a leaf that collects .grad."""

    __array_priority__ = 100  # make `ndarray + Tensor` call Tensor.__radd__
    _retains_grad = False

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require gradients, got {self.data.dtype}")
        self.requires_grad = requires_grad
        self.grad: np.ndarray | None = None
        self._parents: tuple = ()
        self._backward = None
        self.op = ""

    # ------------------------------------------------------------------ graph
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad (self must be a scalar without `grad`)."""
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no parameter or input "
                               "with requires_grad=True contributed to it, or it was made under no_grad)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implied only for a scalar, got shape {self.shape}")
            grad = np.ones_like(self.data)
        grads = {id(self): _as_array(grad, self.data.dtype)}
        for node in reversed(self._topological_order()):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None or node._retains_grad:  # a leaf, or a value asked to keep its gradient
                node.grad = g.copy() if node.grad is None else node.grad + g
            if node._backward is None:
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg
            if not retain_graph:
                node._parents, node._backward = (), None

    def retain_grad(self) -> None:
        """Keep this computed (non-leaf) tensor's gradient in .grad at the next backward, as PyTorch's."""
        self._retains_grad = True

    def _topological_order(self) -> list:
        """Every node after all of its parents. A node is marked when it is expanded, not when it is
        pushed: marked on push, a value used twice (x and f(x) both into one concat) could be
        finished before a node that depends on it, and lose that node's gradient."""
        order, expanded, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in expanded:
                continue
            expanded.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if p.requires_grad and id(p) not in expanded)
        return order

    def detach(self) -> "Tensor":
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------------ array protocol
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def __len__(self):
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{grad})"

    # ------------------------------------------------------------------ elementwise
    def __add__(self, other):
        return apply(E.add, self, _tensor(other, self.dtype))

    def __mul__(self, other):
        return apply(E.mul, self, _tensor(other, self.dtype))

    def __pow__(self, exponent: float):
        return apply(E.power, self, exponent=exponent)

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-_tensor(other, self.dtype))

    def __rsub__(self, other):
        return _tensor(other, self.dtype) + (-self)

    def __truediv__(self, other):
        return self * _tensor(other, self.dtype) ** -1.0

    def __rtruediv__(self, other):
        return _tensor(other, self.dtype) * self ** -1.0

    __radd__ = __add__
    __rmul__ = __mul__

    def exp(self):
        return apply(E.exp, self)

    def log(self):
        return apply(E.log, self)

    def tanh(self):
        return apply(E.tanh, self)

    def sigmoid(self):
        return apply(E.sigmoid, self)

    def relu(self):
        return apply(E.relu, self)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims: bool = False):
        return apply(S.reduce_sum, self, axis=_axes(axis), keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        count = self.data.size if axis is None else np.prod([self.shape[a] for a in np.atleast_1d(axis)])
        return self.sum(axis, keepdims) * (1.0 / count)

    def max(self, axis=None, keepdims: bool = False):
        """Maximum; the gradient is shared equally by tied maxima (like torch.amax)."""
        return apply(S.reduce_max, self, axis=_axes(axis), keepdims=keepdims)

    # ------------------------------------------------------------------ linear algebra and shape
    def __matmul__(self, other):
        return apply(S.matmul, self, _tensor(other, self.dtype))

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return apply(S.reshape, self, shape=tuple(shape))

    def flatten(self, start_dim: int = 0):
        return self.reshape(*self.shape[:start_dim], -1)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return apply(S.transpose, self, perm=tuple(axes) or tuple(reversed(range(self.ndim))))

    @property
    def T(self):
        return self.transpose()

    def __getitem__(self, index):
        return apply(S.index, self, index=index.data if isinstance(index, Tensor) else index)


def _axes(axis):
    """NumPy takes several axes as a tuple; PyTorch code passes lists (x.mean([2, 3]))."""
    return tuple(axis) if isinstance(axis, list) else axis


def _tensor(value, dtype) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=dtype))


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def concat(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; each gets back its slice of the gradient."""
    tensors = list(tensors)
    return apply(S.concat, *tensors, axis=axis % tensors[0].ndim)


def stack(tensors, axis: int = 0) -> Tensor:
    return apply(S.stack, *tensors, axis=axis)
