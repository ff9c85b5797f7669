"""The run folder that `convscope train` writes and `draw`, `summary` and `cs.load_run` read:

    runs/<name>/model.yaml            the model file
    runs/<name>/model.safetensors     the trained weights
    runs/<name>/checkpoint.safetensors  weights, optimizer state and position (for --resume)
    runs/<name>/history.json          per-epoch metrics
    runs/<name>/run.json              what was trained on what: {"model", "data", "epochs", ...}

A run stopped by Ctrl-C is written too, with the weights reached so far, the finished epochs and
run.json's "interrupted": {"epoch", "batch"}; `convscope train --resume` continues it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MODEL, WEIGHTS, CHECKPOINT, HISTORY, FACTS = ("model.yaml", "model.safetensors", "checkpoint.safetensors",
                                              "history.json", "run.json")


@dataclass
class Run:
    """A run folder read back: the model with its trained weights, the history and the run facts."""
    path: Path
    model: object
    history: dict
    facts: dict


def run_dir(out, name: str) -> Path:
    return Path(out) / name


def check_new_run(folder, resume: bool, overwrite: bool) -> None:
    """Before any work: a run folder that already holds a run (trained weights or a checkpoint) is
    continued only with `resume` and replaced only with `overwrite`; nothing else writes over it."""
    folder = Path(folder)
    held = [name for name in (WEIGHTS, CHECKPOINT) if (folder / name).exists()]
    if held and not (resume or overwrite):
        raise ValueError(f"{folder} already holds a run ({', '.join(held)}): continue it with --resume, replace it "
                         "with --overwrite, or give another --out")


def write_run(folder, model, history, facts: dict) -> None:
    """Write a finished run: weights, model file, history and facts (weights are written atomically)."""
    from ..io import save
    from .document import to_yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save(model, folder / WEIGHTS)
    (folder / MODEL).write_text(to_yaml(model))
    (folder / HISTORY).write_text(history.to_json())
    (folder / FACTS).write_text(json.dumps(facts))


def load_run(path) -> Run:
    """A `convscope train` run folder: its model with the trained weights, history and facts."""
    from ..io import load
    from .document import load_model

    folder = Path(path)
    if not (folder / MODEL).exists():
        raise FileNotFoundError(f"{folder} is not a run folder (no {MODEL}); train one with `convscope train`")
    model = load_model(folder / MODEL)
    model.load_state_dict(load(folder / WEIGHTS))
    read = lambda name: json.loads((folder / name).read_text()) if (folder / name).exists() else {}  # noqa: E731
    return Run(folder, model, read(HISTORY), read(FACTS))
