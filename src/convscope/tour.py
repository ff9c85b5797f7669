"""`convscope tour`: the lecture, run for real on the bundled digits, ending in one HTML page.

It prints the 4x4 example and its matrix C, trains the LeNet of examples/ and a dense net of about
the same size, prints the summary with receptive fields, and writes every figure with two lines on
what it shows and the numbers behind it into OUT/index.html.
"""
from __future__ import annotations

import html
import time
from pathlib import Path

import numpy as np

from . import data, fit, lecture, load_model, manual_seed, save
from .analysis import receptive_field, summary
from .nn import Conv1d, Sequential
from .train import evaluate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_model(name: str) -> Path:
    """The path of a model file in examples/ (the tour and the experiments train them)."""
    here = EXAMPLES / f"{name}.yaml"
    if not here.exists():
        raise FileNotFoundError(f"{here} is missing: the tour uses the model files in examples/")
    return here


def run(out="tour", quick: bool = False, console=None) -> dict:
    """Run the tour; return {"figures": [...], "numbers": {...}, "index": path}."""
    from rich.console import Console

    from . import viz

    console = console or Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    epochs = 3 if quick else 20
    figures = []

    def add(fig, name: str, title: str, lines: str, **kw):
        path = out / name
        if name.endswith(".gif"):
            fig.save_animation(path)
        else:
            fig.savefig(path, dpi=kw.get("dpi", 90))
        figures.append({"file": name, "title": title, "text": lines})
        console.print(f"  wrote {path}")

    console.rule("1. convolution as matrix multiplication")
    ex = lecture.matrix_example()
    console.print(f"x (4x4):\n{ex['x']}\nkernel w (3x3):\n{ex['w']}\ny = conv(x, w) (2x2):\n{ex['y']}")
    console.print(f"C (4x16):\n{ex['C']}")
    console.print(f"C @ x == conv(x, w): {ex['forward_matches']};  C.T @ y == conv_transpose(y, w): {ex['transpose_matches']}")
    add(viz.conv_matrix((1, 4, 4), ex["w"][None, None]), "matrix_C.png", "The matrix C of a 3x3 kernel on a 4x4 input",
        "Each row is the flattened kernel shifted to one output position; C @ x is the convolution and C.T @ y "
        f"the transposed convolution (both checked: {ex['forward_matches'] and ex['transpose_matches']}).")
    add(viz.conv_steps(ex["x"], ex["w"]), "conv_values.png", "The kernel sliding over the example",
        f"Every output is the dot product of the kernel with the window under it: {ex['y'].ravel().tolist()}.")
    steps = viz.conv_steps((5, 5), 3, stride=2, padding=1)
    add(steps, "conv_steps.gif", "Stride 2, padding 1 on a 5x5 input",
        f"Grey cells are padding. The output is floor((5 + 2 - 3)/2) + 1 = 3 per axis: {len(steps.frames)} frames.")

    console.rule("2. learning the kernels")
    x_train, y_train, x_test, y_test = data.digits()
    results = {}
    for name in ("lenet_digits", "fc_digits"):
        manual_seed(0)
        model = load_model(example_model(name))
        console.print(f"training {name} ({sum(p.data.size for p in model.parameters()):,} parameters), {epochs} epochs")
        h = fit(model, (x_train, y_train), (x_test, y_test), epochs=epochs, lr=3e-3, batch_size=64, seed=0)
        results[name] = (model, h)
        save(model, out / f"{name}.safetensors")
        console.print(f"  test accuracy {h['val_accuracy'][-1]:.2%}, {h['samples_per_s'][-1]:,.0f} samples/s")
    lenet, h = results["lenet_digits"]
    fc_acc = results["fc_digits"][1]["val_accuracy"][-1]
    acc = h["val_accuracy"][-1]
    add(viz.history(h), "history.png", "Training curves of the LeNet",
        f"Loss and accuracy per epoch on train and test. Final test accuracy {acc:.2%}; the dense net of "
        f"similar size reaches {fc_acc:.2%}.")
    add(viz.kernels(lenet, "conv1"), "kernels.png", "The 16 learned 3x3 kernels of conv1",
        "Red weights add, blue subtract: the kernels gradient descent chose, starting from random ones.")
    digit = x_test[0]
    add(viz.feature_maps(lenet, digit, "conv1"), "feature_maps.png", f"conv1's feature maps of a test digit ({y_test[0]})",
        "Each map is one kernel slid over the digit (after ReLU): where that pattern occurs.")
    add(viz.confusion(lenet, x_test, y_test), "confusion.png", "Which digits the LeNet confuses",
        f"Rows are true classes, columns predictions; {evaluate(lenet, x_test, y_test)[1]:.2%} on the diagonal.")

    console.rule("3. receptive fields")
    s = summary(lenet, (1, 8, 8))
    console.print(s)
    pool2 = [r for r in s.rows if r.rf_size and r.rf_size[0] is not None][-1]
    add(viz.receptive_field_2d(lenet, (1, 8, 8), (0, 1, 1), image=digit), "rf_2d.png",
        "Receptive fields growing layer by layer on a digit",
        f"Boxes: the input region each layer's unit sees; the last spatial layer ({pool2.name}) sees "
        f"{pool2.rf_size[0]}x{pool2.rf_size[1]} cells with jump {pool2.rf_jump[0]}. Right: the gradient of that unit.")
    chain = Sequential(Conv1d(1, 1, 3), Conv1d(1, 1, 3))
    f1 = receptive_field(chain, (1, 9))
    add(viz.receptive_field_1d(chain, 2), "rf_1d.png", "Two stacked 3-wide layers see 5 inputs",
        f"The lecture's 1-D picture, computed: receptive field {f1.size[0]} = 1 + 2 + 2, the same as one "
        "5-wide layer, with fewer weights (2 x 3 versus 5 per channel pair) and one more non-linearity.")
    add(viz.pooling(np.round(x_test[1, 0], 2), "max", 2), "pooling.png", "Max pooling 2x2 on a digit",
        "The outlined cells are the maxima kept: pooling halves each side and keeps the strongest response.")
    numbers = {"lenet_accuracy": acc, "fc_accuracy": fc_acc, "lenet_params": s.totals["params"],
               "lenet_macs": s.totals["macs"], "rf_last_spatial": pool2.rf_size, "seconds": time.perf_counter() - started}
    index = _write_index(out, figures, numbers)
    from .explore import explore

    page = explore(lenet, (1, 8, 8), out=out / "explore.html", trained=True, sample=0)
    index.write_text(index.read_text().replace(
        "</body>", f'<p><a href="{page.name}">Explore this LeNet interactively</a>: its layers, feature maps, '
        "receptive fields and saliency, and a convolution playground.</p>\n</body>"))
    console.print(f"  wrote {page}")
    console.print(f"tour written to {index} in {numbers['seconds']:.1f} s")
    return {"figures": figures, "numbers": numbers, "index": index}


def _write_index(out: Path, figures, numbers) -> Path:
    cards = "\n".join(
        f"<section><h2>{html.escape(f['title'])}</h2><img src=\"{html.escape(f['file'])}\" alt=\"{html.escape(f['title'])}\">"
        f"<p>{html.escape(f['text'])}</p></section>" for f in figures)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>convscope tour</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}} img{{max-width:100%;border:1px solid #ddd}}
section{{margin-bottom:2.5em}} .numbers td{{padding:0 1em}}</style></head><body>
<h1>Convolutional networks, computed</h1>
<table class="numbers"><tr><td>LeNet test accuracy</td><td>{numbers['lenet_accuracy']:.2%}</td></tr>
<tr><td>dense net test accuracy</td><td>{numbers['fc_accuracy']:.2%}</td></tr>
<tr><td>LeNet parameters</td><td>{numbers['lenet_params']:,}</td></tr>
<tr><td>LeNet MACs per image</td><td>{numbers['lenet_macs']:,}</td></tr></table>
{cards}
</body></html>
"""
    path = out / "index.html"
    path.write_text(page)
    return path
