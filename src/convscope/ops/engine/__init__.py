"""The fast paths of the convolutions: how `ops.conv` and its gradients are computed quickly.

`planner` chooses, per op, between a plain matmul (1x1), shifted-slice accumulation (depthwise),
Winograd tiles (3x3 stride 1) and an im2col lowering to GEMMs with flat, phase or padded windows; `tuning` holds every constant
those choices depend on. `ops/reference.py` computes the same results by the definition.
"""
from . import tuning
from .planner import Plan, forward, input_grad, plan, weight_grad

__all__ = ["Plan", "plan", "forward", "input_grad", "weight_grad", "tuning"]
