"""The training checkpoint: one safetensors file holding the weights, the optimizer state and, as
JSON metadata, the position in training (epoch and batch), the finished epochs' history and every
random state, so a resumed run reaches exactly the weights an uninterrupted one would. Written
atomically by the training loop whichever engine runs its steps, so either engine resumes it."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from . import io, random

_OPTIM_PREFIX = "optim."  # a checkpoint's optimizer state; the model weights are io.MODEL_PREFIX


@dataclass
class Position:
    """Where training stands, with what is needed to replay the current epoch's batches."""
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the current epoch done
    epoch_rng: dict | None = None  # shuffle generator state at the start of the current epoch
    sums: tuple = (0.0, 0, 0, 0.0)  # loss sum, correct, seen, seconds so far in the epoch


def write(path, model, opt, epochs: list, pos: Position, shuffle: np.random.Generator) -> None:
    """Write the checkpoint of `model` and `opt` at `pos`, with the finished `epochs` (History records)."""
    arrays = {f"{io.MODEL_PREFIX}{k}": v for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    arrays.update({f"{_OPTIM_PREFIX}{k}": v for k, v in opt_state["arrays"].items()})
    meta = io.json_meta(epoch=pos.epoch, batch=pos.batch, epoch_rng=pos.epoch_rng, sums=list(pos.sums),
                        history={"epochs": list(epochs)}, optimizer={"name": type(opt).__name__.lower(),
                                                                      "steps": opt_state["steps"]},
                        shuffle_rng=shuffle.bit_generator.state, global_rng=random.get_state())
    io.write_tensors(path, arrays, {"kind": "checkpoint", **meta})


def read(path, model, opt, shuffle: np.random.Generator) -> tuple[list, Position]:
    """Load the checkpoint into `model`, `opt`, `shuffle` and the global random state; return the
    finished epochs' records and the position to continue from."""
    arrays, meta = io.read_tensors(path, "checkpoint")
    try:
        m = {k: json.loads(v) for k, v in meta.items() if k not in ("format", "kind")}
        model.load_state_dict(io.checkpoint_weights(arrays))
        if m["optimizer"]["name"] != type(opt).__name__.lower():
            raise ValueError(f"it was written by {m['optimizer']['name']}, this run uses {type(opt).__name__}")
        opt.load_state_dict({"arrays": {k[len(_OPTIM_PREFIX):]: v for k, v in arrays.items()
                                        if k.startswith(_OPTIM_PREFIX)}, "steps": m["optimizer"]["steps"]})
        shuffle.bit_generator.state = m["shuffle_rng"]
        random.set_state(m["global_rng"])
        return m["history"]["epochs"], Position(m["epoch"], m["batch"], m["epoch_rng"], tuple(m["sums"]))
    except (KeyError, TypeError, json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{path}: cannot resume from this checkpoint: {err}") from None


def position(path) -> dict:
    """Where a checkpoint resumes: {"epoch": e, "batch": b} with e the epoch it continues (from 1) and
    b the batches of it already done (0 at an epoch boundary)."""
    _, meta = io.read_tensors(path, "checkpoint")
    try:
        return {"epoch": json.loads(meta["epoch"]) + 1, "batch": json.loads(meta["batch"])}
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot resume from this checkpoint: no position ({err})") from None
