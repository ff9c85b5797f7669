"""Gather everything the explore page shows into one JSON-able dict, and write the page."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import activations as act
from .analysis import boxes, kernels, layer_rows, spatial
from .pack import exact, pack, unexact
from .playground import check_table
from .program import flow, program, samples
from .units import EXACT_BUDGET, Store, unit_data

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "examples" / "lenet_digits.yaml"


def _input_shape(model, input_shape, facts):
    if input_shape is not None:
        return tuple(int(v) for v in input_shape)
    if getattr(model, "input_shape", None):
        return tuple(model.input_shape)
    raise ValueError("explore: give --input, e.g. --input 3x224x224 (the model names no input_shape)")


def page_data(spec=None, input_shape=None, *, weights=None, image=None, sample=None, dataset=None,
              trained=None, title=None) -> dict:
    """Everything the page shows, computed by convscope (see docs/explore.md for each field).

    Args:
        spec: a Module, zoo name, model file, `torch:` spec or `.onnx` file (default: the LeNet of examples/).
        weights: a safetensors file or a `convscope train` run folder.
        image / sample: the input: an image file, or test sample N of `dataset` (default: the run's
            data set, else digits). Neither: sample 0 when the model has weights.
        trained: override whether the weights mean anything (activations are shown only if so).
    """
    if image is not None:
        act.check_image(image)  # before the model is built: a large one takes seconds
    from ..model_files.named import with_weights

    if spec is None and (weights is None or not Path(weights).is_dir()):
        spec = str(DEFAULT_MODEL) if DEFAULT_MODEL.exists() else "lenet5"
    model, has_weights, facts, weights_note = with_weights(spec, weights)
    if not has_weights and trained is None and (image is not None or sample is not None):
        raise ValueError(f"{'--image' if image is not None else '--sample'} shows what trained weights compute; "
                         "this model's are random: give --weights FILE or a run folder")
    trained = has_weights if trained is None else trained
    if trained and spec is not None and not isinstance(spec, (str, Path)):
        weights_note = "trained weights"
    shape = _input_shape(model, input_shape, facts)
    rows, totals = layer_rows(model, shape)
    modules = dict(model.named_modules())
    for row in rows:
        row["boxes"] = boxes(model, shape, row)
        row["kernels"] = kernels(modules[row["name"]]) if row["module"] else None
    data = {"title": title or getattr(model, "name", None) or type(model).__name__, "input_shape": list(shape),
            "rows": rows, "totals": totals, "weights": weights_note, "trained": bool(trained), "checks": check_table(),
            "activations": None, "status": ""}
    if not trained:
        data["status"] = ("This model has random weights, so its activations would mean nothing: the page shows "
                          "the analysis (shapes, parameters, MACs, receptive fields, input boxes) only. Give "
                          "--weights FILE or a run folder to see feature maps, saliency and the prediction.")
        return data
    dataset = dataset or facts.get("data") or (act.matching_dataset(shape) if image is None else None)
    if image is None and dataset is None and sample is None:
        data["status"] = (f"No bundled data set has {'x'.join(map(str, shape))} samples: give --image FILE (or --sample N "
                          "with --data) to see activations. The analysis below needs no input.")
        return data
    if image is not None:
        x, note = act.image_input(image, shape)
        label = None
    else:
        x, label, note = act.sample_input(dataset or "digits", 0 if sample is None else int(sample), shape)
    try:
        x = np.asarray(x, np.float32)
        runnable = _runnable(model, shape, x, data, dataset if image is None else None)
        data["activations"] = _activations(model, shape, rows, x, note, label, runnable["program"] is not None)
        data["activations"].update(runnable, flow=flow(model, x))
        _sample_cams(model, data["activations"])
    except (ValueError, TypeError, RuntimeError, NotImplementedError) as err:
        data["status"] = f"The model could not run on this input, so only the analysis is shown: {err}"
    return data


def _activations(model, shape, rows, x, note, label, in_page: bool) -> dict:
    """Feature maps, prediction and Grad-CAM; saliency maps for the stated subset of units when the
    page cannot compute them itself (`in_page`: it differentiates its own forward pass)."""
    outputs, y = act.forward(model, x)
    small = int(np.prod(shape[1:])) <= act.SMALL_INPUT
    per_layer = act.SALIENCY_UNITS if small else 1
    layers = {}
    for row in rows:
        if not row["module"] or row["name"] not in outputs:
            continue
        entry = act.feature_maps(outputs[row["name"]], shape)
        if not in_page and (row["kernels"] is not None or row["kind"].startswith(("MaxPool", "AvgPool"))):
            if spatial(row, shape):
                channels = entry["maps"]["shape"][0] if small else 1
                entry["saliency"] = act.saliency_maps(model, x, row, shape, channels, per_layer)
        layers[row["name"]] = entry
    pred = act.prediction(y)
    classes = [] if pred is None else list(np.argsort(pred["probs"])[::-1][:10 if small else 3])
    where = act.cam_layer(rows, shape) if pred else None
    return {"input": pack(x), "input_note": note, "label": label, "layers": layers, "prediction": pred,
            "class_saliency": act.class_saliency(model, x, classes) if pred and not in_page else {},
            "cam": None if where is None else {**where, "classes": [int(k) for k in classes],
                                               "maps": act.class_cams(model, x[None], where["layer"], classes)[0]},
            "saliency_note": _saliency_note(in_page, small, per_layer, len(classes))}


def _saliency_note(in_page, small, per_layer, classes) -> str:
    if in_page:
        return "Saliency maps are computed by the page for any unit and class"
    units = (f"for every channel shown at up to {per_layer} evenly spread positions of each convolution and pooling "
             "layer" if small else "for the centre unit of channel 0 of each convolution and pooling layer (each map "
             "costs one backward pass)")
    return f"Saliency maps are precomputed {units}, and for the top {classes} classes"


def _runnable(model, shape, x, data, dataset) -> dict:
    """The exact numbers the page computes with: each layer's for the arithmetic of a unit, and the
    whole chain (with test samples to switch between) when the page can run the model itself."""
    store = Store(EXACT_BUDGET)
    units = {"layers": unit_data(model, x, store), "budget": EXACT_BUDGET}
    steps = program(model, x, data["totals"]["macs"], store)
    units["arrays"] = store.arrays
    return {"units": units, "program": steps if store.left >= 0 else None, "exact_input": exact(x),
            "samples": samples(dataset, shape) if steps and dataset else []}


def _sample_cams(model, activations) -> None:
    """Grad-CAM of every class shown for each embedded sample, in one batch."""
    cam, chosen = activations.get("cam"), activations["samples"]
    if cam and chosen:
        xs = np.stack([unexact(c["input"]) for c in chosen])
        for c, maps in zip(chosen, act.class_cams(model, xs, cam["layer"], cam["classes"])):
            c["cam"] = maps


def explore(spec=None, input_shape=None, *, out="explore.html", **kwargs) -> Path:
    """Write the explore page for a model (arguments as `page_data`); returns its path."""
    from .page import render, written_here

    path = Path(out)
    if not str(out).strip() or path.is_dir():
        raise ValueError(f"the page to write is {str(out)!r}: name an .html file")
    if path.exists() and not written_here(path):
        raise ValueError(f"{path} exists and is not a page convscope wrote: name another file (-o PAGE.html)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(page_data(spec, input_shape, **kwargs)), encoding="utf-8")
    return path
