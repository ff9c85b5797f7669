"""`convscope tour`: the lecture, run for real on the bundled digits, ending in one HTML page.

It prints the 4x4 example and its matrix C, trains the LeNet of examples/ and a dense net of about
the same size, prints the summary with receptive fields, trains LeNet-5 on real MNIST when it is in
the data cache (else says how to get it), and writes every figure with two lines on what it shows and
the numbers behind it into OUT/index.html.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data, fit, lecture, load_model, manual_seed, ops, save
from .analysis import receptive_field, receptive_region, stacking, summary
from .model_files.examples import example_model
from .nn import Conv1d, Sequential
from .train import evaluate

MNIST_MODEL = "lenet5_mnist"  # the bundled LeNet-5 for 28x28 digits
CAM_LAYER = {"lenet_digits": "conv2", MNIST_MODEL: "C3"}  # each model's last convolution: Grad-CAM's layer


def run(out="tour", quick: bool = False, console=None) -> dict:
    """Run the tour; return {"figures": [...], "numbers": {...}, "index": path}."""
    from rich.console import Console

    from . import viz

    console = console or Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    epochs = 3 if quick else 20
    figures, notes = [], []  # notes: sections of the page without a figure

    def add(fig, name: str, title: str, lines: str, numbers: dict | None = None):
        """Save one figure and keep its title, two lines and the numbers behind it for the page."""
        path = out / name
        if name.endswith(".gif"):
            fig.save_animation(path)
        else:
            fig.savefig(path)  # the figure's own resolution: viz decides what a slide needs
        figures.append({"file": name, "title": title, "text": lines, "numbers": numbers or {}, "figure": fig})
        console.print(f"  wrote {path}")

    console.rule("1. convolution as matrix multiplication")
    ex = lecture.matrix_example()
    console.print(f"x (4x4):\n{ex['x']}\nkernel w (3x3):\n{ex['w']}\ny = conv(x, w) (2x2):\n{ex['y']}")
    console.print(f"C (4x16):\n{ex['C']}")
    console.print(f"C @ x == conv(x, w): {ex['forward_matches']};  C.T @ y == conv_transpose(y, w): {ex['transpose_matches']}")
    checks = "both hold" if ex["forward_matches"] and ex["transpose_matches"] else "a check FAILED"
    add(viz.conv_matrix((1, 4, 4), ex["w"][None, None]), "matrix_C.png", "The matrix C of a 3x3 kernel on a 4x4 input",
        "Each row is the flattened kernel shifted to one output position; C @ x is the convolution and C.T @ y "
        f"the transposed convolution ({checks}).",
        {"C": f"{ex['C'].shape[0]} x {ex['C'].shape[1]}", "non-zero entries per row": int((ex["C"][0] != 0).sum()),
         "C @ x equals conv(x, w)": ex["forward_matches"], "C.T @ y equals conv_transpose(y, w)": ex["transpose_matches"]})
    add(viz.conv_steps(ex["x"], ex["w"]), "conv_values.png", "The kernel sliding over the example",
        "Every output is the dot product of the kernel with the window under it.",
        {"input x": "0 ... 15, row by row", "kernel w": "1 ... 9, row by row",
         "output y": " ".join(f"{v:g}" for v in ex["y"].ravel())})
    steps = viz.conv_steps((5, 5), 3, stride=2, padding=1)
    side = ops.output_size(5, 3, stride=2, padding=1)
    add(steps, "conv_steps.gif", "Stride 2, padding 1 on a 5x5 input",
        "Grey cells are padding; the window jumps two cells at a time.",
        {"output side": f"floor((5 + 2*1 - 3)/2) + 1 = {side}", "frames (one per output cell)": len(steps.frames)})

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
    lenet_params = sum(p.data.size for p in lenet.parameters())
    fc_params = sum(p.data.size for p in results["fc_digits"][0].parameters())
    ahead = comparison_note(acc, fc_acc, epochs, quick)
    if ahead:
        console.print(ahead)
    add(viz.history({"LeNet": h, "dense net": results["fc_digits"][1]}), "history.png",
        "Training curves of the LeNet and the dense net",
        "Loss and accuracy per epoch on the training (dashed) and the test images (solid), the LeNet beside the "
        f"dense net of similar size.{' ' + ahead if ahead else ''}",
        {"epochs": epochs, "LeNet test accuracy": f"{acc:.2%} ({lenet_params:,} parameters)",
         "dense net test accuracy": f"{fc_acc:.2%} ({fc_params:,} parameters)"})
    kernels = lenet.conv1.weight.data
    add(viz.kernels(lenet, "conv1"), "kernels.png", "The 16 learned 3x3 kernels of conv1",
        "Red weights add, blue subtract: the kernels gradient descent chose, starting from random ones.",
        {"kernels": f"{kernels.shape[0]} of {kernels.shape[2]}x{kernels.shape[3]}",
         "weights from": f"{kernels.min():.2f} to {kernels.max():.2f}"})
    digit = x_test[0]
    conv1 = ops.conv(digit[None], kernels, lenet.conv1.bias.data, padding=1)
    add(viz.feature_maps(lenet, digit, "conv1"), "feature_maps.png", f"conv1's feature maps of a test digit ({y_test[0]})",
        "Each map is one kernel slid over the digit, before the ReLU (blue is negative): large values where that kernel's pattern occurs.",
        {"maps": f"{conv1.shape[1]} of {conv1.shape[2]}x{conv1.shape[3]}",
         "negative values (the ReLU zeroes them)": f"{(conv1 < 0).mean():.0%}"})
    shown = samples_by_class(y_test)
    looks = viz.saliency_and_cam(lenet, x_test[shown], CAM_LAYER["lenet_digits"], labels=y_test[shown])
    add(looks, "saliency_cam.png", "Where the LeNet looks: saliency and Grad-CAM",
        "Top: test digits, one per class. Middle: saliency, how much each pixel moves the predicted class's score "
        f"(its gradient). Bottom: Grad-CAM of {CAM_LAYER['lenet_digits']}, which weights that layer's feature "
        "maps by their average gradient: coarse (one cell per unit of the layer), but it shows which part of "
        "the digit the last convolution's evidence comes from, blank space included.",
        {"method": f"Grad-CAM (Selvaraju et al. 2017) of {CAM_LAYER['lenet_digits']}'s output",
         "digits shown": ", ".join(str(int(y_test[i])) for i in shown)})
    test_acc = evaluate(lenet, x_test, y_test)[1]
    add(viz.confusion(lenet, x_test, y_test), "confusion.png", "Which digits the LeNet confuses",
        "Rows are true classes, columns predictions: everything off the diagonal is a mistake.",
        {"test images": len(y_test), "on the diagonal": f"{test_acc:.2%}",
         "mistakes": int(round((1 - test_acc) * len(y_test)))})

    console.rule("3. receptive fields")
    s = summary(lenet, (1, 8, 8))
    console.print(s)
    pool2 = [r for r in s.rows if r.rf_size and r.rf_size[0] is not None][-1]
    region = receptive_region(lenet, (1, 8, 8), (1, 1), layer=pool2.name)
    add(viz.receptive_field_2d(lenet, (1, 8, 8), (0, 1, 1), image=digit), "rf_2d.png",
        "Receptive fields growing layer by layer on a digit",
        "Boxes: the input region each layer's unit sees (a field may reach past the 8x8 image: the padding). "
        "Right: the gradient of that unit with respect to the digit.",
        {f"field of the last spatial layer ({pool2.kind} {pool2.name})":
             f"{pool2.rf_size[0]}x{pool2.rf_size[1]} cells, jump {pool2.rf_jump[0]}",
         "inside the image (rows, columns)": ", ".join(f"{r.start} to {r.stop - 1}" for r in region)})
    chain = Sequential(Conv1d(1, 1, 3), Conv1d(1, 1, 3))
    f1 = receptive_field(chain, (1, 9))
    pair = {dims: stacking(f1.size[0], 3, 1, dims=dims) for dims in (1, 2)}  # one channel in and out
    add(viz.receptive_field_1d(chain, 2), "rf_1d.png", f"Two stacked 3-wide layers see {f1.size[0]} inputs",
        f"The lecture's 1-D picture, computed: the same field as one {f1.size[0]}-wide layer and one more "
        "non-linearity. In 2-D the stack also needs fewer weights.",
        {"receptive field": f"1 + 2 + 2 = {f1.size[0]}",
         **{f"weights per channel pair, {dims}-D": f"{r['stack']['layers']} x {_kernel(r['stack']['kernel'], dims)}: "
            f"{r['stack']['params']}, one {_kernel(r['single']['kernel'], dims)}: {r['single']['params']}"
            for dims, r in pair.items()}})
    pooled = ops.max_pool(np.round(x_test[1:2], 2), 2)
    add(viz.pooling(np.round(x_test[1, 0], 2), "max", 2), "pooling.png", "Max pooling 2x2 on a digit",
        "The outlined cells are the maxima kept: pooling halves each side and keeps the strongest response.",
        {"input": "8x8", "output": f"{pooled.shape[2]}x{pooled.shape[3]}", "values kept": f"{pooled.size} of 64"})
    console.rule("4. LeNet-5 on real MNIST")
    mnist = real_mnist(epochs=1, train_limit=6000 if quick else None)
    for line in mnist.lines:
        console.print(line, highlight=False, markup=False, soft_wrap=line.startswith(" "))  # commands and files: one line each
    if mnist.figure is not None:
        add(mnist.figure, "mnist_lenet5.png", "LeNet-5 on real MNIST: where it looks", " ".join(mnist.lines),
            mnist.numbers)
    else:
        notes.append({"title": "LeNet-5 on real MNIST", "text": mnist.lines[0], "listing": mnist.lines[1:]})
    console.rule("5. where the lecture's text is wrong")
    for e in lecture.errata():
        console.print(f"- {e.sentence()}")
    numbers = {"lenet_accuracy": acc, "fc_accuracy": fc_acc, "lenet_params": s.totals["params"],
               "lenet_macs": s.totals["macs"], "rf_last_spatial": pool2.rf_size, "seconds": time.perf_counter() - started}
    from .explore import explore

    page = explore(lenet, (1, 8, 8), out=out / "explore.html", trained=True, sample=0)
    console.print(f"  wrote {page}")
    index = _write_index(out, figures, numbers, explorer=page.name, notes=notes)
    console.print(f"tour written to {index} in {numbers['seconds']:.1f} s")
    return {"figures": figures, "notes": notes, "numbers": numbers, "index": index}


def samples_by_class(y, classes: int = 5) -> list:
    """The index of the first sample of each of the classes 0 to classes - 1 (those that occur)."""
    y = np.asarray(y)
    return [int(np.flatnonzero(y == c)[0]) for c in range(classes) if (y == c).any()]


@dataclass
class MnistRun:
    """LeNet-5 on real MNIST, or how to get MNIST: `lines` to print, and with the data the model, its
    test accuracy, a figure of where it looks and the numbers behind it."""
    lines: list
    accuracy: float | None = None
    model: object = None
    figure: object = None
    numbers: dict | None = None


def real_mnist(epochs: int = 1, *, train_limit: int | None = None, seed: int = 0) -> MnistRun:
    """Train the bundled LeNet-5 (28x28) on MNIST for `epochs` on its first `train_limit` training images
    (all by default) and test it on the whole test set, when MNIST is in the data cache; never downloads.
    Without it, the lines say how to get it."""
    if not data.available("mnist"):
        return MnistRun(mnist_instructions())
    from . import viz

    x_train, y_train, x_test, y_test = data.load("mnist", download=False, quiet=True)
    x_train, y_train = (x_train, y_train) if train_limit is None else (x_train[:train_limit], y_train[:train_limit])
    manual_seed(seed)
    model = load_model(example_model(MNIST_MODEL))
    h = fit(model, (x_train, y_train), (x_test, y_test), epochs=epochs, lr=1e-3, batch_size=64, seed=seed, quiet=True)
    accuracy = h["val_accuracy"][-1]
    shown = samples_by_class(y_test)
    figure = viz.saliency_and_cam(model, x_test[shown], CAM_LAYER[MNIST_MODEL], labels=y_test[shown])
    lines = [f"LeNet-5 at 28x28 ({sum(p.data.size for p in model.parameters()):,} parameters), trained for {epochs} "
             f"epoch{'s' * (epochs != 1)} on {len(y_train):,} MNIST training digits, classifies {accuracy:.2%} of the "
             f"{len(y_test):,} test digits correctly."]
    numbers = {"test accuracy": f"{accuracy:.2%}", "training digits": f"{len(y_train):,}", "epochs": epochs,
               "method": f"Grad-CAM of {CAM_LAYER[MNIST_MODEL]}'s output"}
    return MnistRun(lines, accuracy, model, figure, numbers)


def mnist_instructions() -> list:
    """How to get MNIST for the real-MNIST section: the command, the cache folder, and the published files
    with the checksums they are checked against (from the data module's pinned table)."""
    spec = data.SETS["mnist"]
    return ["MNIST (28x28 digits) is not in the data cache, so LeNet-5 is not trained on it here. To get it, run",
            f"    convscope train {MNIST_MODEL} --data mnist",
            "which downloads it once into $CONVSCOPE_DATA/mnist/ (by default ~/.cache/convscope/mnist/) and trains "
            "LeNet-5 on it. Offline, put these files, as published, in that folder by hand (each is checked against "
            "its checksum):",
            *(f"    {f.name}  {f.pin}" for f in spec.files)]


def _kernel(k: int, dims: int) -> str:
    return f"{k}-wide" if dims == 1 else "x".join([str(k)] * dims)


def comparison_note(lenet_accuracy: float, dense_accuracy: float, epochs: int, quick: bool) -> str:
    """Why the dense net is ahead when it is: a page that shows it beating the CNN without a word
    would teach the opposite of the lecture."""
    if dense_accuracy < lenet_accuracy:
        return ""
    why = (f"After only {epochs} epochs (--quick) neither net has finished learning, and the dense net, one hidden "
           "layer on the raw pixels, learns faster at first than the deeper LeNet. Run without --quick (20 epochs) for the comparison the lecture makes."
           if quick else
           "On 8x8 digits there is little for a CNN's locality to win: the images are tiny and always centred, so "
           "a dense net of about the same size does as well; the CNN's edge shows on shifted digits "
           "(convscope experiment translation).")
    return f"Here the dense net is ahead ({dense_accuracy:.2%} against {lenet_accuracy:.2%}). {why}"


INTRO = ("A convolutional network slides small kernels over an image: each output is the dot product of a "
         "kernel with the window under it. This page was written by <code>convscope tour</code> (seed 0): it "
         "computes the lecture's worked example, trains a small CNN (a LeNet) and a dense net of about the "
         "same size on the 8x8 digits bundled with convscope, and draws what each computes; with MNIST in the "
         "data cache it trains LeNet-5 on the real 28x28 digits too. Every number on "
         "the page is computed by the same code that draws the figures; where the lecture's text is wrong, "
         "the last section says so.")


def _table(rows: dict, cls: str = "numbers") -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="{cls}">{cells}</table>' if rows else ""


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{html.escape(anchor)}"><h2>{html.escape(title)}</h2>{body}</section>'


def _write_index(out: Path, figures, numbers, links=(), explorer=None, notes=()) -> Path:
    """Write OUT/index.html: the introduction (with the link to the `explorer` page, first thing a
    student can click), one section per figure, then per note ({"title", "text", "listing": lines shown
    as typed}), the errata, then `links` (href, text)."""
    summary = {"LeNet test accuracy": f"{numbers['lenet_accuracy']:.2%}",
               "dense net test accuracy": f"{numbers['fc_accuracy']:.2%}",
               "LeNet parameters": f"{numbers['lenet_params']:,}", "LeNet MACs per image": f"{numbers['lenet_macs']:,}"}
    explore = (f'<p class="explore"><a href="{html.escape(explorer)}">Explore this LeNet interactively</a>: click any '
               "unit to see its arithmetic, every layer at a glance, feature maps, receptive fields and saliency, "
               "draw your own digit, and a convolution playground.</p>") if explorer else ""
    sections = [_section("What this page shows", f"<p>{INTRO}</p>" + explore + _table(summary), "intro")]
    for f in figures:
        image = (f'<img src="{html.escape(f["file"])}" alt="{html.escape(f["title"])}">')
        sections.append(_section(f["title"], image + f"<p>{html.escape(f['text'])}</p>" + _table(f["numbers"]),
                                 Path(f["file"]).stem))
    for n in notes:
        listing = f"<pre>{html.escape(chr(10).join(n['listing']))}</pre>" if n.get("listing") else ""
        sections.append(_section(n["title"], f"<p>{html.escape(n['text'])}</p>{listing}",
                                 n["title"].lower().replace(" ", "-")))
    errata = "".join(f"<li>{html.escape(e.sentence())}</li>" for e in lecture.errata())
    sections.append(_section("Where the lecture's text is wrong", f"<ul>{errata}</ul>", "errata"))
    if links:
        items = "".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>' for href, text in links)
        sections.append(_section("More", f"<ul>{items}</ul>", "more"))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>convscope tour: convolutional networks, computed</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}}
img{{max-width:100%;border:1px solid #ddd}} section{{margin-bottom:2.5rem}} h2{{border-bottom:1px solid #eee}}
table.numbers{{border-collapse:collapse;margin-top:.5rem}} table.numbers th,table.numbers td{{padding:.15rem 1rem .15rem 0;text-align:left}}
table.numbers th{{font-weight:normal;color:#555}} li{{margin-bottom:.5rem}}
pre{{overflow-x:auto;background:#f6f6f6;padding:.5rem;font-size:.85rem}}
</style></head><body>
<h1>Convolutional networks, computed</h1>
{chr(10).join(sections)}
</body></html>
"""
    path = out / "index.html"
    path.write_text(page)
    return path
