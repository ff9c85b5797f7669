"""Class-activation maps over their image: where a layer's evidence for a class lies."""
from __future__ import annotations

import numpy as np

from ..analysis.cam import METHODS, cam
from ..train import predict
from . import style


def class_activation(model, x, layer: str, target: int | None = None, methods=("gradcam", "layercam", "eigencam")):
    """The input sample x (C, H, W) and, for each method, its map for class `target` (default: the
    model's prediction) laid over the image; a colour bar gives the map's scale (0 to 1)."""
    x = np.asarray(x, np.float32)
    if x.ndim != 3:
        raise ValueError(f"class_activation: x must be one image (C, H, W), got shape {x.shape}")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"class_activation: method {m!r} is not one of {', '.join(METHODS)}")
    logits = predict(model, x[None])[0]
    target = int(np.argmax(logits)) if target is None else int(target)
    image = x[0] if len(x) == 1 else np.clip(x[:3].transpose(1, 2, 0), 0, 1)  # grey, or the first 3 channels as RGB
    fig = style.figure(2.3 * (len(methods) + 1) + 0.8, 2.9)
    axes = fig.subplots(1, len(methods) + 1)
    axes[0].imshow(image, cmap="gray_r" if image.ndim == 2 else None)
    axes[0].set_title("input", fontsize=style.FONT["label"], fontweight="bold")
    for ax, method in zip(axes[1:], methods):
        ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None)
        shown = ax.imshow(cam(model, x[None], layer, [target], method=method)[0], cmap="jet", alpha=0.5,
                          vmin=0, vmax=1)
        ax.set_title(method, fontsize=style.FONT["label"])
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=list(axes[1:]), shrink=0.8, label="map (0 to 1)")
    fig.suptitle(f"class {target} (logit {logits[target]:.2f}) from the output of {layer}", fontsize=style.FONT["label"])
    return fig
