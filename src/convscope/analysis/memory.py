"""Will it fit? The memory a model needs to be built, run or trained, decided from shapes alone
before anything is allocated (Linux overcommits: a too-large allocation may succeed and the process
be killed later, so catching MemoryError is not enough)."""
from __future__ import annotations

import numpy as np

from ..machine import available_memory
from ..nn.init import TooBig
from .trace import trace


def weight_bytes(model) -> int:
    """Bytes of the parameters and buffers (shape-only ones count what they would hold)."""
    arrays = [p.data for p in model.parameters()] + [np.asarray(b) for _, b in model.named_buffers()]
    return sum(int(np.prod(a.shape)) * a.dtype.itemsize for a in arrays)


def require_weights_fit(model, what: str) -> None:
    """Refuse to allocate the weights of `model` (built shape-only) when they cannot fit."""
    need = weight_bytes(model)
    free = available_memory()
    if need > free:
        raise TooBig(f"{what}: its weights need {_gb(need)} ({need:,} bytes) but this machine has {_gb(free)} "
                     "available; analyse it shape-only (convscope summary, or meta=True)")


def require_fits(model, input_shape, batch_size: int, *, training: bool, optimizer_states: int = 2,
                 what: str = "model") -> None:
    """Refuse, with one line naming the biggest layer and the bytes, a forward (or a training step) of
    `model` on `batch_size` samples of `input_shape` that this machine's free memory cannot hold.

    Inference needs the weights plus, at the worst layer, its inputs and output alive together;
    training needs the weights, their gradients, the optimizer's states (`optimizer_states` arrays the
    size of the weights: `Optimizer.kept_states()`) and every value the backward pass keeps (the
    summary's "kept for backward").
    """
    free = available_memory()
    weights = weight_bytes(model)
    try:
        graph = trace(model, input_shape, batch_size)  # shape-only: milliseconds even for a ResNet-50
    except TooBig:
        raise
    except Exception:  # noqa: BLE001  a forward the tracer cannot follow (NumPy on .data): the run will tell
        return
    fixed = weights * (2 + optimizer_states if training else 1)  # gradients and optimizer states too
    if training:
        kept = max(graph.nodes[1:], key=lambda n: n.saved_bytes)
        need = fixed + sum(n.saved_bytes for n in graph.nodes)
        detail = (f"weights, gradients and optimizer states {_gb(fixed)}, values kept "
                  f"for backward {_gb(need - fixed)}, the most at {_where(graph, kept)} "
                  f"{_gb(kept.saved_bytes)}")
    else:
        def live(n):  # a node's inputs and output, alive together
            return n.nbytes + sum(graph.nodes[p].nbytes for p in n.parents)
        peak = max(graph.nodes[1:], key=live)
        need = fixed + live(peak)
        detail = f"weights {_gb(weights)}, inputs and output of {_where(graph, peak)} {_gb(live(peak))}"
    if need > free:
        task = "training" if training else "running"
        advice = "use a smaller batch or input" if fixed < free else \
            "its weights alone do not fit: analyse it shape-only (convscope summary)"
        raise TooBig(f"{what}: {task} it on a batch of {batch_size} x {tuple(input_shape)} needs {_gb(need)} "
                     f"({need:,} bytes: {detail}) but this machine has {_gb(free)} available; {advice}")


def _gb(nbytes: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def _where(graph, node) -> str:
    module = node.modules[-1] if node.modules else None
    if module is None or module is graph.model:
        return f"op {node.op!r}"
    return f"layer {graph.names.get(id(module), '?')!r} ({type(module).__name__})"
