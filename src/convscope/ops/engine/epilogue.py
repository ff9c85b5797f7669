"""What a convolution does to its output while a chunk of it is still in cache: add a residual
(the other branch of a ResNet block) and apply a ReLU. Execution plans of whole models ask for it
(`convscope.nn.plan`); done as separate passes over the whole output, each would stream it
through memory again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Epilogue:
    """y = relu(y + residual) on a chunk, in place; `residual` has the output's shape (or is None)."""
    residual: np.ndarray | None = None
    relu: bool = False

    def __call__(self, y: np.ndarray, index=(Ellipsis,)) -> None:
        """Apply to y, the chunk `index` of the output (a view written in place)."""
        if self.residual is not None:
            np.add(y, self.residual[index], out=y)
        if self.relu:
            np.maximum(y, 0, out=y)


NONE = Epilogue()
