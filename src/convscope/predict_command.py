"""`convscope predict MODEL IMAGE...`: the classes a model gives image files, most probable first."""
from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify image files: each one's most probable classes")
    p.add_argument("model", help="a model file, a `convscope train` run folder (its weights), a zoo name, ...")
    p.add_argument("images", nargs="+", help="image files, converted to the model's input_shape")
    p.add_argument("--weights", help="a .safetensors file or a run folder (default: the run folder's, else as built)")
    p.add_argument("--input", help="one sample's shape when the model names none, e.g. 3x32x32")
    p.add_argument("--top", type=int, default=5, help="classes shown per image (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON document instead of lines")


def predictions(model, images, input_shape, top: int, classes=None) -> list:
    """[{"image", "top": [{"class", "name", "probability"}, ...]}] for each image file."""
    import numpy as np

    from .data import read_image
    from .train import predict

    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    x = np.stack([read_image(f, tuple(input_shape)) for f in images])
    logits = predict(model, x).astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    out = []
    for f, row in zip(images, p):
        best = np.argsort(-row, kind="stable")[:top]
        out.append({"image": str(f), "top": [{"class": int(k), "name": classes[k] if classes else str(k),
                                              "probability": float(row[k])} for k in best]})
    return out


def run(args) -> int:
    from . import data
    from .cli_args import parse_input
    from .model_files.named import with_weights

    run_folder = args.weights is None and Path(args.model).is_dir()
    model, _, facts, _ = with_weights(None if run_folder else args.model, args.model if run_folder else args.weights)
    shape = parse_input(args.input) if args.input else getattr(model, "input_shape", None)
    if not shape:
        raise ValueError(f"{args.model} names no input_shape; give --input, e.g. --input 3x32x32")
    spec = data.SETS.get(facts.get("data", ""))
    result = predictions(model, args.images, shape, args.top, spec.classes if spec else None)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for item in result:
            print(f"{item['image']}: " + ", ".join(f"{c['name']} {c['probability']:.1%}" for c in item["top"]))
    return 0
