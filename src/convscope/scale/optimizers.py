"""convscope optimizers and their PyTorch twins, with the state mapped both ways.

A checkpoint always holds the convscope layout (per-parameter index: SGD "momentum", Adam
"exp_avg" and "exp_avg_sq", one global step count), so either engine can resume it.
"""
from __future__ import annotations

import numpy as np

from .. import optim

# convscope state name -> torch state name, per optimizer
_STATE_NAMES = {optim.SGD: {"momentum": "momentum_buffer"}, optim.Adam: {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}}


def torch_optimizer(opt: optim.Optimizer, params):
    """The torch.optim optimizer with `opt`'s settings and state; `params` in `opt.params` order."""
    import torch

    s = opt.settings
    if isinstance(opt, optim.SGD):
        out = torch.optim.SGD(params, lr=s["lr"], momentum=s["momentum"], dampening=s["dampening"],
                              weight_decay=s["weight_decay"], nesterov=s["nesterov"])
    elif isinstance(opt, optim.Adam):
        out = torch.optim.Adam(params, lr=s["lr"], betas=s["betas"], eps=s["eps"], weight_decay=s["weight_decay"])
    else:
        raise TypeError(f"--engine torch: no PyTorch twin for optimizer {type(opt).__name__} (SGD or Adam)")
    names = _STATE_NAMES[type(opt)]
    for p, state in zip(params, opt.state):
        if state:
            out.state[p] = {names[k]: torch.tensor(np.ascontiguousarray(v), device=p.device) for k, v in state.items()}
            if isinstance(opt, optim.Adam):
                out.state[p]["step"] = torch.tensor(float(opt.steps))
    return out


def copy_state_back(torch_opt, params, opt: optim.Optimizer, steps: int) -> None:
    """Write the torch optimizer's state into `opt` (the checkpoint's layout)."""
    inverse = {t: c for c, t in _STATE_NAMES[type(opt)].items()}
    arrays = {}
    for i, p in enumerate(params):
        for name, value in torch_opt.state.get(p, {}).items():
            if name in inverse and value is not None:
                arrays[f"{i}.{inverse[name]}"] = value.detach().cpu().numpy()
    opt.load_state_dict({"arrays": arrays, "steps": steps})
