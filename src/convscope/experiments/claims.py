"""The experiments: each trains small real models on bundled data and reports the evidence."""
from __future__ import annotations

import time

import numpy as np

from .. import data, nn, ops
from ..analysis import stacking as stacking_arithmetic
from ..analysis import summary
from ..lecture import STACKING_CHANNELS, erratum
from ..random import manual_seed
from ..train import evaluate, fit, predict
from . import figures
from .base import Result, experiment


def _train(model, train, test, epochs: int, seed: int, lr: float = 3e-3):
    start = time.perf_counter()
    fit(model, train, None, epochs=epochs, lr=lr, batch_size=64, seed=seed, quiet=True)
    return evaluate(model, *test)[1], (time.perf_counter() - start) / epochs


def _fc(inputs: int, hidden: int = 128):
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def _cnn(size: int, head: str = "flatten"):
    body = [nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU()]
    if head == "gap":
        return nn.Sequential(*body, nn.GlobalMaxPool(), nn.Linear(32, 10))
    return nn.Sequential(*body, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * (size // 4) ** 2, 10))


# ------------------------------------------------------------------------------ permutation

@experiment
def permutation(seed: int = 0, quick: bool = False) -> Result:
    """An FC layer ignores pixel order; a CNN depends on it."""
    x_train, y_train, x_test, y_test = data.digits()
    perm = np.random.default_rng(seed + 1).permutation(64)
    shuffle = lambda x: x.reshape(len(x), -1)[:, perm].reshape(x.shape)  # noqa: E731
    epochs = 8 if quick else 25
    rows, acc, guesses = [], {}, {}
    for kind in ("fc", "cnn"):
        for order in ("original", "permuted"):
            manual_seed(seed)
            model = _fc(64) if kind == "fc" else _cnn(8, "gap")
            fix = shuffle if order == "permuted" else (lambda x: x)
            acc[kind, order], _ = _train(model, (fix(x_train), y_train), (fix(x_test), y_test), epochs, seed)
            if order == "original":
                acc[kind, "cross"] = evaluate(model, shuffle(x_test), y_test)[1]
                guesses[kind] = np.bincount(predict(model, shuffle(x_test)).argmax(axis=1), minlength=10).tolist()
        rows.append([kind, acc[kind, "original"], acc[kind, "permuted"], acc[kind, "permuted"] - acc[kind, "original"],
                     acc[kind, "cross"], 1 / 10])
    fig = figures.permutation(acc)
    # the last-but-one column: a net trained on the original order, shown permuted test images; it can
    # fall below chance because it does not guess at random but maps the scrambled images to a few
    # classes (how many it puts in each class: numbers["<kind>_cross_predicted_classes"])
    return Result("permutation", "an FC net does not care about pixel order; a CNN does",
                  ["model", "accuracy original", "accuracy permuted", "accuracy change (permuted - original)",
                   "accuracy, trained on original, tested on permuted", "chance accuracy"],
                  rows, {**{f"{k}_{o}": v for (k, o), v in acc.items()},
                         **{f"{k}_cross_predicted_classes": g for k, g in guesses.items()}}, fig)


# ------------------------------------------------------------------------------ translation

def _paste(images, canvas: int, rows, cols):
    out = np.zeros((len(images), 1, canvas, canvas), np.float32)
    for i, (r, c) in enumerate(zip(rows, cols)):
        out[i, 0, r:r + 8, c:c + 8] = images[i, 0]
    return out


def _ring(shift: int, centre: int, canvas: int) -> np.ndarray:
    """Every top-left corner at exactly `shift` cells (the larger of rows and columns) from `centre`."""
    corners = np.array([(r, c) for r in range(canvas - 7) for c in range(canvas - 7)])
    return corners[np.abs(corners - centre).max(axis=1) == shift]


@experiment
def translation(seed: int = 0, quick: bool = False) -> Result:
    """Trained on centred digits, tested shifted: a CNN with global pooling finds the digit anywhere.

    Every test digit is tested at every shift (at a corner drawn at random among those at that
    shift), so each point of the curve rests on the whole test set, not on the few digits a random
    placement happens to leave unshifted."""
    canvas, centre = 16, 4
    x_train, y_train, x_test, y_test = data.digits()
    rng = np.random.default_rng(seed + 2)
    train = _paste(x_train, canvas, [centre] * len(x_train), [centre] * len(x_train))
    rings = [_ring(d, centre, canvas) for d in range(canvas - 7 - centre)]  # shifts 0 .. 4: up to the edge
    corners = [ring[rng.integers(0, len(ring), len(x_test))] for ring in rings]  # one corner per digit and shift
    tests = [_paste(x_test, canvas, rc[:, 0], rc[:, 1]) for rc in corners]
    count = [len(y_test)] * len(tests)
    epochs = 4 if quick else 20
    models = {"fully connected": lambda: _fc(canvas * canvas), "CNN + flatten + dense": lambda: _cnn(canvas),
              "CNN + global pooling": lambda: _cnn(canvas, "gap")}
    by_shift, rows = {}, []
    for name, build in models.items():
        manual_seed(seed)
        model = build()
        _train(model, (train, y_train), (train[:1], y_train[:1]), epochs, seed)
        by_shift[name] = [float((predict(model, test).argmax(axis=1) == y_test).mean()) for test in tests]
        rows.append([name, by_shift[name][0], float(np.mean(by_shift[name][2:])), float(np.mean(by_shift[name]))])
    fig = figures.translation(by_shift, count)
    far = sum(count[2:])
    return Result("translation", "a CNN with global pooling recognises a digit anywhere in the image",
                  ["model", f"accuracy unshifted ({count[0]:,} images)", f"accuracy shifted >= 2 ({far:,} images)",
                   f"accuracy all ({sum(count):,} images)"], rows,
                  {"by_shift": by_shift, "count_by_shift": count}, fig)


# ------------------------------------------------------------------------------ order1d

def _motifs(n: int, length: int, rng):
    """Two classes with the same values in a different order: (+1, -1, +1) versus (+1, +1, -1)."""
    x = rng.normal(0, 0.1, (n, 1, length)).astype(np.float32)
    y = rng.integers(0, 2, n)
    start = rng.integers(0, length - 2, n)
    motif = np.array([[1, -1, 1], [1, 1, -1]], np.float32)
    for i in range(n):
        x[i, 0, start[i]:start[i] + 3] += motif[y[i]]
    return x, y.astype(np.int64)


@experiment
def order1d(seed: int = 0, quick: bool = False) -> Result:
    """A 1-D convolution tells orders apart; a bag-of-values model cannot."""
    rng = np.random.default_rng(seed + 3)
    (xa, ya), (xb, yb) = _motifs(2000, 24, rng), _motifs(500, 24, rng)
    bag = lambda c: nn.Sequential(nn.Conv1d(1, 32, 1), nn.ReLU(), nn.GlobalAvgPool(), nn.Linear(32, c))  # noqa: E731
    cnn = lambda c: nn.Sequential(nn.Conv1d(1, 32, 3), nn.ReLU(), nn.GlobalMaxPool(), nn.Linear(32, c))  # noqa: E731
    epochs = 6 if quick else 20
    rows, numbers = [], {}
    for task, (train, test), classes in [("motif order", ((xa, ya), (xb, yb)), 2),
                                         ("MNIST-1D", _mnist1d_split(), 10)]:
        for name, build in (("bag of values (1x1 conv + global average)", bag), ("1-D CNN (width 3 + global max)", cnn)):
            manual_seed(seed)
            acc, _ = _train(build(classes), train, test, epochs, seed, lr=1e-2)
            numbers[f"{task}/{name.split(' (')[0]}"] = acc
            rows.append([task, name, acc, 1 / classes])
    fig = figures.grouped("Same values, different order: a bag of values against a 1-D CNN", ["motif order", "MNIST-1D"],
                          {"bag of values": [r[2] for r in rows if r[1].startswith("bag")],
                           "1-D CNN": [r[2] for r in rows if r[1].startswith("1-D")]}, "test accuracy", percent=True)
    return Result("order1d", "only a model that sees neighbours can tell orders apart",
                  ["task", "model", "test accuracy", "chance accuracy"], rows, numbers, fig)


def _mnist1d_split():
    x_train, y_train, x_test, y_test = data.mnist1d()
    return (x_train, y_train), (x_test, y_test)


# ------------------------------------------------------------------------------ stacking

def _block_model(block, channels: int):
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), *block, nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(channels * 16, 10))


@experiment
def stacking(seed: int = 0, quick: bool = False) -> Result:
    """Stacked 3x3 layers see what one larger kernel sees, with fewer weights and more non-linearity."""
    channels = STACKING_CHANNELS  # the channels the lecture's erratum and the notebook count with
    epochs = 6 if quick else 20
    x_train, y_train, x_test, y_test = data.digits()
    rows, numbers = [], {}
    for f in ((5,) if quick else (5, 7)):
        arithmetic = stacking_arithmetic(f, 3, channels)
        n = arithmetic["stack"]["layers"]
        # builders, not blocks: every weight is drawn after manual_seed, so a seed fixes the run
        variants = {f"one {f}x{f}": lambda: [nn.Conv2d(channels, channels, f, padding=f // 2, bias=False)],
                    f"{n} x 3x3": lambda: sum(([nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.ReLU()]
                                               for _ in range(n)), [])[:-1]}
        for name, build in variants.items():
            manual_seed(seed)
            block = build()
            model = _block_model(block, channels)
            s = summary(nn.Sequential(*block), (channels, 8, 8))
            acc, per_epoch = _train(model, (x_train, y_train), (x_test, y_test), epochs, seed)
            rf = [r for r in summary(model, (1, 8, 8)).rows if r.kind == "Conv2d"][-1].rf_size
            rows.append([name, s.totals["params"], s.totals["macs"], rf[0], acc, per_epoch])
            numbers[name] = {"params": s.totals["params"], "accuracy": acc}
        ratio = arithmetic["ratio"]
        numbers[f"true ratio {f}x{f} / {n} x 3x3"] = f"{ratio.numerator}/{ratio.denominator} = {float(ratio):.2f}"
        numbers[f"erratum {f}x{f}"] = erratum(f"stacking {f}x{f}").sentence()
    fig = figures.stacking(rows)
    return Result("stacking", "n stacked 3x3 layers see what one f x f layer sees, with f^2/(9n) times fewer weights",
                  ["block", "params", "MACs", "RF after block", "test accuracy", "s/epoch"], rows, numbers, fig)


# ------------------------------------------------------------------------------ bottleneck

@experiment
def bottleneck(seed: int = 0, quick: bool = False) -> Result:
    """A 1x1 layer cuts channels cheaply before an expensive 3x3."""
    epochs = 5 if quick else 15
    x_train, y_train, x_test, y_test = data.digits()
    variants = {"3x3, 64 -> 64": lambda: [nn.Conv2d(64, 64, 3, padding=1)],
                "1x1 64 -> 16, then 3x3 16 -> 64": lambda: [nn.Conv2d(64, 16, 1), nn.ReLU(), nn.Conv2d(16, 64, 3, padding=1)]}
    rows, numbers = [], {}
    for name, build in variants.items():
        manual_seed(seed)  # before the block is built: its weights come from the seed too
        block = build()
        model = _block_model(block, 64)
        s = summary(nn.Sequential(*block), (64, 8, 8))
        acc, _ = _train(model, (x_train, y_train), (x_test, y_test), epochs, seed)
        # no wall time: the claim is about counts, and on a busy machine a time can rank the blocks either way
        rows.append([name, s.totals["params"], s.totals["macs"], acc])
        numbers[name] = {"params": s.totals["params"], "macs": s.totals["macs"], "accuracy": acc}
    fig = figures.bottleneck(rows)
    return Result("bottleneck", "a 1x1 reduction to 16 channels saves most of the 3x3's parameters and MACs",
                  ["block", "params", "MACs", "test accuracy"], rows, numbers, fig)


# ------------------------------------------------------------------------------ kernels

HAND = {"vertical edge": [[1, 0, -1], [2, 0, -2], [1, 0, -1]], "horizontal edge": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
        "blur": [[1 / 9] * 3] * 3, "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]]}


@experiment
def kernels(seed: int = 0, quick: bool = False) -> Result:
    """What a trained first layer learned, beside hand-made kernels, on the same digit."""
    from ..model_files import load_model
    from ..model_files.examples import example_model

    x_train, y_train, x_test, y_test = data.digits()
    manual_seed(seed)
    model = load_model(example_model("lenet_digits"))
    acc, _ = _train(model, (x_train, y_train), (x_test, y_test), 5 if quick else 20, seed)
    learned = model.conv1.weight.data[:, 0]
    digit = x_test[0]
    hand = np.array(list(HAND.values()), np.float32)
    shown = np.concatenate([hand, learned[:8]])
    maps = ops.conv(digit[None], shown[:, None], padding=1)[0]
    fig = figures.kernels([*HAND, *(f"learned {i}" for i in range(len(shown) - len(HAND)))], shown, maps, y_test[0])
    unit = lambda k: (k - k.mean()).ravel() / (np.linalg.norm(k - k.mean()) + 1e-12)  # noqa: E731
    rows = []
    for i, k in enumerate(learned):
        sims = {name: float(abs(unit(k) @ unit(np.array(h, np.float32)))) for name, h in HAND.items() if name != "blur"}
        best = max(sims, key=sims.get)
        rows.append([f"learned {i}", best, sims[best], float(k.sum())])
    return Result("kernels", "a trained first layer holds edge- and blob-like detectors",
                  ["kernel", "closest hand-made edge/laplacian", "|cosine|", "sum (blur-like if large)"], rows,
                  {"accuracy": acc, "maps": maps.tolist()}, fig)
