"""The library sweep: CNNs from other libraries through `cs.from_torch`, each checked four ways.

timm's families (random weights, BatchNorm statistics drawn non-trivially, eval mode, small inputs),
torchvision's video models (3x4x32x32) and networks written with standard modules as users write
them (tests/bridges/torch_nets.py: a 3-D U-Net at 1x32x32x32, an encoder-decoder at 3x64x64). A
model passes when its outputs are within max|d|/max|ref| <= 1e-4 of PyTorch's (batch 2), its
parameter count is torch's, its MACs (cs.summary) equal the sum of fvcore's FlopCountAnalysis
by_operator() entries for conv, linear, addmm, matmul and einsum, and `cs.to_onnx` of it runs in
onnxruntime with PyTorch's outputs (the same tolerance). Prints a Markdown table and a summary line.

    python tools/library_sweep.py                  # everything
    python tools/library_sweep.py resnet18d unet3d # some
    python tools/readme_numbers.py --only library-sweep   # the README's line

Needs `pip install --no-deps timm==1.0.31 fvcore==0.1.5.post20221221 iopath==0.1.10 yacs==0.1.8`
(and tabulate, termcolor, portalocker), as the Makefile's test extras install them.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.bridges import torchvision_models  # noqa: E402  (the one torchvision importer of the project)

TOLERANCE = 1e-4
FVCORE_MACS = ("conv", "linear", "addmm", "matmul", "einsum")
TIMM = [  # (timm name, family): one or two of each family, at 96x96 unless SIZES says otherwise
    ("resnet18d", "ResNet-D"), ("resnet26t", "ResNet-T"), ("seresnet18", "SE-ResNet"), ("skresnet18", "SK-ResNet"),
    ("resnest14d", "ResNeSt"), ("efficientnet_b0", "EfficientNet"), ("tf_efficientnet_b0", "EfficientNet (TF same)"),
    ("tf_efficientnetv2_b0", "EfficientNet v2 (TF same)"), ("mobilenetv3_small_100", "MobileNet v3"),
    ("mobilenetv4_conv_small", "MobileNet v4"), ("ghostnet_100", "GhostNet"), ("regnetx_002", "RegNet X"),
    ("regnety_002", "RegNet Y"), ("repvgg_a0", "RepVGG"), ("dla34", "DLA"), ("dpn48b", "DPN"),
    ("cspresnet50", "CSPNet"), ("cs3darknet_s", "CSPDarkNet"), ("hrnet_w18_small", "HRNet"),
    ("res2net50_14w_8s", "Res2Net"), ("rexnet_100", "ReXNet"), ("mixnet_s", "MixNet"),
    ("tf_mixnet_s", "MixNet (TF same)"), ("convnext_atto", "ConvNeXt"), ("densenet121", "DenseNet"),
    ("xception41", "Xception"), ("inception_v3", "Inception v3"), ("nf_resnet26", "NF-ResNet"),
    ("dm_nfnet_f0", "NFNet"), ("selecsls42b", "SelecSLS"), ("ese_vovnet19b_dw", "VoVNet"), ("mnasnet_100", "MNASNet"),
    ("lcnet_050", "LCNet"), ("gernet_s", "GENet"), ("resnetv2_50x1_bit", "ResNet v2 (BiT, StdConv)"),
    ("hardcorenas_a", "HardCoRe-NAS"), ("fbnetc_100", "FBNet"), ("darknet17", "DarkNet"),
    ("ghostnetv2_100", "GhostNet v2"), ("repghostnet_050", "RepGhostNet"), ("hgnetv2_b0", "HGNet v2"),
    ("eca_resnet33ts", "ECA-ResNet"), ("tinynet_e", "TinyNet"),
]
SIZES = {"inception_v3": (3, 107, 107), "xception41": (3, 128, 128), "hrnet_w18_small": (3, 128, 128),
         "dm_nfnet_f0": (3, 128, 128)}
VIDEO = ("r3d_18", "mc3_18", "r2plus1d_18")


def cases() -> list:
    """(name, family, builder, sample shape) of every model the sweep checks."""
    out = [(name, f"timm {family}", _timm(name), SIZES.get(name, (3, 96, 96))) for name, family in TIMM]
    out += [(name, "torchvision video", _video(name), (3, 4, 32, 32)) for name in VIDEO]
    from tests.bridges import torch_nets

    out += [("unet3d", "3-D U-Net (InstanceNorm, PReLU, ConvTranspose3d)", torch_nets.UNet3d, (1, 32, 32, 32)),
            ("segnet", "encoder-decoder (subclasses, F.batch_norm, shape checks)", torch_nets.SegNet, (3, 64, 64))]
    return out


def _timm(name):
    def build():
        torchvision_models.builders()  # timm imports torchvision
        import timm

        return timm.create_model(name, pretrained=False, num_classes=10)
    return build


def _video(name):
    def build():
        models, _ = torchvision_models.builders()
        import torchvision.models.video as video

        return getattr(video, name)(weights=None)
    return build


def _leaves(value) -> list:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _leaves(v)]
    return [value]


def _close(got: list, want: list) -> float:
    """The largest max|d|/max|ref| over the outputs."""
    return max(float(np.abs(np.asarray(g) - w).max() / max(np.abs(w).max(), 1e-30)) for g, w in zip(got, want))


def fvcore_macs(module, x) -> int:
    from fvcore.nn import FlopCountAnalysis

    flops = FlopCountAnalysis(module, (x,)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(sum(v for k, v in flops.by_operator().items() if k in FVCORE_MACS))


def check(name, build, shape, onnx: bool = True) -> tuple:
    """(problems, seconds to convert) of one model; no problem is a pass."""
    import torch

    import convscope as cs

    torch.manual_seed(0)
    module = torchvision_models.randomise_norms(build()).eval()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = [t.numpy() for t in _leaves(module(x))]
    start = time.perf_counter()
    model = cs.from_torch(module, shape)
    seconds = time.perf_counter() - start
    problems = []
    got = [t.data for t in _leaves(model(cs.Tensor(x.numpy())))]
    err = _close(got, want)
    if not err <= TOLERANCE:
        problems.append(f"outputs differ: {err:.1e}")
    theirs, ours = sum(p.numel() for p in module.parameters()), sum(p.data.size for p in model.parameters())
    if theirs != ours:
        problems.append(f"parameters {ours} != torch's {theirs}")
    macs, ref = cs.summary(model, shape).totals["macs"], fvcore_macs(module, x[:1])  # the capture, once
    if macs != ref:
        problems.append(f"MACs {macs} != fvcore's {ref}")
    if onnx:
        problems += _onnx(model, shape, x.numpy(), want)
    return problems, seconds


def _onnx(model, shape, x, want) -> list:
    import onnxruntime as ort

    import convscope as cs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        cs.to_onnx(model, shape, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: x})
    err = _close(got, want)
    return [] if err <= TOLERANCE else [f"onnxruntime differs: {err:.1e}"]


def _reason(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {' / '.join(lines[:3])}"[:240]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="models to check (default: all)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX export check")
    parser.add_argument("--write", action="store_true", help="put the summary line in README.md and docs/ "
                        "(the library-sweep markers)")
    args = parser.parse_args(argv)
    chosen = [c for c in cases() if not args.names or c[0] in args.names]
    rows, passed = [], 0
    for name, family, build, shape in chosen:
        try:
            problems, seconds = check(name, build, shape, onnx=not args.no_onnx)
        except Exception as err:  # noqa: BLE001 - one row per model, whatever went wrong
            problems, seconds = [_reason(err)], None
            if "-v" in sys.argv:
                traceback.print_exc()
        passed += not problems
        shown = "x".join(map(str, shape))
        rows.append(f"| {name} | {family} | {shown} | {'pass' if not problems else 'FAIL'} | "
                    f"{'' if seconds is None else f'{seconds:.1f}'} | {'; '.join(problems).replace('|', '/')} |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("| model | family | input | result | convert s | reason |\n|---|---|---|---|---:|---|")
    print("\n".join(rows))
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    line = (f"on {day}, {passed} of {len(rows)} models pass ({100 * passed / max(len(rows), 1):.0f}%): outputs, "
            f"parameters, MACs (fvcore) and onnxruntime")
    print(f"\n{line}")
    if args.write:
        _write(line)
    return 0


def _write(line: str) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import readme_numbers

    for page in readme_numbers.PAGES:
        text = page.read_text()
        new = readme_numbers.fill(text, {"library-sweep": line})
        if new != text:
            page.write_text(new)


if __name__ == "__main__":
    raise SystemExit(main())
