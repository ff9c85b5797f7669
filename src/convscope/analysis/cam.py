"""Class-activation maps (where in the image a layer's evidence for a class lies) and integrated
gradients (how much each input element contributes to a class score).

The maps are computed and post-processed as the pytorch-grad-cam package computes them, so a map
made here equals the one a PyTorch user gets from the same weights: a per-channel weighting of the
layer's activations A (N, K, *S), summed over channels, then ReLU, scaled to [0, 1] per image by
(m - min) / (max + 1e-7), resized to the input's spatial size by linear interpolation (half-pixel
centres, as OpenCV's INTER_LINEAR), and scaled once more. With G = d(score)/dA:

    gradcam    weights = mean of G over space                                   (Selvaraju 2017)
    gradcam++  weights = sum over space of relu(G) a, a = G^2 / (2 G^2 + sum(A) G^3 + 1e-6) (a = 0 where G = 0)
    layercam   map = sum over channels of relu(G) A (a weight per position)          (Jiang 2021)
    eigencam   map = the centred activations projected on their first principal direction (no
               gradient; the sign of a principal direction is arbitrary)              (Muhammad 2020)
    scorecam   weights = softmax over channels of the class score of the input times each channel's
               map (bilinearly upsampled with aligned corners, scaled to [0, 1])      (Wang 2020)
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..nn import functional as F
from ..nn.module import observe
from ..tensor import Tensor, no_grad

METHODS = ("gradcam", "gradcam++", "layercam", "eigencam", "scorecam")
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}  # interpolate's mode for 1, 2, 3 spatial axes
_GRADIENTS = ("gradcam", "gradcam++", "layercam")


def cam(model, x, layer: str, targets, method: str = "gradcam", *, batch_size: int = 16) -> np.ndarray:
    """Class-activation maps (N, *spatial of x) in [0, 1], one per image, for the class `targets[i]`.

    Args:
        model: a classifier (logits (N, classes)); run in eval mode here.
        x: images (N, C, *S).
        layer: a module path of the model, e.g. "layer4.1" (its output; for a graph model, the output
            of the last step under that path).
        targets: one class index per image.
        method: "gradcam", "gradcam++", "layercam", "eigencam" or "scorecam".
        batch_size: masked images per forward pass (scorecam only).
    """
    if method not in METHODS:
        raise ValueError(f"cam: method {method!r} is not one of {', '.join(METHODS)}")
    x = _images(x, "cam")
    with _eval(model):
        out, act = _forward(model, Tensor(x), layer)
        targets = _targets(targets, out.shape, "cam")
        a = act.data.astype(np.float32)
        if method in _GRADIENTS:
            act.retain_grad()
            _score(out, targets).backward()
            g = act.grad.astype(np.float32)
        if method == "gradcam":
            maps = _weighted(g.mean(axis=_space(g)), a)
        elif method == "gradcam++":
            maps = _weighted(_plusplus_weights(a, g), a)
        elif method == "layercam":
            maps = (np.maximum(g, 0) * a).sum(axis=1)
        elif method == "eigencam":
            maps = _first_component(a)
        else:
            maps = _weighted(_score_weights(model, x, a, targets, batch_size), a)
    return _postprocess(maps, x.shape[2:])


def integrated_gradients(model, x, targets, baseline=None, steps: int = 50, *, batch_size: int = 64) -> np.ndarray:
    """Integrated gradients (Sundararajan 2017) of the class scores `targets[i]`, shaped like x.

    (x - baseline) times the integral over t in [0, 1] of d(score)/d(input) at baseline + t (x - baseline),
    by Gauss-Legendre quadrature with `steps` nodes (captum's default method). baseline: zeros by
    default, or an array broadcast to x.
    """
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"integrated_gradients: steps must be an int >= 1, got {steps!r}")
    x = _images(x, "integrated_gradients")
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(np.asarray(baseline, x.dtype), x.shape)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, sizes = 0.5 * (1 + nodes), 0.5 * weights  # the rule on [-1, 1] moved to [0, 1]
    path = np.concatenate([base + x.dtype.type(a) * (x - base) for a in alphas])  # (steps * N, C, *S)
    wanted = None
    grads = np.empty_like(path)
    with _eval(model):
        for i in range(0, len(path), batch_size):
            inp = Tensor(path[i:i + batch_size], requires_grad=True)
            out = model(inp)
            wanted = _targets(targets, (len(x), out.shape[1]), "integrated_gradients") if wanted is None else wanted
            _score(out, np.tile(wanted, steps)[i:i + batch_size]).backward()
            grads[i:i + batch_size] = inp.grad
    total = (grads.reshape(steps, *x.shape) * sizes.astype(x.dtype).reshape(-1, *[1] * x.ndim)).sum(axis=0)
    return total * (x - base)


# ------------------------------------------------------------------------------ activations and scores

def _forward(model, x: Tensor, layer: str):
    """(the model's output, the output of the last module call under the path `layer`)."""
    names = dict(model.named_modules())
    if not isinstance(layer, str) or not layer or layer not in names:
        raise ValueError(f"cam: no layer named {layer!r}; layers: {', '.join(n for n in names if n)}")
    under = {id(m) for n, m in names.items() if n == layer or n.startswith(layer + ".")}
    captured = []
    with observe(lambda m, out: captured.append(out) if id(m) in under else None):
        out = model(x)
    if not captured or not isinstance(captured[-1], Tensor):
        raise ValueError(f"cam: layer {layer!r} gave no tensor in the forward pass")
    act = captured[-1]
    if act.ndim < 3:
        raise ValueError(f"cam: layer {layer!r} outputs shape {act.shape}, not (N, channels, *spatial): choose a "
                         "convolutional layer")
    return out, act


def _score(out: Tensor, targets: np.ndarray) -> Tensor:
    """The sum over images of each image's target logit (its gradient is each image's own)."""
    pick = np.zeros(out.shape, out.data.dtype)
    pick[np.arange(len(targets)), targets] = 1
    return (out * Tensor(pick)).sum()


def _score_weights(model, x, a, targets, batch_size: int) -> np.ndarray:
    up = F.interpolate(Tensor(a), size=x.shape[2:], mode=_LINEAR[x.ndim - 2], align_corners=True).data
    flat = up.reshape(*up.shape[:2], -1)
    lo, hi = flat.min(axis=2), flat.max(axis=2)
    shape = (*up.shape[:2], *[1] * (up.ndim - 2))
    masks = (up - lo.reshape(shape)) / (hi - lo + np.float32(1e-8)).reshape(shape)
    scores = np.empty(a.shape[:2], np.float32)
    with no_grad():
        for i, target in enumerate(targets):
            masked = x[i][None] * masks[i][:, None]  # (K, C, *S): the image under each channel's map
            for j in range(0, len(masked), batch_size):
                scores[i, j:j + batch_size] = model(Tensor(masked[j:j + batch_size])).data[:, target]
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------ weightings

def _space(a) -> tuple:
    return tuple(range(2, a.ndim))


def _weighted(weights: np.ndarray, a: np.ndarray) -> np.ndarray:
    return (weights.reshape(*weights.shape, *[1] * (a.ndim - 2)) * a).sum(axis=1)


def _plusplus_weights(a, g) -> np.ndarray:
    g2 = g * g
    total = a.sum(axis=_space(a)).reshape(*a.shape[:2], *[1] * (a.ndim - 2))
    alpha = np.where(g != 0, g2 / (2 * g2 + total * g2 * g + np.float32(1e-6)), 0)
    return (np.maximum(g, 0) * alpha).sum(axis=_space(g))


def _first_component(a) -> np.ndarray:
    maps = []
    for sample in np.nan_to_num(a, nan=0.0):
        m = sample.reshape(len(sample), -1).T  # (positions, channels)
        m = m - m.mean(axis=0)
        direction = np.linalg.svd(m, full_matrices=False)[2][0]
        maps.append((m @ direction).reshape(sample.shape[1:]))
    return np.asarray(maps, np.float32)


# ------------------------------------------------------------------------------ post-processing

def _postprocess(maps: np.ndarray, size) -> np.ndarray:
    """ReLU, scale to [0, 1] per image, resize to `size`, scale again (the package's steps, in order)."""
    maps = _unit(np.maximum(maps, 0))
    if maps.shape[1:] != tuple(size):
        maps = F.interpolate(Tensor(maps[:, None]), size=tuple(size), mode=_LINEAR[len(size)],
                             align_corners=False).data[:, 0]
    return _unit(np.maximum(maps, 0))


def _unit(maps: np.ndarray) -> np.ndarray:
    flat = maps.reshape(len(maps), -1)
    shape = (len(maps), *[1] * (maps.ndim - 1))
    shifted = maps - flat.min(axis=1).reshape(shape)
    return (shifted / (np.float32(1e-7) + shifted.reshape(len(maps), -1).max(axis=1).reshape(shape))).astype(np.float32)


# ------------------------------------------------------------------------------ checks

def _images(x, who: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 3 or x.dtype.kind not in "fiu":
        raise ValueError(f"{who}: x must be a batch of images (N, C, *spatial) of numbers, got shape {x.shape} "
                         f"dtype {x.dtype}")
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def _targets(targets, out_shape, who: str) -> np.ndarray:
    t = np.asarray(targets).reshape(-1)
    n, classes = out_shape[0], out_shape[1]
    if len(t) != n or t.dtype.kind not in "iu" or (n and (t.min() < 0 or t.max() >= classes)):
        raise ValueError(f"{who}: targets must be {n} class indices in [0, {classes}), one per image, got "
                         f"{np.asarray(targets).tolist()}")
    return t.astype(np.int64)


@contextlib.contextmanager
def _eval(model):
    """Eval mode, and the parameters' .grad as they were (the backward passes here are not training)."""
    was_training = model.training
    kept = [(p, p.grad) for p in model.parameters()]
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
        for p, g in kept:
            p.grad = g
