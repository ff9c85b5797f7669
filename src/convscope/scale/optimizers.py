"""convscope optimizers and their PyTorch twins, with the state mapped both ways.

A checkpoint always holds the convscope layout (per-parameter index and the optimizer's own state
names, one global step count), so either engine can resume it. The twin of `optim.<Name>` is
`torch.optim.<Name>` with the same settings; each class's `states` names its arrays in both.
"""
from __future__ import annotations

import numpy as np

from .. import optim


def torch_optimizer(opt: optim.Optimizer, params):
    """The torch.optim optimizer with `opt`'s settings and state; `params` in `opt.params` order."""
    import torch

    twin = getattr(torch.optim, type(opt).__name__, None) if type(opt).states else None
    if twin is None:
        raise TypeError(f"--engine torch: no PyTorch twin for optimizer {type(opt).__name__} "
                        f"({' or '.join(cls.__name__ for cls, _ in optim.OPTIMIZERS.values())})")
    out = twin(params, **opt.settings)
    for p, state in zip(params, opt.state):
        if state:
            out.state[p] = {opt.states[k]: torch.tensor(np.ascontiguousarray(v), device=p.device)
                            for k, v in state.items()}
            if isinstance(opt, optim.Adam):  # torch's Adam keeps the step count per parameter
                out.state[p]["step"] = torch.tensor(float(opt.steps))
    return out


def copy_state_back(torch_opt, params, opt: optim.Optimizer, steps: int) -> None:
    """Write the torch optimizer's state into `opt` (the checkpoint's layout)."""
    inverse = {t: c for c, t in opt.states.items()}
    arrays = {}
    for i, p in enumerate(params):
        for name, value in torch_opt.state.get(p, {}).items():
            if name in inverse and value is not None:
                arrays[f"{i}.{inverse[name]}"] = value.detach().cpu().numpy()
    opt.load_state_dict({"arrays": arrays, "steps": steps})
