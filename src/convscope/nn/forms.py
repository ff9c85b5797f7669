"""Eval forms: what a layer or an op computes in eval mode under no_grad, in a form the execution plan
(`nn.plan`) can run directly and join to the step after it.

Each layer declares its form in the layer registry (`register(..., form=...)`), beside its forward:
the declaration looks at the layer's arguments and returns a `Form`, or None where the fast path does
not compute exactly what the layer does (a padding mode, a transposed convolution). An op declares
`epilogue` ("relu", "add") in the op registry when the engine can apply it to an output chunk while
it is in cache. The plan only asks; it knows no layer and no op by name.

A form runs on NumPy arrays and may still decline at run time by returning None (another dtype, an
unbatched input, a residual of another shape): the original steps then run, with their own checks
and messages. Slower is acceptable there; different is not.
"""
from __future__ import annotations

import numpy as np

from ..ops.engine.tuning import CHUNK_BYTES


class Form:
    """What one step computes, as the plan runs it. `extra` counts the values it takes besides the
    step's input (a residual)."""
    extra = 0

    def join(self, follower: "Form") -> "Form | None":
        """The form computing this one and then `follower` (the only step taking this one's
        output), or None when they do not join."""
        return None

    def __call__(self, x: np.ndarray, *others: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError


class Epilogue(Form):
    """An op the engine applies to an output chunk: "relu" (y = max(y, 0)) or "add" (y = y + r,
    r another value of the output's shape). Alone it is not run by the plan: it only joins."""

    def __init__(self, what: str):
        self.what = what
        self.extra = 1 if what == "add" else 0


RELU, ADD = Epilogue("relu"), Epilogue("add")


def of_op(op) -> Form | None:
    """The form of a registered op applied with its default attributes: its declared epilogue, if any."""
    return None if op.epilogue is None else {"relu": RELU, "add": ADD}[op.epilogue]


class ChannelAffine(Form):
    """y = x s + t per channel (axis 1), then a ReLU when `relu`: an eval-mode batch normalisation,
    which a convolution before it can fold into its weights instead. s and t are float64."""

    def __init__(self, scale: np.ndarray, shift: np.ndarray, ranks: tuple, relu: bool = False):
        self.scale, self.shift, self.ranks, self.relu = scale, shift, ranks, relu

    def join(self, follower):
        return ChannelAffine(self.scale, self.shift, self.ranks, True) if follower is RELU and not self.relu else None

    def __call__(self, x, *others):
        if x.ndim not in self.ranks or x.shape[1] != len(self.scale) or x.dtype.kind != "f":
            return None
        shape = (-1, *([1] * (x.ndim - 2)))
        s, t = self.scale.astype(x.dtype).reshape(shape), self.shift.astype(x.dtype).reshape(shape)
        y = np.empty_like(x)
        step = max(1, CHUNK_BYTES // max(x[:1].nbytes, 1))
        for n in range(0, len(x), step):  # a few images at a time stay in cache across the passes
            part = y[n:n + step]
            np.multiply(x[n:n + step], s, out=part)
            part += t
            if self.relu:
                np.maximum(part, 0, out=part)
        return y
