"""The activation half of the explore page: one input through a model with weights: the feature
maps of every layer, saliency maps for a stated set of units, and the prediction."""
from __future__ import annotations

import numpy as np

from ..analysis import saliency
from ..nn.module import observe
from .analysis import spatial
from .pack import pack, pack_each

MAX_MAP_CHANNELS, MAX_MAP_CELLS = 16, 65536
SALIENCY_UNITS = 64  # positions per layer, spread evenly, for every channel whose map is shown
SMALL_INPUT = 4096   # larger inputs get the centre unit per layer and 3 classes (each costs a backward pass)


def check_image(path) -> None:
    """An image file Pillow can read, or one ValueError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.verify()
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ValueError(f"--image {path}: not an image file Pillow can read ({type(err).__name__})") from None


def image_input(path, input_shape) -> tuple[np.ndarray, str]:
    """An image file as one sample of `input_shape`: resized, grey for one channel, in [0, 1] like the
    bundled data, and inverted when its background is light (the digits are light ink on dark)."""
    from PIL import Image

    c, *size = input_shape
    if len(size) != 2 or c not in (1, 3):
        raise ValueError(f"explore: --image needs a model with a 1x H x W or 3 x H x W input, not {input_shape}")
    img = Image.open(path).convert("L" if c == 1 else "RGB").resize((size[1], size[0]), Image.Resampling.LANCZOS)
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = x[None] if c == 1 else x.transpose(2, 0, 1)
    note = f"{path}, resized to {size[0]}x{size[1]}{' and made grey' if c == 1 else ''}, scaled to [0, 1]"
    if c == 1 and x.mean() > 0.5:
        x = 1.0 - x
        note += ", inverted (light background)"
    return x, note


def sample_input(dataset: str, index: int, input_shape) -> tuple[np.ndarray, int, str]:
    """Test sample `index` of a bundled data set, with its label."""
    from .. import data

    if dataset not in data.DATASETS:
        raise ValueError(f"explore: no bundled data set {dataset!r}; choose one of {', '.join(data.DATASETS)}")
    _, _, x_test, y_test = data.DATASETS[dataset]()
    if not 0 <= index < len(x_test):
        raise ValueError(f"explore: --sample {index} is not a test sample of {dataset} (0 to {len(x_test) - 1})")
    if tuple(x_test.shape[1:]) != tuple(input_shape):
        raise ValueError(f"explore: {dataset} samples are {'x'.join(map(str, x_test.shape[1:]))} but the model takes "
                         f"{'x'.join(map(str, input_shape))}; give --image or a model for that data")
    return x_test[index], int(y_test[index]), f"test sample {index} of {dataset} (label {int(y_test[index])})"


def matching_dataset(input_shape) -> str | None:
    """The first bundled data set (digits first) whose samples have this shape, or None."""
    from .. import data

    for name, load in data.DATASETS.items():
        if tuple(load()[2].shape[1:]) == tuple(input_shape):
            return name
    return None


def forward(model, x) -> tuple[dict, np.ndarray]:
    """Every module's output for one sample (by qualified name) and the model's output."""
    from .. import no_grad
    from ..tensor import Tensor

    names = {id(m): n for n, m in model.named_modules()}
    outputs = {}
    was_training = model.training
    model.eval()
    try:
        with no_grad(), observe(lambda m, out: outputs.__setitem__(names.get(id(m)), np.asarray(out.data)[0])):
            y = model(Tensor(x[None]))
    finally:
        model.train(was_training)
    return outputs, np.asarray(y.data)[0]


def feature_maps(out: np.ndarray, input_shape) -> dict:
    """A layer's output for the page: its first channels (as many as fit in 64K cells, at most 16)."""
    if out.ndim == len(input_shape):
        cells = int(np.prod(out.shape[1:]))
        keep = max(1, min(out.shape[0], MAX_MAP_CHANNELS, MAX_MAP_CELLS // cells))
        note = "" if keep == out.shape[0] else f"first {keep} of {out.shape[0]} channels"
        return {"maps": pack(out[:keep]), "note": note}
    flat = out.ravel()
    keep = min(flat.size, 256)
    return {"vector": pack(flat[:keep]), "note": "" if keep == flat.size else f"first {keep} of {flat.size} values"}


def positions(size: tuple, per_layer: int) -> list:
    """Up to `per_layer` positions spread evenly over a grid of `size`, corners included (one: the centre)."""
    per_axis = max(1, int(round(per_layer ** (1 / len(size)))))
    if per_axis == 1:
        return [tuple((n - 1) // 2 for n in size)]
    axes = [np.unique(np.linspace(0, n - 1, min(n, per_axis)).round().astype(int)) for n in size]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(size))
    return [tuple(int(v) for v in p) for p in grid]


def batched_saliency(model, x, layer: str, units: list, chunk: int = 256) -> np.ndarray:
    """d(unit)/d(input) for many units of one layer at once: copies of x in one batch, each copy's
    backward seeded at its own unit (eval mode keeps the copies independent). Equals cs.saliency
    per unit; one backward pass per `chunk` units instead of one per unit."""
    from ..tensor import Tensor

    target = model.layer(layer)
    grads = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(units), chunk):
            part = units[start:start + chunk]
            inp = Tensor(np.repeat(x[None], len(part), 0), requires_grad=True)
            captured = []
            with observe(lambda m, out: captured.append(out) if m is target else None):
                model(inp)
            seed = np.zeros(captured[-1].shape, dtype=np.float32)
            for n, unit in enumerate(part):
                seed[(n, *unit)] = 1.0
            captured[-1].backward(seed)
            grads.append(np.asarray(inp.grad))
    finally:
        model.train(was_training)
    return np.concatenate(grads)


def saliency_maps(model, x, row: dict, input_shape, channels: int, per_layer: int) -> dict:
    """Saliency for the first `channels` channels at `positions` of the row's output, every channel
    at the same positions; each map signed for one input channel, else the largest magnitude over
    channels. Map k is channel k // len(positions) at position k % len(positions)."""
    where = positions(spatial(row, input_shape), per_layer)
    units = [(c, *p) for c in range(channels) for p in where]
    g = batched_saliency(model, x, row["name"], units)
    maps = g[:, 0] if g.shape[1] == 1 else np.abs(g).max(1)
    return {"channels": channels, "positions": [",".join(map(str, p)) for p in where], "maps": pack_each(maps)}


def class_saliency(model, x, classes) -> dict:
    out = {}
    for k in classes:
        g = saliency(model, x, (int(k),))
        out[str(int(k))] = pack(g[0] if g.shape[0] == 1 else np.abs(g).max(0))
    return out


def prediction(y: np.ndarray) -> dict | None:
    """Softmax probabilities of a vector of class scores (None for other outputs)."""
    if y.ndim != 1 or y.size < 2:
        return None
    p = np.exp(y - y.max())
    p /= p.sum()
    return {"scores": [float(v) for v in y], "probs": [float(v) for v in p], "top": int(np.argmax(p))}


def cam_layer(rows, input_shape) -> dict | None:
    """Where the page's class-activation maps are taken: the last layer with a spatial output."""
    spatial_rows = [r for r in rows if r["module"] and spatial(r, input_shape)]
    return None if not spatial_rows else {"layer": spatial_rows[-1]["name"], "kind": spatial_rows[-1]["kind"],
                                          "method": "Grad-CAM"}


def class_cams(model, xs, layer: str, classes) -> list:
    """Grad-CAM (convscope.analysis.cam) of each class for each image of xs at `layer`: per image,
    the maps of `classes` in order, packed (each in [0, 1])."""
    from ..analysis.cam import cam

    classes = [int(k) for k in classes]
    if not classes:
        return [None] * len(xs)
    batch = np.repeat(np.asarray(xs, np.float32), len(classes), 0)
    maps = cam(model, batch, layer, classes * len(xs), "gradcam").reshape(len(xs), len(classes), *xs.shape[2:])
    return [pack(m) for m in maps]
