"""Weights and checkpoints as safetensors (never pickle), written atomically; model files as YAML."""
from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

FORMAT = "convscope"
MODEL_PREFIX = "model."  # a checkpoint's model weights; the rest is optimizer state


def _atomic_write(path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tensors(path, arrays: dict, metadata: dict) -> None:
    from safetensors.numpy import save

    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    _atomic_write(path, save(arrays, metadata={"format": FORMAT, **metadata}))


def read_tensors(path, kind) -> tuple[dict, dict]:
    """(arrays, metadata) of a convscope safetensors file of the given kind (or one of a tuple of
    kinds); clear errors otherwise."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors file (truncated or another format): {err}") from None
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if metadata.get("format") != FORMAT or metadata.get("kind") not in kinds:
        found = f"{metadata.get('format', 'no format tag')}/{metadata.get('kind', '?')}"
        raise ValueError(f"{path} is a safetensors file but not a convscope {' or '.join(kinds)} file ({found})")
    return arrays, metadata


def save(model_or_state, path) -> None:
    """Save a model's (or a state dict's) weights to a .safetensors file."""
    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    write_tensors(path, dict(state), {"kind": "weights"})


def load(path) -> "OrderedDict[str, np.ndarray]":
    """The state dict saved by `save`, or the model weights inside a training checkpoint written by
    `fit(checkpoint=...)` (load it with model.load_state_dict)."""
    arrays, metadata = read_tensors(path, ("weights", "checkpoint"))
    return checkpoint_weights(arrays) if metadata["kind"] == "checkpoint" else OrderedDict(arrays)


def checkpoint_weights(arrays: dict) -> "OrderedDict[str, np.ndarray]":
    """The model's state dict among a checkpoint's arrays (the rest is optimizer state)."""
    return OrderedDict((k[len(MODEL_PREFIX):], v) for k, v in arrays.items() if k.startswith(MODEL_PREFIX))


def json_meta(**items) -> dict:
    return {k: json.dumps(v) for k, v in items.items()}
