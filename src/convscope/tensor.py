"""Tensor: a NumPy array that records how it was computed, for reverse-mode autograd.

Every differentiable op follows one template: compute in NumPy, make the output with its parents
and a local `backward(g)` that returns one gradient per parent (None where there is none);
`Tensor.backward()` sorts the graph once (iteratively, so deep chains are fine) and runs the local
backwards in reverse, summing gradients. Derived ops (`-`, `/`, `mean`) are built from basic ones.
Convolution and pooling live in `convscope.nn.functional` on the same template.
"""
from __future__ import annotations

import contextlib

import numpy as np

_grad_enabled = True
_tracer = None  # set by convscope.analysis.trace while it records a model's ops


def tracing() -> bool:
    """True while a model is traced shape-only: heavy ops then compute shapes, not values."""
    return _tracer is not None


def current_tracer():
    return _tracer


def set_tracer(tracer) -> None:
    global _tracer
    _tracer = tracer


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


def _as_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    arr = np.asarray(data, dtype=dtype)
    if dtype is None and not isinstance(data, np.ndarray) and arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # Python numbers and lists default to float32, as in PyTorch
    return arr


def _unbroadcast(grad: np.ndarray, shape) -> np.ndarray:
    """Sum a gradient over the axes that broadcasting added or stretched."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    axes = tuple(a for a, n in enumerate(shape) if n == 1 and grad.shape[a] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


class Tensor:
    """An array with an optional gradient. `requires_grad=True` makes it a leaf that collects .grad."""

    __array_priority__ = 100  # make `ndarray + Tensor` call Tensor.__radd__

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
    @staticmethod
    def make(data, parents, backward, op: str, attrs: dict | None = None) -> "Tensor":
        """The output of an op: records parents and the local backward when a parent needs a grad.

        While a model is traced, the op is recorded instead (with `attrs`: its geometry).
        """
        if _tracer is not None:
            return _tracer.record(np.asarray(data), parents, op, attrs or {})
        out = Tensor(np.asarray(data))  # NumPy reductions return scalars: keep their dtype
        if _grad_enabled and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents, out._backward, out.op = tuple(parents), backward, op
        return out

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
            if node._backward is None:  # a leaf
                node.grad = g.copy() if node.grad is None else node.grad + g
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg
            if not retain_graph:
                node._parents, node._backward = (), None

    def _topological_order(self) -> list:
        order, seen, stack = [], {id(self)}, [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            stack.append((node, True))
            for p in node._parents:
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    stack.append((p, False))
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
        other = _tensor(other, self.dtype)
        a, b = self.shape, other.shape
        return Tensor.make(self.data + other.data, (self, other),
                           lambda g: (_unbroadcast(g, a), _unbroadcast(g, b)), "add")

    def __mul__(self, other):
        other = _tensor(other, self.dtype)
        x, y = self.data, other.data
        return Tensor.make(x * y, (self, other),
                           lambda g: (_unbroadcast(g * y, x.shape), _unbroadcast(g * x, y.shape)), "mul")

    def __pow__(self, exponent: float):
        x = self.data
        return Tensor.make(x ** exponent, (self,), lambda g: (g * exponent * x ** (exponent - 1),), "pow")

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
        y = np.exp(self.data)
        return Tensor.make(y, (self,), lambda g: (g * y,), "exp")

    def log(self):
        x = self.data
        return Tensor.make(np.log(x), (self,), lambda g: (g / x,), "log")

    def tanh(self):
        y = np.tanh(self.data)
        return Tensor.make(y, (self,), lambda g: (g * (1 - y * y),), "tanh")

    def sigmoid(self):
        y = 0.5 * (1 + np.tanh(0.5 * self.data))  # stable for large |x|
        return Tensor.make(y, (self,), lambda g: (g * y * (1 - y),), "sigmoid")

    def relu(self):
        mask = self.data > 0
        return Tensor.make(self.data * mask, (self,), lambda g: (g * mask,), "relu")

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims: bool = False):
        shape = self.shape

        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, shape).copy(),)
        return Tensor.make(self.data.sum(axis=axis, keepdims=keepdims), (self,), backward, "sum")

    def mean(self, axis=None, keepdims: bool = False):
        count = self.data.size if axis is None else np.prod([self.shape[a] for a in np.atleast_1d(axis)])
        return self.sum(axis, keepdims) * (1.0 / count)

    def max(self, axis=None, keepdims: bool = False):
        """Maximum; the gradient is shared equally by tied maxima (like torch.amax)."""
        y = self.data.max(axis=axis, keepdims=True)
        mask = self.data == y
        share = mask / mask.sum(axis=axis, keepdims=True)

        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, axis)
            return (share * g,)
        out = y if keepdims else (y.reshape(()) if axis is None else np.squeeze(y, axis))
        return Tensor.make(out, (self,), backward, "max")

    # ------------------------------------------------------------------ linear algebra and shape
    def __matmul__(self, other):
        other = _tensor(other, self.dtype)
        x, y = self.data, other.data
        if x.ndim < 2 or y.ndim < 2:
            raise ValueError(f"matmul: both operands need at least 2 axes, got {x.shape} and {y.shape}")

        if x.shape[-1] != y.shape[-2]:
            raise ValueError(f"matmul: inner sizes differ: {x.shape} @ {y.shape}")
        if _tracer is not None:
            shape = (*np.broadcast_shapes(x.shape[:-2], y.shape[:-2]), x.shape[-2], y.shape[-1])
            return Tensor.make(meta(shape, x.dtype), (self, other), None, "matmul", {"inner": x.shape[-1]})

        def backward(g):
            return (_unbroadcast(g @ np.swapaxes(y, -1, -2), x.shape),
                    _unbroadcast(np.swapaxes(x, -1, -2) @ g, y.shape))
        return Tensor.make(x @ y, (self, other), backward, "matmul")

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        old = self.shape
        return Tensor.make(self.data.reshape(shape), (self,), lambda g: (g.reshape(old),), "reshape")

    def flatten(self, start_dim: int = 0):
        return self.reshape(*self.shape[:start_dim], -1)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        axes = tuple(axes) or tuple(reversed(range(self.ndim)))
        inverse = tuple(np.argsort(axes))
        return Tensor.make(self.data.transpose(axes), (self,), lambda g: (g.transpose(inverse),), "transpose",
                           {"perm": axes})

    @property
    def T(self):
        return self.transpose()

    def __getitem__(self, index):
        index = index.data if isinstance(index, Tensor) else index
        shape, dtype = self.shape, self.dtype

        def backward(g):
            full = np.zeros(shape, dtype)
            np.add.at(full, index, g)  # repeated fancy indices add up
            return (full,)
        return Tensor.make(self.data[index], (self,), backward, "index")


def _tensor(value, dtype) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=dtype))


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def concat(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; each gets back its slice of the gradient."""
    tensors = list(tensors)
    sizes = np.cumsum([t.shape[axis] for t in tensors])[:-1]
    return Tensor.make(np.concatenate([t.data for t in tensors], axis=axis), tensors,
                       lambda g: tuple(np.split(g, sizes, axis=axis)), "concat",
                       {"axis": axis % tensors[0].ndim})


def stack(tensors, axis: int = 0) -> Tensor:
    tensors = list(tensors)
    return Tensor.make(np.stack([t.data for t in tensors], axis=axis), tensors,
                       lambda g: tuple(np.moveaxis(g, axis, 0)), "stack")
