"""Write the architecture zoo (src/convscope/model_files/zoo/*.yaml) from compact Python descriptions.

Run once after changing a description: python tools/make_zoo.py. The YAML files are the definitions
convscope loads; this script only saves typing the repetitive ones (ResNet, MobileNet, VGG).
"""
from __future__ import annotations

import pathlib

import yaml

OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "convscope" / "model_files" / "zoo"


def conv(cin, cout, k, s=1, p=0, bias=True, groups=1, name=None):
    spec = {"type": "Conv2d", "in_channels": cin, "out_channels": cout, "kernel_size": k}
    if s != 1:
        spec["stride"] = s
    if p:
        spec["padding"] = p
    if groups != 1:
        spec["groups"] = groups
    if not bias:
        spec["bias"] = False
    if name:
        spec = {"name": name, **spec}
    return spec


def bn(c):
    return {"type": "BatchNorm2d", "num_features": c}


RELU = {"type": "ReLU"}


def lenet5():
    return {"name": "lenet5", "input_shape": [1, 32, 32], "layers": [
        conv(1, 6, 5, name="C1"), {"type": "Tanh"}, {"type": "AvgPool2d", "kernel_size": 2, "name": "S2"},
        conv(6, 16, 5, name="C3"), {"type": "Tanh"}, {"type": "AvgPool2d", "kernel_size": 2, "name": "S4"},
        conv(16, 120, 5, name="C5"), {"type": "Tanh"}, {"type": "Flatten"},
        {"type": "Linear", "name": "F6", "in_features": 120, "out_features": 84}, {"type": "Tanh"},
        {"type": "Linear", "name": "output", "in_features": 84, "out_features": 10}]}


def alexnet():
    pool = {"type": "MaxPool2d", "kernel_size": 3, "stride": 2}
    return {"name": "alexnet", "input_shape": [3, 224, 224], "layers": [
        conv(3, 64, 11, 4, 2, name="conv1"), RELU, dict(pool, name="pool1"),
        conv(64, 192, 5, 1, 2, name="conv2"), RELU, dict(pool, name="pool2"),
        conv(192, 384, 3, 1, 1, name="conv3"), RELU, conv(384, 256, 3, 1, 1, name="conv4"), RELU,
        conv(256, 256, 3, 1, 1, name="conv5"), RELU, dict(pool, name="pool5"), {"type": "Flatten"},
        {"type": "Dropout"}, {"type": "Linear", "name": "fc6", "in_features": 9216, "out_features": 4096}, RELU,
        {"type": "Dropout"}, {"type": "Linear", "name": "fc7", "in_features": 4096, "out_features": 4096}, RELU,
        {"type": "Linear", "name": "fc8", "in_features": 4096, "out_features": 1000}]}


def vgg16():
    layers, cin = [], 3
    for block, (cout, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for i in range(1, n + 1):
            layers += [conv(cin, cout, 3, 1, 1, name=f"conv{block}_{i}"), RELU]
            cin = cout
        layers.append({"type": "MaxPool2d", "kernel_size": 2, "name": f"pool{block}"})
    layers += [{"type": "Flatten"}, {"type": "Linear", "name": "fc6", "in_features": 25088, "out_features": 4096},
               RELU, {"type": "Dropout"}, {"type": "Linear", "name": "fc7", "in_features": 4096, "out_features": 4096},
               RELU, {"type": "Dropout"}, {"type": "Linear", "name": "fc8", "in_features": 4096, "out_features": 1000}]
    return {"name": "vgg16", "input_shape": [3, 224, 224], "layers": layers}


def _stem():
    return [conv(3, 64, 7, 2, 3, bias=False, name="conv1"), bn(64), RELU,
            {"type": "MaxPool2d", "kernel_size": 3, "stride": 2, "padding": 1, "name": "maxpool"}]


def _shortcut(cin, cout, stride):
    if stride == 1 and cin == cout:
        return None
    return [conv(cin, cout, 1, stride, bias=False), bn(cout)]


def _block(body, shortcut, name):
    spec = {"type": "Residual", "name": name, "body": body}
    if shortcut:
        spec["shortcut"] = shortcut
    return [spec, RELU]


def resnet18():
    layers, cin = _stem(), 64
    for stage, cout in enumerate([64, 128, 256, 512], start=1):
        for i in range(2):
            s = 2 if stage > 1 and i == 0 else 1
            body = [conv(cin, cout, 3, s, 1, bias=False), bn(cout), RELU, conv(cout, cout, 3, 1, 1, bias=False), bn(cout)]
            layers += _block(body, _shortcut(cin, cout, s), f"layer{stage}_{i}")
            cin = cout
    layers += [{"type": "GlobalAvgPool"}, {"type": "Linear", "name": "fc", "in_features": 512, "out_features": 1000}]
    return {"name": "resnet18", "input_shape": [3, 224, 224], "layers": layers}


def resnet50():
    layers, cin = _stem(), 64
    for stage, (width, n) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=1):
        cout = width * 4
        for i in range(n):
            s = 2 if stage > 1 and i == 0 else 1  # stride in the 3x3 convolution, as torchvision (v1.5)
            body = [conv(cin, width, 1, bias=False), bn(width), RELU, conv(width, width, 3, s, 1, bias=False), bn(width),
                    RELU, conv(width, cout, 1, bias=False), bn(cout)]
            layers += _block(body, _shortcut(cin, cout, s), f"layer{stage}_{i}")
            cin = cout
    layers += [{"type": "GlobalAvgPool"}, {"type": "Linear", "name": "fc", "in_features": 2048, "out_features": 1000}]
    return {"name": "resnet50", "input_shape": [3, 224, 224], "layers": layers}


def mobilenet_v1():
    layers = [conv(3, 32, 3, 2, 1, bias=False, name="conv0"), bn(32), RELU]
    cin = 32
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for i, (cout, s) in enumerate(plan, start=1):
        layers += [conv(cin, cin, 3, s, 1, bias=False, groups=cin, name=f"dw{i}"), bn(cin), RELU,
                   conv(cin, cout, 1, bias=False, name=f"pw{i}"), bn(cout), RELU]
        cin = cout
    layers += [{"type": "GlobalAvgPool"}, {"type": "Linear", "name": "fc", "in_features": 1024, "out_features": 1000}]
    return {"name": "mobilenet_v1", "input_shape": [3, 224, 224], "layers": layers}


def unet_small():
    def double(cin, cout):
        return [conv(cin, cout, 3, 1, 1), RELU, conv(cout, cout, 3, 1, 1), RELU]

    def up(cin, cout):
        return {"type": "ConvTranspose2d", "in_channels": cin, "out_channels": cout, "kernel_size": 2, "stride": 2}

    pool = {"type": "MaxPool2d", "kernel_size": 2}
    inner = [pool, *double(32, 64), up(64, 32)]
    middle = [pool, *double(16, 32), {"type": "Concat", "branches": [[{"type": "Identity"}], inner]},
              *double(64, 32), up(32, 16)]
    layers = [*double(1, 16), {"type": "Concat", "name": "skip1", "branches": [[{"type": "Identity"}], middle]},
              *double(32, 16), conv(16, 2, 1, name="head")]
    return {"name": "unet_small", "input_shape": [1, 64, 64], "layers": layers}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for build in (lenet5, alexnet, vgg16, resnet18, resnet50, mobilenet_v1, unet_small):
        doc = build()
        text = f"# {doc['name']}: architecture only (generated by tools/make_zoo.py)\n"
        text += yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120)
        (OUT / f"{doc['name']}.yaml").write_text(text)


if __name__ == "__main__":
    main()
