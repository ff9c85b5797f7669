"""Fuzz cases, four families: model files (both forms), safetensors weights, ONNX graphs and command
lines built from the command-line parser itself. Each generator takes a `random.Random` and returns a
`Case`: run(folder) does it in `folder` (a fresh temporary folder) and names nothing outside it; the
description says what was mutated (with the family and the seed, enough to rebuild the case).
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

import convscope as cs

HERE = Path(__file__).resolve().parents[1]
FIXTURES = HERE / "fixtures" / "model_files_2026_12"
PACKAGE = Path(cs.__file__).resolve().parent

# Values a careless user or an attacker writes where a number, a name or a list belongs.
HOSTILE = [-1, 0, 1, 2, -(10 ** 9), 10 ** 12, 10 ** 30, 1.5, -0.5, 1e308, float("nan"), float("inf"), True, None,
           "", "x", "X" * 5000, "../../etc/passwd", "same", "valid", "nan", "1x0", [], {}, [-1], [0, 0], [[[[1]]]],
           {"ref": "nope"}, {"tuple": 5}, {"slice": [1, 2, 3, 4]}, {"dict": []}, {"type": "ReLU"}, [{"type": "Bogus"}]]


@dataclass
class Case:
    description: str
    run: Callable  # run(folder) -> None, or a command line's exit code
    outputs: tuple = ()  # names in the folder the case names as its output: they may change
    creates: tuple = ()  # names it may create without naming them (a command's default output)
    setup: Callable | None = None  # setup(folder): files that are there before (and must stay)


def _hostile(rnd):
    return copy.deepcopy(rnd.choice(HOSTILE))


# ------------------------------------------------------------------------------ model files

def _model_texts() -> list[str]:
    files = sorted((PACKAGE / "model_files" / "zoo").glob("*.yaml")) + \
        sorted((PACKAGE / "model_files" / "examples").glob("*.yaml")) + [FIXTURES / "layers.yaml", FIXTURES / "graph.yaml"]
    return [f.read_text() for f in files]


TEXTS = _model_texts()


def _nodes(doc, path=()):
    """(path, value) of every node of a parsed document."""
    yield path, doc
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        yield from _nodes(v, path + (k,))


def _set(doc, path, value):
    if not path:
        return value
    owner = doc
    for k in path[:-1]:
        owner = owner[k]
    owner[path[-1]] = value
    return doc


def _mutate_document(rnd, doc):
    nodes = list(_nodes(doc))
    path, node = rnd.choice(nodes)
    what = rnd.randrange(5)
    if what == 0:
        return _set(doc, path, _hostile(rnd)), f"set {path} to a hostile value"
    if what == 1 and isinstance(node, dict) and node:
        key = rnd.choice(list(node))
        del node[key]
        return doc, f"deleted {path + (key,)}"
    if what == 2 and isinstance(node, dict):
        node[rnd.choice(["bogus", "type", "name", "layers", "steps", "modules", "output"])] = _hostile(rnd)
        return doc, f"added a key at {path}"
    if what == 3 and isinstance(node, dict) and "type" in node:
        node["type"] = rnd.choice(list(cs.nn.registry.declarations()) + ["Bogus", 3, None])
        return doc, f"changed the type at {path}"
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return _set(doc, path, rnd.choice([0, -1, 10 ** 9, -node, node * 1000])), f"scaled the number at {path}"
    return _set(doc, path, _hostile(rnd)), f"set {path} to a hostile value"


def _text_mutation(rnd, text: str) -> tuple[bytes, str]:
    data = text.encode()
    what = rnd.randrange(6)
    if what == 0:
        cut = rnd.randrange(len(data) + 1)
        return data[:cut], f"truncated at byte {cut}"
    if what == 1:
        at = rnd.randrange(len(data) + 1)
        return data[:at] + bytes(rnd.randrange(128, 256) for _ in range(3)) + data[at:], f"bytes not UTF-8 at {at}"
    if what == 2:
        tag = rnd.choice(["!!python/object/apply:os.system ['echo hi']", "!!python/name:os.system", "!!binary AAAA",
                          "!custom {a: 1}", "!!set {a, b}"])
        return data + f"\nextra: {tag}\n".encode(), f"tag {tag}"
    if what == 3:
        depth = rnd.choice([50, 99, 101, 400, 2000])
        return data + f"\nnested: {'[' * depth}1{']' * depth}\n".encode(), f"nested {depth} levels"
    if what == 4:
        width, depth = rnd.randint(2, 10), rnd.randint(2, 8)
        bomb = "z0: &z0 [{type: ReLU}, {type: ReLU}]\n" + "".join(
            f"z{i}: &z{i} [" + ", ".join([f"{{type: Sequential, layers: *z{i - 1}}}"] * width) + "]\n"
            for i in range(1, depth))
        return (bomb + f"layers: *z{depth - 1}\n").encode(), f"alias bomb {width}^{depth}"
    return data.replace(b":", b"", 1), "a colon removed"


def model_file(rnd: random.Random):
    text = rnd.choice(TEXTS)
    if rnd.random() < 0.6:
        doc = yaml.safe_load(text)
        for _ in range(rnd.randint(1, 3)):
            doc, how = _mutate_document(rnd, doc)
        try:
            data = yaml.safe_dump(doc, sort_keys=False).encode()
        except (yaml.YAMLError, RecursionError, ValueError):
            data, how = text.encode(), "unchanged"
    else:
        data, how = _text_mutation(rnd, text)

    meta = rnd.random() < 0.5

    def run(folder: Path):
        model = cs.load_model(folder / "model.yaml", meta=meta)
        shape = getattr(model, "input_shape", None)
        if shape:
            cs.summary(model, shape)
    return Case(f"model file: {how}", run, setup=_writes("model.yaml", data))


def _writes(name: str, data: bytes):
    """A setup writing the case's input file (there before the case runs, and it must stay so)."""
    return lambda folder: (folder / name).write_bytes(bytes(data))


# ------------------------------------------------------------------------------ weights

def weights(rnd: random.Random):
    data = bytearray((FIXTURES / "layers.safetensors").read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    what = rnd.randrange(6)
    if what == 0:
        data[:8] = struct.pack("<Q", rnd.choice([0, 1, n + 1, len(data), 2 ** 40, 2 ** 64 - 1]))
        how = "header length changed"
    elif what in (1, 2, 3):
        name = rnd.choice([k for k in header if k != "__metadata__"])
        field = ["dtype", "shape", "data_offsets"][what - 1]
        header[name][field] = rnd.choice({"dtype": ["F16", "I64", "BOOL", "X", "F64", 3],
                                          "shape": [[], [-1], [10 ** 12], [0], "3", [2, 2, 2, 2, 2]],
                                          "data_offsets": [[0, 10 ** 12], [-4, 4], [8, 4], [0], "x"]}[field])
        body = json.dumps(header).encode()
        data = bytearray(struct.pack("<Q", len(body)) + body + data[8 + n:])
        how = f"{name}.{field} changed"
    elif what == 4:
        cut = rnd.randrange(len(data))
        data = data[:cut]
        how = f"truncated at {cut}"
    else:
        at = rnd.randrange(8, 8 + n)
        data[at] = rnd.randrange(256)
        how = f"header byte {at} changed"

    def run(folder: Path):
        model = cs.load_model(FIXTURES / "layers.yaml")
        model.load_state_dict(cs.load(folder / "w.safetensors"))
    return Case(f"weights: {how}", run, setup=_writes("w.safetensors", data))


# ------------------------------------------------------------------------------ ONNX graphs

_ONNX = None


def _onnx_bytes() -> bytes:
    global _ONNX
    if _ONNX is None:
        import tempfile

        model = cs.load_model(FIXTURES / "layers.yaml").eval()
        with tempfile.TemporaryDirectory() as tmp:
            cs.to_onnx(model, (1, 8, 8), Path(tmp) / "m.onnx")
            _ONNX = (Path(tmp) / "m.onnx").read_bytes()
    return _ONNX


def onnx_graph(rnd: random.Random):
    import onnx

    model = onnx.load_from_string(_onnx_bytes())
    g = model.graph
    what = rnd.randrange(8)
    if what == 0 and any(n.attribute for n in g.node):
        node = rnd.choice([n for n in g.node if n.attribute])
        attr = rnd.choice(list(node.attribute))
        if attr.ints:
            attr.ints[rnd.randrange(len(attr.ints))] = rnd.choice([0, -1, -(2 ** 40), 2 ** 40])
        else:
            attr.i = rnd.choice([0, -1, 2 ** 40])
        how = f"attribute {node.op_type}.{attr.name}"
    elif what == 1 and g.initializer:
        del g.initializer[rnd.randrange(len(g.initializer))]
        how = "an initializer removed"
    elif what == 2 and g.initializer:
        g.initializer[rnd.randrange(len(g.initializer))].data_type = rnd.choice([999, 0, 8, 13])
        how = "an initializer's data_type"
    elif what == 3 and g.initializer:
        init = g.initializer[rnd.randrange(len(g.initializer))]
        if init.dims:
            init.dims[0] = rnd.choice([0, 1, 7, 10 ** 9])
        how = "an initializer's dims"
    elif what == 4:
        rnd.choice(list(g.node)).op_type = rnd.choice(["Bogus", "Loop", "Sin", "If", "Conv"])
        how = "an unknown op"
    elif what == 5:
        node = rnd.choice(list(g.node))
        node.input[0] = node.output[0]
        how = "a cycle"
    elif what == 6 and g.initializer:
        init = g.initializer[rnd.randrange(len(g.initializer))]
        init.data_location = onnx.TensorProto.EXTERNAL
        entry = init.external_data.add()
        entry.key, entry.value = "location", rnd.choice(["/etc/passwd", "../outside.bin", "missing.bin"])
        init.ClearField("raw_data")
        how = "external data"
    else:
        data = model.SerializeToString()
        cut = rnd.randrange(len(data))
        return Case(f"onnx: truncated at {cut}", _onnx_run, setup=_writes("m.onnx", data[:cut]))
    return Case(f"onnx: {how}", _onnx_run, setup=_writes("m.onnx", model.SerializeToString()))


def _onnx_run(folder: Path):
    model = cs.from_onnx(folder / "m.onnx")
    with cs.no_grad():
        model(cs.Tensor(np.zeros((1, 1, 8, 8), np.float32)))


# ------------------------------------------------------------------------------ command lines

def _subcommands() -> dict[str, argparse.ArgumentParser]:
    from convscope import cli

    parser = cli.parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subs.choices)


# Commands whose work grows with an argument (epochs, a full-size model's training) are given small
# valid values or invalid ones: a legitimate hour of training is not a hang.
VALID = {"model": ["lenet_digits", "fc_digits", "cnn1d_mnist1d", "lenet5", str(FIXTURES / "layers.yaml")],
         "models": ["lenet5", "fc_digits"], "--input": ["1x8x8", "3x32x32", "1x28x28"],
         "--epochs": ["1"], "--kernel": ["3", "5"], "--data": ["digits"], "name": ["stacking", "kernels"],
         "--sample": ["0", "1"], "--batch-size": ["8", "64"]}
RISKY = ["", "0", "-1", "1e9", "nan", "x", "1x0", "32x32", "999999999999", "X" * 300, "missing.yaml",
         "../outside", "1x8x8", "3", "same"]
SLOW = {"tour", "experiment"}  # minutes of training by design: not fuzzed


def command_line(rnd: random.Random):
    subs = {k: v for k, v in _subcommands().items() if k not in SLOW}
    name = rnd.choice(sorted(subs))
    argv = [name]
    outputs = set()
    for action in subs[name]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            argv.append(rnd.choice(sorted(action.choices)))
            continue
        required = action.required or not action.option_strings
        if not required and rnd.random() < 0.6:
            continue
        if action.nargs == 0:
            argv.append(action.option_strings[0])
            continue
        key = action.option_strings[0] if action.option_strings else action.dest
        pool = action.choices or VALID.get(key) or VALID.get(action.dest)
        value = str(rnd.choice(list(pool))) if pool and rnd.random() < 0.7 else rnd.choice(RISKY)
        if action.dest in ("out", "output"):
            value = rnd.choice(["out", "", "."]) if rnd.random() < 0.5 else value
            outputs.add(value.split("/")[0] or "")
        argv += ([action.option_strings[0]] if action.option_strings else []) + [value]

    def run(folder: Path):
        from convscope import cli

        return cli.main(argv)
    if "--resume" in argv or "--overwrite" in argv:  # the user named the run folder's run as theirs to replace
        outputs.add(next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--out"), "runs"))
    return Case(f"cli: convscope {' '.join(argv)}", run, tuple(o for o in outputs if o and o != "."),
                ("runs", "explore.html", "tour", "experiments"), _a_trained_run)


def _a_trained_run(folder: Path):
    """What a user has in the folder already: a trained run and an explorer page."""
    shutil.copytree(FIXTURES / "runs", folder / "runs")
    (folder / "explore.html").write_text("<p>my page</p>")


FAMILIES = {"model_file": model_file, "weights": weights, "onnx": onnx_graph, "cli": command_line}
