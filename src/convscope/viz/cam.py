"""Class-activation maps over their image: where a layer's evidence for a class lies."""
from __future__ import annotations

import numpy as np

from ..analysis.cam import METHODS, cam
from ..analysis.saliency import saliency
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


NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "layercam": "LayerCAM", "eigencam": "Eigen-CAM",
         "scorecam": "Score-CAM"}


def saliency_and_cam(model, x, layer: str, labels=None, method: str = "gradcam"):
    """Where a classifier looks, for a few images x (N, C, H, W), one column each: the image; its saliency
    (|d score / d pixel| of the predicted class, largest over channels, scaled to [0, 1] per image); and
    the class-activation map of `layer`'s output for that class (`method`, Grad-CAM by default), both
    maps on one colour scale with the image's outline drawn over them. `labels` (the true classes) are
    named above each column beside the prediction."""
    from ..analysis.summary import summary

    x = np.asarray(x, np.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"saliency_and_cam: x must be images (N, 1 or 3, H, W), got shape {x.shape}")
    if method not in METHODS:
        raise ValueError(f"saliency_and_cam: method {method!r} is not one of {', '.join(METHODS)}")
    predicted = np.argmax(predict(model, x), axis=1)
    grads = np.stack([np.abs(saliency(model, image, (int(k),))).max(axis=0) for image, k in zip(x, predicted)])
    grads /= np.maximum(grads.max(axis=(1, 2), keepdims=True), np.finfo(np.float32).tiny)
    maps = cam(model, x, layer, predicted, method=method)
    grid = next((r.output_shape[1:] for r in summary(model, x.shape[1:]).rows if r.name == layer), None)
    fig = style.figure(max(5.0, 1.6 * len(x) + 1.9), 5.6)
    axes = fig.subplots(3, len(x), squeeze=False)
    for i, (image, k) in enumerate(zip(x, predicted)):
        grey = image.mean(axis=0)  # the outline follows the image's brightness
        picture = image[0] if len(image) == 1 else image.transpose(1, 2, 0)
        axes[0, i].imshow(picture, cmap="gray_r" if picture.ndim == 2 else None, interpolation="nearest")
        axes[0, i].set_title(f"predicted {k}" if labels is None else f"true {labels[i]}, predicted {k}",
                             fontsize=style.FONT["label"])
        for row, values in ((1, grads[i]), (2, maps[i])):
            shown = axes[row, i].imshow(values, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
            axes[row, i].contour(grey, levels=[0.5 * float(grey.max())], colors=OUTLINE, linewidths=1.2)
    name = NAMES[method]
    for r, label in enumerate(("image", "saliency", name)):
        axes[r, 0].set_ylabel(label, fontsize=style.FONT["label"])
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=list(axes[1:].ravel()), shrink=0.8, label="0 to 1 in each image")
    size = f" ({style.shape_text(grid)} cells, resized to the image)" if grid else ""
    fig.suptitle(style.wrap(f"Saliency (|gradient| of the predicted class's score per pixel) and {name} of "
                            f"{layer}'s output{size}; the outline is where the image reaches half its peak",
                            fig.get_size_inches()[0], style.FONT["title"]), fontsize=style.FONT["title"])
    fig.predicted, fig.saliency, fig.maps = predicted, grads, maps
    return fig


OUTLINE = "#00e5ff"  # cyan: visible on magma's dark and bright ends alike
