"""Write examples/lecture.ipynb: the CNN lecture rebuilt on convscope, one section per topic.

Run once after editing the cells below: python tools/make_notebook.py (the test suite executes the
notebook top to bottom).
"""
from __future__ import annotations

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = pathlib.Path(__file__).resolve().parents[1] / "examples" / "lecture.ipynb"

CELLS = [
    ("md", "# Convolutional neural networks, computed\n\nEvery claim and number of the lecture, run with "
           "convscope. Where the lecture's text has a wrong number, the computed one is shown beside it."),
    ("code", "import numpy as np\nimport scipy.signal\nimport convscope as cs\nfrom convscope import viz\n"
             "nn = cs.nn\ncs.manual_seed(0)\nx_train, y_train, x_test, y_test = cs.data.digits()"),
    ("md", "## FC versus convolution: does pixel order matter?\nAn FC layer is indifferent to a fixed "
           "permutation of its inputs; a convolution relies on neighbours being neighbours."),
    ("code", "r = cs.experiments.run('permutation', quick=True)\nprint(r.columns)\nfor row in r.rows: print(row)\nr.figure"),
    ("md", "## Kernels: a dot product with every window\nThe lecture's convolution is cross-correlation "
           "(no kernel flip), as in PyTorch."),
    ("code", "x = np.arange(16.0).reshape(4, 4)\nw = np.arange(1.0, 10.0).reshape(3, 3)\nviz.conv_steps(x, w)"),
    ("code", "r = cs.experiments.run('kernels', quick=True)\nr.figure"),
    ("md", "## Learning the kernels\nA conv layer, a classifier, cross-entropy, gradient descent."),
    ("code", "lenet = cs.load_model('lenet_digits.yaml')\nh = cs.fit(lenet, (x_train, y_train), (x_test, y_test), "
             "epochs=8, lr=3e-3, quiet=True)\nprint(f\"test accuracy {h['val_accuracy'][-1]:.2%}\")\nviz.history(h)"),
    ("code", "viz.kernels(lenet, 'conv1')"),
    ("code", "viz.feature_maps(lenet, x_test[0], 'conv1')"),
    ("md", "## One dimension: order matters\nThe same values in a different order: a bag-of-values model is at "
           "chance, a width-3 convolution is not."),
    ("code", "r = cs.experiments.run('order1d', quick=True)\nfor row in r.rows: print(row)"),
    ("md", "## Cross-correlation versus convolution\nTrue convolution flips the kernel; checked against SciPy."),
    ("code", "img, k = np.random.default_rng(0).standard_normal((2, 6, 6)), np.random.default_rng(1).standard_normal((3, 3))\n"
             "xcorr = cs.ops.conv(img[None, :1], k[None, None])[0, 0]\n"
             "true = cs.ops.conv(img[None, :1], k[None, None], flip=True)[0, 0]\n"
             "print(np.allclose(xcorr, scipy.signal.correlate2d(img[0], k, 'valid')),\n"
             "      np.allclose(true, scipy.signal.convolve2d(img[0], k, 'valid')))"),
    ("md", "## Receptive field\nTwo stacked width-3 layers: each output depends on 5 inputs."),
    ("code", "viz.receptive_field_1d([nn.Conv1d(1, 1, 3), nn.Conv1d(1, 1, 3)], 2)"),
    ("md", "The lecture's table numbers all three rows 'layer 1'; computed, the layers are 1, 2, 3:"),
    ("code", "for depth in (1, 2, 3):\n    f = cs.receptive_field(nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(depth)]), (1, 9, 9))\n"
             "    print(f'layer {depth}: receptive field {f.size[0]}x{f.size[1]}')"),
    ("code", "viz.receptive_field_2d(lenet, (1, 8, 8), (0, 1, 1), image=x_test[0])"),
    ("md", "## Strides\nA stride skips windows: the output shrinks and every later layer's field grows faster "
           "(the jump). The lecture's 'grows by 2 x stride per layer' holds for 3x3 kernels after stride-1 layers; "
           "in general a layer adds d(k-1) times the jump so far."),
    ("code", "viz.conv_steps((5, 5), 3, stride=2, padding=1)"),
    ("code", "s = cs.summary(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)), (1, 15, 15))\n"
             "[(r.name, r.rf_size, r.rf_jump) for r in s.rows]"),
    ("md", "## Pooling\nMax pooling keeps the largest value of each window; global average pooling replaces each "
           "map by its **average** (the lecture says 'maximum': that is global max pooling)."),
    ("code", "viz.pooling(np.round(x_test[1, 0], 2), 'max', 2)"),
    ("code", "maps = np.random.default_rng(2).standard_normal((1, 3, 4, 4))\n"
             "print('global average:', cs.ops.global_avg_pool(maps)[0], '= mean', maps.mean(axis=(2, 3))[0])\n"
             "print('global max:    ', cs.ops.global_max_pool(maps)[0])\n"
             "print('k-max (k=2) of a row, order kept:', cs.ops.kmax_pool(np.array([[[3., 1, 4, 1, 5, 9]]]), 2))"),
    ("md", "## Size of output\n$o = \\lfloor (i + 2p - d(k-1) - 1)/s \\rfloor + 1$"),
    ("code", "for kw in [dict(kernel=5), dict(kernel=5, padding=2), dict(kernel=3, stride=2, padding=1), dict(kernel=3, dilation=2)]:\n"
             "    r = cs.analysis.conv_arithmetic((3, 32, 32), filters=16, **kw)\n    print(r['steps'][0])"),
    ("md", "## Number of parameters\n$F \\cdot F \\cdot D_i \\cdot D_o$ weights (+ $D_o$ biases), independent of the "
           "image size."),
    ("code", "for size in (8, 32, 224):\n    s = cs.summary(nn.Conv2d(3, 16, 5), (3, size, size))\n"
             "    print(size, s.totals['params'], '= 5*5*3*16 + 16 =', 5 * 5 * 3 * 16 + 16, '; MACs', s.totals['macs'])"),
    ("md", "## Stacking beats larger kernels\nThe lecture's ratio f²/(2g) (25/9, 49/9) is wrong: the single layer has "
           "f²/(n g²) times the weights of n stacked g x g layers."),
    ("code", "for f in (5, 7):\n    r = cs.analysis.stacking(f, 3, channels=64)\n"
             "    print(f'{f}x{f} vs {r[\"stack\"][\"layers\"]} x 3x3: true ratio {r[\"ratio\"]} = {float(r[\"ratio\"]):.2f}; lecture: {f*f}/9 = {f*f/9:.2f}')"),
    ("code", "r = cs.experiments.run('stacking', quick=True)\nfor row in r.rows: print(row)"),
    ("md", "## 1x1 convolutions\nA 1x1 layer mixes channels at each position: $n_{\\ell} \\cdot n_{\\ell-1}$ weights "
           "(the lecture's $1 \\cdot n_\\ell$ leaves out the input channels)."),
    ("code", "print(cs.summary(nn.Conv2d(64, 16, 1, bias=False), (64, 8, 8)).totals['params'], '= 64 * 16')\n"
             "r = cs.analysis.bottleneck(256, 256, 3, 64, size=(14, 14))\nr"),
    ("md", "## Time versus number of parameters\nParameters do not depend on the map size; MACs do."),
    ("code", "print(cs.compare(cs.zoo.load('resnet18'), cs.zoo.load('vgg16'), cs.zoo.load('mobilenet_v1'), input_shape=(3, 224, 224),\n"
             "                 names=['resnet18', 'vgg16', 'mobilenet_v1']))"),
    ("md", "## Convolution as matrix multiplication\nFlatten the 4x4 input: a 4x16 matrix C does the convolution."),
    ("code", "ex = cs.lecture.matrix_example()\nprint(ex['C'])\nprint(ex['forward_matches'], ex['transpose_matches'])\n"
             "viz.conv_matrix((1, 4, 4), ex['w'][None, None])"),
    ("md", "## Inverting convolution\nC.T maps the 2x2 output back to 4x4: the transposed convolution. It is "
           "what carries gradients backwards, and it tells which inputs feed an output (saliency)."),
    ("code", "y = ex['y'][None, None]\nprint(cs.ops.conv_transpose(y, ex['w'][None, None])[0, 0])\n"
             "print(cs.receptive_region(lenet, (1, 8, 8), (1, 1), layer='conv2'))\n"
             "g = cs.saliency(lenet, x_test[0], (int(y_test[0]),))\nprint(np.round(g[0], 3))"),
    ("md", "## How many filters?\nA kernel sees $F \\cdot F \\cdot D$ inputs; more filters than that cannot be "
           "independent. The summary flags such layers."),
    ("code", "s = cs.summary(lenet, (1, 8, 8))\n[(r.name, r.notes) for r in s.rows if r.notes]"),
]


def main():
    nb = new_notebook(cells=[new_markdown_cell(t) if kind == "md" else new_code_cell(t) for kind, t in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, OUT)


if __name__ == "__main__":
    main()
