"""Write examples/lecture.ipynb: the CNN lecture rebuilt on convscope, one section per topic.

    python tools/make_notebook.py            # write the cells and run them, keeping the outputs

The notebook is committed with its outputs so that a code host shows its tables and figures
without running it; the test suite re-runs it and checks that those outputs are still current.
Each section follows one pattern: the idea in prose, its formula, convscope computing it, and
the lecture's erratum where there is one (printed from convscope.lecture.errata()).
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import sys
import tempfile

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = pathlib.Path(__file__).resolve().parents[1] / "examples" / "lecture.ipynb"

SETUP = '''import numpy as np
import scipy.signal
from IPython.display import Markdown

import convscope as cs
from convscope import lecture, viz
from convscope.tour import CAM_LAYER, example_model, real_mnist, samples_by_class

nn = cs.nn
cs.manual_seed(0)  # same seed, same notebook: every number below repeats exactly
x_train, y_train, x_test, y_test = cs.data.digits()  # 8x8 digits, bundled (no download)
errata = {e.key: e for e in lecture.errata()}


def table(columns, rows):
    """A Markdown table (how results are shown in this notebook)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return Markdown("\\n".join(lines))


def note(key):
    """The lecture's erratum on this topic, as the tour and the docs print it."""
    return Markdown("> **" + errata[key].sentence().replace("Erratum", "Erratum**", 1))'''

CELLS = [
    ("md", """# Convolutional neural networks, computed

This notebook teaches convolutional neural networks (CNNs) one idea at a time. Each section explains
the idea, gives its formula, and then lets **convscope** compute it, so every number you read here is
a number the code computed, not one typed in. Where the original lecture's text has a wrong number,
the section ends with an *erratum* box that states what the lecture says and the true value.

Run it from anywhere: `make notebook` in the project folder opens it in Jupyter. Everything is seeded,
so running it again gives the same tables and figures."""),
    ("code", SETUP),

    ("md", """## 1. Fully connected versus convolutional layers

A *fully connected* (FC) layer gives every output unit its own weight for every input pixel: with
$n_{in}$ inputs and $n_{out}$ units it holds $n_{in} \\cdot n_{out}$ weights, and it has no idea which
pixels are neighbours. A *convolutional* layer instead slides one small kernel of $k \\times k$ weights
over the image, so the same few weights are reused at every position: $k \\cdot k \\cdot C_{in} \\cdot C_{out}$
weights, whatever the image size."""),
    ("code", """fc = nn.Linear(28 * 28, 100)
conv = nn.Conv2d(1, 16, 3)
table(["layer", "weights and biases"],
      [["FC, 28x28 pixels -> 100 units", f"{sum(p.data.size for p in fc.parameters()):,}"],
       ["conv, 16 kernels of 3x3", f"{sum(p.data.size for p in conv.parameters()):,}"]])"""),
    ("md", """Because an FC layer treats its inputs as an unordered list, shuffling the pixels the same way in every
image changes nothing for it; a CNN relies on neighbours being neighbours. The experiment trains both
on the original digits and on digits whose pixels were shuffled by one fixed permutation:"""),
    ("code", """r = cs.experiments.run("permutation", quick=True)
display(Markdown(r.to_markdown()))
fc_change, cnn_change = (r.numbers[f"{k}_permuted"] - r.numbers[f"{k}_original"] for k in ("fc", "cnn"))
print(f"Trained and tested on shuffled pixels, the FC net's test accuracy moves by {fc_change * 100:+.1f} points "
      f"(training noise: it is the same problem for it) and the CNN's by {cnn_change * 100:+.1f} points.")
r.figure"""),
    ("md", """The column *trained on original, tested on permuted* asks something else: a net trained on the
ordinary digits is shown shuffled ones. Both nets fail, and they can even fall below chance (10%, a
random guess among ten classes): a trained net does not guess at random, it sends the scrambled
images to the few classes whose patterns they happen to resemble, and most of those guesses are wrong.
How many of the 359 shuffled test digits each net put in each class:"""),
    ("code", """table(["model", *(f"class {c}" for c in range(10))],
      [[k.upper(), *r.numbers[f"{k}_cross_predicted_classes"]] for k in ("fc", "cnn")])"""),

    ("md", """## 2. A kernel is a dot product with every window

A 2-D convolution layer (as in PyTorch, and in the lecture) computes, for each output position,
the dot product of the kernel $w$ with the window of the input under it:

$$y_{i,j} = \\sum_{a,b} w_{a,b}\\, x_{i+a,\\,j+b}$$

The lecture's example: a 4x4 input holding 0 to 15 and a 3x3 kernel holding 1 to 9 give a 2x2 output."""),
    ("code", """x = np.arange(16.0).reshape(4, 4)
w = np.arange(1.0, 10.0).reshape(3, 3)
y = cs.ops.conv(x[None, None], w[None, None])[0, 0]
print(f"y[0, 0] = sum(w * x[0:3, 0:3]) = {(w * x[:3, :3]).sum():g}; convscope gives {y[0, 0]:g}")
table(["", "column 0", "column 1"], [[f"row {i}", *(f"{v:g}" for v in y[i])] for i in range(2)])"""),
    ("code", "viz.conv_steps(x, w)"),
    ("md", """Hand-made kernels detect simple patterns: a vertical or horizontal edge, a blur, a Laplacian (spots).
Below, each kernel (top row) and what it sees in one test digit (bottom row), beside the kernels a
trained network learned for itself:"""),
    ("code", """r = cs.experiments.run("kernels", quick=True)
print(f"The network whose kernels are shown reached {r.numbers['accuracy']:.1%} test accuracy.")
r.figure"""),

    ("md", """## 3. Learning the kernels

Nobody designs a CNN's kernels: they start random and gradient descent adjusts them to lower the
loss (cross-entropy of the predicted class probabilities). Here a small LeNet (two conv layers and
two FC layers, from `examples/lenet_digits.yaml`) learns the 8x8 digits for 8 epochs."""),
    ("code", """lenet = cs.load_model(example_model("lenet_digits"))
h = cs.fit(lenet, (x_train, y_train), (x_test, y_test), epochs=8, lr=3e-3, quiet=True)
print(f"After {len(h['val_accuracy'])} epochs the LeNet classifies {h['val_accuracy'][-1]:.2%} "
      f"of the {len(y_test)} test digits correctly.")
viz.history(h)"""),
    ("md", "The 16 kernels of the first layer after training (red weights add, blue subtract):"),
    ("code", "viz.kernels(lenet, 'conv1')"),
    ("md", "What each of those kernels responds to in a test digit (the layer's output: one *feature map* per kernel):"),
    ("code", "viz.feature_maps(lenet, x_test[0], 'conv1')"),
    ("md", """### Where the network looks

A feature map says where one kernel fires; which of those places decide the class? Two answers, for one
test digit of each class. *Saliency* is the gradient of the predicted class's score with respect to each
pixel: how much a small change of that pixel moves the score. *Grad-CAM* (Selvaraju et al., 2017) looks
at a layer instead of the pixels: it weights each feature map of the last convolution, `conv2`, by the
average gradient of the class score over that map, adds the maps, keeps the positive part and resizes it
to the image. It is coarse, one cell per unit of `conv2` (the figure's title gives their number), but it
says which part of the digit the evidence of the last convolution comes from. Evidence need not be ink:
blank space where other digits have strokes can count for a class too."""),
    ("code", """shown = samples_by_class(y_test)  # the first test digit of the classes 0 to 4
viz.saliency_and_cam(lenet, x_test[shown], CAM_LAYER["lenet_digits"], labels=y_test[shown])"""),
    ("md", """### LeNet-5 on real MNIST

The 8x8 digits are small enough to train in seconds. The network that made CNNs famous, LeNet-5 (LeCun
et al., 1998), read the 28x28 digits of MNIST centred in a 32x32 field; here its first layer pads by 2,
which is the same, so every later layer keeps the paper's sizes (`examples/lenet5_mnist.yaml`). MNIST is
not bundled but downloaded once: when it is in the data cache this cell trains LeNet-5 for one epoch (a
few minutes) and tests it on the whole test set, else it says how to get it."""),
    ("code", """mnist = real_mnist(epochs=1)  # never downloads
print("\\n".join(mnist.lines))
mnist.figure  # where LeNet-5 looks (saliency and Grad-CAM of C3), when it was trained"""),

    ("md", """## 4. One dimension: order matters

Convolution works on sequences too: a 1-D kernel of width $k$ slides along a signal. Two classes made
of the *same values in a different order* — a (+1, −1, +1) motif versus (+1, +1, −1) — cannot be told
apart by a model that only sees the bag of values (a 1x1 convolution and an average), but a width-3
convolution sees neighbours and can. MNIST-1D is a harder 1-D benchmark with 10 classes."""),
    ("code", """r = cs.experiments.run("order1d", quick=True)
Markdown(r.to_markdown())"""),

    ("md", """## 5. Cross-correlation versus convolution

What deep learning calls convolution is, strictly, *cross-correlation*: the kernel is not flipped.
True convolution flips it on every axis, $y_{i,j} = \\sum_{a,b} w_{a,b}\\, x_{i-a,\\,j-b}$. For learned
kernels the difference does not matter (the network would learn the flipped kernel). convscope
computes both (`flip=True` for true convolution); SciPy is the independent check."""),
    ("code", """rng = np.random.default_rng(0)
img, k = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
xcorr = cs.ops.conv(img[None, None], k[None, None])[0, 0]
true = cs.ops.conv(img[None, None], k[None, None], flip=True)[0, 0]
print("cross-correlation equals scipy.signal.correlate2d:", np.allclose(xcorr, scipy.signal.correlate2d(img, k, "valid")))
print("true convolution equals scipy.signal.convolve2d:  ", np.allclose(true, scipy.signal.convolve2d(img, k, "valid")))
print("and they differ from each other:                  ", not np.allclose(xcorr, true))"""),

    ("md", """## 6. Receptive field

The *receptive field* of a unit is the part of the input it depends on. A width-3 layer sees 3
inputs; a second width-3 layer on top sees 3 units of the first, which together see 5 inputs. In
general each layer adds $d(k-1)$ times the *jump* $j$ (the input distance between neighbouring units):

$$r_\\ell = r_{\\ell-1} + d_\\ell (k_\\ell - 1)\\, j_{\\ell-1}, \\qquad j_\\ell = j_{\\ell-1}\\, s_\\ell$$"""),
    ("code", "viz.receptive_field_1d([nn.Conv1d(1, 1, 3), nn.Conv1d(1, 1, 3)], 2)"),
    ("md", "Stacked 3x3 layers in 2-D, computed by convscope from the layers' shapes:"),
    ("code", """rows = []
for depth in (1, 2, 3):
    f = cs.receptive_field(nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(depth)]), (1, 9, 9))
    rows.append([depth, f"{f.size[0]}x{f.size[1]}"])
table(["layers of 3x3", "receptive field"], rows)"""),
    ("code", "note('receptive field table')"),
    ("md", "On the trained LeNet: the box each layer's unit sees, and the gradient of the last unit with respect to the digit."),
    ("code", "viz.receptive_field_2d(lenet, (1, 8, 8), (0, 1, 1), image=x_test[0])"),

    ("md", """## 7. Strides

With stride $s$ the kernel jumps $s$ cells between outputs: the output shrinks about $s$ times per
axis, and every later layer's field grows $s$ times faster (the jump multiplies by $s$). The lecture's
"grows by 2 x stride per layer" is the special case of 3x3 kernels; the formula above is the rule."""),
    ("code", "viz.conv_steps((5, 5), 3, stride=2, padding=1)"),
    ("code", """s = cs.summary(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)), (1, 15, 15))
table(["layer", "output", "receptive field", "jump"],
      [[r.name, "x".join(map(str, r.output_shape[1:])), f"{r.rf_size[0]}x{r.rf_size[1]}", r.rf_jump[0]] for r in s.rows])"""),

    ("md", """## 8. Pooling

Pooling summarises each window without weights: *max pooling* keeps the largest value, *average
pooling* the mean. *Global* pooling uses the whole map as one window, so each feature map becomes
one number (this makes a network indifferent to where in the image a pattern occurs). *k-max pooling*
keeps the $k$ largest values of an axis, in their original order."""),
    ("code", "viz.pooling(np.round(x_test[1, 0], 2), 'max', 2)"),
    ("code", """maps = np.array([[[[1.0, 2.0], [3.0, 6.0]], [[0.0, -1.0], [4.0, 1.0]]]])  # one image, two 2x2 maps
avg, top = cs.ops.global_avg_pool(maps)[0], cs.ops.global_max_pool(maps)[0]
row = np.array([[[3.0, 1, 4, 1, 5, 9]]])
table(["map", "global average", "global max"], [[i, f"{a:g}", f"{m:g}"] for i, (a, m) in enumerate(zip(avg, top))])"""),
    ("code", """print("k-max pooling (k = 2) of 3 1 4 1 5 9 keeps", " ".join(f"{v:g}" for v in cs.ops.kmax_pool(row, 2).ravel()))
note('global average pooling')"""),

    ("md", """### Translation: the same kernel everywhere

The lecture counts *translational invariance* among a CNN's advantages: a feature can be anywhere. The
argument has two steps. A convolution applies the same kernel at every position, so shifting the input
shifts its feature map by the same amount and changes nothing else (the layer is *equivariant*). A
global pooling then forgets where the response was, so the network's output no longer depends on the
shift (it is *invariant*). A dense layer has neither property: each pixel has its own weight. Both
steps, computed on a digit moved 2 cells right on a 16x16 canvas:"""),
    ("code", """canvas = np.zeros((2, 1, 16, 16))
canvas[0, 0, 4:12, 4:12] = canvas[1, 0, 4:12, 6:14] = x_test[0, 0]  # the digit, then the same digit 2 cells right
kernel = np.random.default_rng(0).standard_normal((4, 1, 3, 3))
maps = cs.ops.conv(canvas, kernel, padding=1)  # (2, 4, 16, 16)
print("the map of the moved digit is the map of the digit, moved:", np.allclose(maps[1, :, :, 2:], maps[0, :, :, :-2]))
print("after global max pooling the two are equal:              ", np.allclose(*cs.ops.global_max_pool(maps)))
dense = np.random.default_rng(1).standard_normal((4, 256))
print("a dense layer gives the two different outputs:          ", not np.allclose(*(canvas.reshape(2, -1) @ dense.T)))"""),
    ("md", """Real networks are not exactly invariant (borders, strides and pooling windows break the symmetry), so
the experiment measures it: three nets are trained on digits centred on a 16x16 canvas and tested with
every test digit moved 0 to 4 cells. Each point of the curve is the whole test set at that shift:"""),
    ("code", """r = cs.experiments.run("translation", quick=True)
display(Markdown(r.to_markdown()))
print("test images behind each shift:", ", ".join(f"shift {d}: {n}" for d, n in enumerate(r.numbers["count_by_shift"])))
r.figure"""),

    ("md", """## 9. Size of the output

Along each axis, an input of size $i$, kernel $k$, padding $p$ on each side, stride $s$ and dilation $d$ give

$$o = \\left\\lfloor \\frac{i + 2p - d(k-1) - 1}{s} \\right\\rfloor + 1$$

convscope fills the formula in for each case (a 32x32 RGB input, 16 filters):"""),
    ("code", """rows = []
for kw in [dict(kernel=5), dict(kernel=5, padding=2), dict(kernel=3, stride=2, padding=1), dict(kernel=3, dilation=2)]:
    r = cs.analysis.conv_arithmetic((3, 32, 32), filters=16, **kw)
    rows.append([", ".join(f"{k} {v}" for k, v in kw.items()), r["steps"][0].split(" = ", 1)[1], "x".join(map(str, r["output_shape"]))])
table(["setting", "o = ...", "output (C x H x W)"], rows)"""),

    ("md", """## 10. Number of parameters

A layer with $F \\times F$ kernels, $D_i$ input and $D_o$ output channels holds
$F \\cdot F \\cdot D_i \\cdot D_o$ weights plus $D_o$ biases — independent of the image size. The work
(multiply-adds, MACs) is that count times the number of output positions, so it does grow with the image."""),
    ("code", """rows = []
for size in (8, 32, 224):
    s = cs.summary(nn.Conv2d(3, 16, 5), (3, size, size))
    rows.append([f"{size}x{size}", f"{s.totals['params']:,}", f"{s.totals['macs']:,}"])
print(f"5 * 5 * 3 * 16 + 16 = {5 * 5 * 3 * 16 + 16:,}")
table(["input", "parameters", "MACs"], rows)"""),
    ("md", """The image size comes back where the convolutions meet the classifier. Flattening the last feature
maps, $n_1$ channels of $n_2 \\times n_3$, gives $n_1 n_2 n_3$ inputs, and a dense layer of $n$ units on
them holds $n \\cdot n_1 n_2 n_3$ weights. Global average pooling first leaves one number per channel,
$n \\cdot n_1$ weights. VGG-16's head (512 maps of 7x7, 4096 units), from the layer shapes:"""),
    ("code", """vgg16 = cs.zoo.load("vgg16")
vgg = cs.summary(vgg16, (3, 224, 224))
last = [r for r in vgg.rows if r.rf_size and r.rf_size[0] is not None][-1]  # the last spatial layer
fc1 = next(r for r in vgg.rows if r.kind == "Linear")
gap = cs.summary(nn.Sequential(nn.GlobalAvgPool(), nn.Linear(last.output_shape[0], fc1.output_shape[0])), last.output_shape)
table(["head", "inputs to the dense layer", "its weights and biases"],
      [[f"flatten {'x'.join(map(str, last.output_shape))}", f"{int(np.prod(last.output_shape)):,}", f"{fc1.params:,}"],
       ["global average pooling", f"{last.output_shape[0]:,}", f"{gap.totals['params']:,}"]])"""),

    ("md", """## 11. Why stacking small kernels beats one large kernel

$n$ stacked $g \\times g$ layers see the same $f \\times f$ field as one $f \\times f$ layer when
$f = 1 + n(g-1)$: two 3x3 for a 5x5, three 3x3 for a 7x7. With $C$ channels in and out, the single
layer holds $f^2 C^2$ weights and the stack $n g^2 C^2$, so the single layer has

$$\\frac{f^2}{n\\, g^2}$$

times as many weights — and the stack has $n$ non-linearities instead of one."""),
    ("code", """rows = []
for f in (5, 7):
    r = cs.analysis.stacking(f, 3, channels=lecture.STACKING_CHANNELS)  # the channels used everywhere
    rows.append([f"one {f}x{f}", f"{r['single']['params']:,}", f"{r['stack']['layers']} x 3x3", f"{r['stack']['params']:,}",
                 f"{r['ratio'].numerator}/{r['ratio'].denominator} = {float(r['ratio']):.2f}"])
print(f"with {lecture.STACKING_CHANNELS} channels in and out")
table(["single layer", "weights", "stack", "weights", "ratio"], rows)"""),
    ("code", "display(note('weights per kernel'))\ndisplay(note('stacking 5x5'))\nnote('stacking 7x7')"),
    ("md", "Trained on the digits, the two designs reach similar accuracy with the stack's fewer weights:"),
    ("code", """r = cs.experiments.run("stacking", quick=True)
Markdown(r.to_markdown())"""),

    ("md", """## 12. Kernel size 1

A 1x1 convolution mixes the channels at each position, like an FC layer applied to every pixel. It
changes the number of channels from $n_{\\ell-1}$ to $n_\\ell$ with $n_\\ell \\cdot n_{\\ell-1}$ weights,
which makes it a cheap way to shrink the channels before an expensive 3x3 (a *bottleneck*)."""),
    ("code", """print(f"A 1x1 layer from 64 to 16 channels holds {cs.summary(nn.Conv2d(64, 16, 1, bias=False), (64, 8, 8)).totals['params']:,} "
      f"weights = 64 x 16.")
note('1x1 weights')"""),
    ("code", """b = cs.analysis.bottleneck(256, 256, 3, 64, size=(14, 14))
print(f"A 3x3 from 256 to 256 channels on 14x14 maps: {b['direct']['params']:,} weights, {b['direct']['macs']:,} MACs; "
      f"a 1x1 to 64 channels first: {b['bottleneck']['params']:,} weights, {b['bottleneck']['macs']:,} MACs, "
      f"a saving of {float(b['param_saving']):.0%}.")"""),

    ("md", """## 13. Time versus number of parameters

Parameters are fixed by the kernels; time is set by the MACs, which grow with the size of the maps.
The lecture's example is VGG-16: it spends its weights in the dense layers of its head and its time in
the convolutions on the large early maps. Layer by layer, from convscope's summary of its shapes
(percentages of the whole network):"""),
    ("code", """total = vgg.totals
layers = [r for r in vgg.rows if r.params]
share = lambda part, whole: f"{part / whole:.1%}"
display(table(["layer", "output", "parameters", "share", "MACs", "share", "receptive field"],
              [[r.name, "x".join(map(str, r.output_shape)), f"{r.params:,}", share(r.params, total["params"]),
                f"{r.macs:,}", share(r.macs, total["macs"]), "x".join(map(str, r.rf_size)) if r.rf_size[0] else "all"]
               for r in layers]))
head = sum(r.params for r in layers if r.kind == "Linear")
large = sum(r.macs for r in layers if r.kind == "Conv2d" and r.output_shape[1] >= 56)
print(f"The 3 dense layers hold {share(head, total['params'])} of the weights; the convolutions on maps of 56x56 "
      f"and larger do {share(large, total['macs'])} of the multiply-adds.")"""),
    ("md", """ResNet-18 and MobileNet v1 against VGG-16: the receptive field of each one's last spatial layer
(the input square one of its units sees) beside its parameters and MACs:"""),
    ("code", """c = cs.compare(cs.zoo.load("resnet18"), vgg16, cs.zoo.load("mobilenet_v1"), input_shape=(3, 224, 224),
               names=["resnet18", "vgg16", "mobilenet_v1"])
table(["model", "parameters", "MACs per image", "receptive field (last spatial layer)", "non-linear layers"],
      [[r["name"], f"{r['params']:,}", f"{r['macs'] / 1e9:.2f} G", "x".join(map(str, r["rf_size"])), r["depth"]]
       for r in c.rows])"""),
    ("code", """v = c.rows[1]
for r in (c.rows[0], c.rows[2]):
    print(f"{r['name']}: field {r['rf_size'][0]} against VGG-16's {v['rf_size'][0]}, "
          f"{v['params'] / r['params']:.0f} times fewer parameters, {v['macs'] / r['macs']:.0f} times fewer MACs")"""),

    ("md", """## 14. Convolution as matrix multiplication

Flatten the 4x4 input $x$ into 16 numbers and the 2x2 output into 4: the convolution is then a
4x16 matrix $C$ times $x$. Each row of $C$ is the kernel, flattened and shifted to one output
position; the other entries are zero."""),
    ("code", """ex = lecture.matrix_example()
print(ex["C"].astype(int))
print("C @ x equals conv(x, w):", ex["forward_matches"])
viz.conv_matrix((1, 4, 4), ex["w"][None, None])"""),

    ("md", """## 15. Inverting convolution

$C^T$ maps the 4 outputs back to 16 inputs: this is the *transposed convolution*, used to upsample.
It is also how gradients flow backwards through a conv layer, and it tells which inputs feed an
output (the receptive region, and the gradient of one output with respect to the input)."""),
    ("code", """print("C.T @ y equals conv_transpose(y, w):", ex["transpose_matches"])
print(cs.ops.conv_transpose(ex["y"][None, None], ex["w"][None, None])[0, 0])
rows, cols = cs.receptive_region(lenet, (1, 8, 8), (1, 1), layer="conv2")
print(f"Unit (1, 1) of the LeNet's conv2 sees input rows {rows.start} to {rows.stop - 1} and columns {cols.start} to {cols.stop - 1}.")"""),
    ("code", """g = cs.saliency(lenet, x_test[0], (int(y_test[0]),))
print(f"The inputs with the largest gradient of the class-{y_test[0]} score (row, column):",
      ", ".join(str(tuple(int(v) for v in np.unravel_index(i, g[0].shape))) for i in np.argsort(-np.abs(g[0]).ravel())[:3]))"""),

    ("md", """## 16. How many filters?

A kernel sees $F \\cdot F \\cdot D$ input values; a layer with more filters than that cannot make them
all independent (a linear map of that many values has at most that many independent outputs). The
summary flags such layers:"""),
    ("code", """s = cs.summary(lenet, (1, 8, 8))
for r in s.rows:
    for text in r.notes:
        print(f"{r.name}: {text}")"""),

    ("md", "## The lecture's errata, in one table\n\nEach computed by `convscope.lecture.errata()`, the same records the tour and the docs print."),
    ("code", """table(["topic", "the lecture writes", "and states", "true value"],
      [[e.section, e.writes, e.states, e.true] for e in lecture.errata()])"""),
]


def build():
    nb = new_notebook(cells=[new_markdown_cell(t) if kind == "md" else new_code_cell(t) for kind, t in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb, cwd=None):
    """Run every cell in a fresh kernel (in `cwd`, a temporary folder by default: it must run anywhere),
    with an empty data cache: the outputs are those of a machine without downloaded data sets (the
    real-MNIST section says how to get MNIST), the same on every machine."""
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory() as tmp, _data_cache(pathlib.Path(tmp) / "no-data"):
        NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(cwd or tmp)}}).execute()
    nb.metadata["language_info"] = {"name": "python"}  # no interpreter version: the file stays the same across machines
    return nb


@contextlib.contextmanager
def _data_cache(folder):
    """$CONVSCOPE_DATA set to `folder` while the kernel starts (it inherits the environment)."""
    before = os.environ.get("CONVSCOPE_DATA")
    os.environ["CONVSCOPE_DATA"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            del os.environ["CONVSCOPE_DATA"]
        else:
            os.environ["CONVSCOPE_DATA"] = before


def main(argv=None):
    nb = build()
    if "--no-run" not in (argv or sys.argv[1:]):
        execute(nb)
    nbformat.write(nb, OUT)


if __name__ == "__main__":
    main()
