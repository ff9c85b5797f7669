"""Optimizers with PyTorch's update rules: SGD (momentum, Nesterov, weight decay) and Adam."""
from __future__ import annotations

import numpy as np

from .tensor import state_changed


class Optimizer:
    defaults: dict = {}

    def __init__(self, params, **settings):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        unknown = set(settings) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown settings {sorted(unknown)}")
        self.settings = {**self.defaults, **settings}
        if not self.settings["lr"] > 0:
            raise ValueError(f"{type(self).__name__}: lr must be > 0, got {self.settings['lr']}")
        self.state: list[dict] = [{} for _ in self.params]
        self.steps = 0

    @property
    def lr(self) -> float:
        return self.settings["lr"]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        self.steps += 1
        state_changed()
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p, p.grad, state)

    def state_dict(self) -> dict:
        """Arrays by 'index.name', plus the step count: everything a resumed run needs."""
        arrays = {f"{i}.{k}": v for i, st in enumerate(self.state) for k, v in st.items()}
        return {"arrays": arrays, "steps": self.steps, "settings": dict(self.settings)}

    def load_state_dict(self, sd: dict) -> None:
        self.steps = int(sd["steps"])
        self.state = [{} for _ in self.params]
        for key, value in sd["arrays"].items():
            i, name = key.split(".", 1)
            self.state[int(i)][name] = np.array(value, copy=True)


class SGD(Optimizer):
    """p -= lr * v, v = momentum * v + (1 - dampening) * (g + weight_decay * p) (Nesterov: g + momentum * v)."""
    defaults = dict(lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, p, g, state):
        s = self.settings
        if s["weight_decay"]:
            g = g + s["weight_decay"] * p.data
        if s["momentum"]:
            if "momentum" not in state:
                state["momentum"] = g.copy()
            else:
                state["momentum"] = s["momentum"] * state["momentum"] + (1 - s["dampening"]) * g
            g = g + s["momentum"] * state["momentum"] if s["nesterov"] else state["momentum"]
        p.data -= (s["lr"] * g).astype(p.data.dtype, copy=False)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, as torch.optim.Adam."""
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _update(self, p, g, state):
        s = self.settings
        b1, b2 = s["betas"]
        if s["weight_decay"]:
            g = g + s["weight_decay"] * p.data
        m = state.setdefault("exp_avg", np.zeros_like(p.data))
        v = state.setdefault("exp_avg_sq", np.zeros_like(p.data))
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        t = self.steps
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + s["eps"]
        p.data -= ((s["lr"] / (1 - b1 ** t)) * m / denom).astype(p.data.dtype, copy=False)
