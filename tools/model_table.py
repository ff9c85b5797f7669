"""The full-size sweep of torchvision's standard architectures: each converted with `cs.from_torch` at
224x224 (Inception v3 at 299x299), run against PyTorch, counted, and summarised. Prints one Markdown table
(tools/readme_numbers.py --models puts it in the README).

    python tools/model_table.py                 # every family
    python tools/model_table.py resnet18 vgg11  # some

Needs torch and `pip install --no-deps torchvision==0.28.0` (the test extras); torchinfo and fvcore give
their columns when installed (`pip install torchinfo fvcore`), else the columns say "not installed".
Weights are PyTorch's default initialisation with seed 0 (no download), BatchNorm running statistics
drawn non-trivially, eval mode, batch 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.bridges import torchvision_models  # noqa: E402  (the one torchvision importer of the project)

FAMILIES = [  # (row label, torchvision factory)
    ("AlexNet", "alexnet"), ("VGG-11", "vgg11"), ("VGG-11-BN", "vgg11_bn"), ("ResNet-18", "resnet18"),
    ("ResNet-50", "resnet50"), ("ResNeXt-50 32x4d", "resnext50_32x4d"), ("Wide ResNet-50-2", "wide_resnet50_2"),
    ("GoogLeNet", "googlenet"), ("Inception v3", "inception_v3"), ("DenseNet-121", "densenet121"),
    ("SqueezeNet 1.1", "squeezenet1_1"), ("MobileNet v2", "mobilenet_v2"), ("MobileNet v3 large", "mobilenet_v3_large"),
    ("ShuffleNet v2 x1.0", "shufflenet_v2_x1_0"), ("MNASNet 1.0", "mnasnet1_0"), ("EfficientNet-B0", "efficientnet_b0"),
    ("RegNet Y 400MF", "regnet_y_400mf"), ("ConvNeXt tiny", "convnext_tiny"), ("FCN ResNet-50", "fcn_resnet50"),
    ("DeepLabv3 ResNet-50", "deeplabv3_resnet50"), ("DeepLabv3 MobileNet v3", "deeplabv3_mobilenet_v3_large"),
    ("LR-ASPP MobileNet v3", "lraspp_mobilenet_v3_large"),
]
CONV_LINEAR = ("conv", "conv_transpose", "linear")


def build(factory: str):
    """The torch model, eval mode, seed 0, BatchNorm statistics drawn so that folding them matters."""
    import torch

    torch.manual_seed(0)
    return torchvision_models.build(factory)


def _main_output(out):
    return out["out"] if isinstance(out, dict) else out


def row(label: str, factory: str) -> list:
    import torch

    import convscope as cs

    model = build(factory)
    size = 299 if factory == "inception_v3" else 224
    shape = (3, size, size)
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(1))
    params = sum(p.numel() for p in model.parameters())
    cells = [label]
    try:
        ours = cs.from_torch(model, input_shape=shape)
    except (ValueError, TypeError) as err:
        return cells + [f"no: {str(err).splitlines()[0][:80]}"] + [""] * 5 + [_torchinfo(model, x), _fvcore(model, x)]
    try:
        with torch.no_grad():
            ref = _main_output(model(x)).numpy()
        got = _main_output(ours(cs.Tensor(x.numpy()))).data
        rel = float(np.abs(got - ref).max() / np.abs(ref).max())
        start = time.perf_counter()
        s = cs.summary(ours, shape)
        seconds = time.perf_counter() - start
    except Exception as err:  # noqa: BLE001  the table says what failed instead of stopping the sweep
        return cells + ["yes", f"fails: {type(err).__name__}: {str(err).splitlines()[0][:80]}"] + [""] * 5 + \
            [_torchinfo(model, x), _fvcore(model, x)]
    graph = cs.analysis.trace(ours, shape)
    conv_linear = sum(n.macs for n in graph.nodes[1:] if n.op in CONV_LINEAR)
    spatial = [r for r in s.rows if len(r.output_shape) == 3 and not r.group and min(r.output_shape[1:]) > 1]
    field = spatial[-1].rf_size[0] if spatial else None
    counted = s.totals["params"] + s.totals["non_trainable"]
    return cells + ["yes", f"{'yes' if rel <= 1e-4 else 'NO'} ({rel:.0e})",
                    f"{counted:,}" + ("" if counted == params else f" (torch {params:,})"),
                    _g(conv_linear) + ("" if conv_linear == s.totals["macs"] else f" (all ops {_g(s.totals['macs'])})"),
                    _field(field), f"{seconds:.2f} s", _torchinfo(model, x), _fvcore(model, x)]


def _field(size) -> str:
    """The last feature map's receptive field; squeeze-and-excitation gates see the whole input."""
    return "whole input" if size is None else f"{size}"


def _g(macs: int) -> str:
    return f"{macs / 1e9:.3f} G"


def _torchinfo(model, x) -> str:
    try:
        import torchinfo
    except ImportError:
        return "not installed"
    return _g(torchinfo.summary(model, input_data=x, verbose=0).total_mult_adds)


def _fvcore(model, x) -> str:
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return "not installed"
    count = FlopCountAnalysis(model, x)
    count.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return _g(count.total())


HEAD = ["model", "converts", "outputs equal (max rel. diff)", "parameters", "MACs (conv+linear)",
        "receptive field of the last feature map", "summary time", "torchinfo mult-adds", "fvcore"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("factories", nargs="*", help="torchvision factory names (default: every family)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    chosen = [f for f in FAMILIES if not args.factories or f[1] in args.factories]
    print("| " + " | ".join(HEAD) + " |")
    print("| " + " | ".join(["---"] * 2 + ["---:"] * (len(HEAD) - 2)) + " |")
    for label, factory in chosen:
        print("| " + " | ".join(row(label, factory)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
