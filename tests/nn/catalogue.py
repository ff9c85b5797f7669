"""One example of every registered layer, with non-default arguments and an input it accepts.
Tests iterate over it and check that it covers the whole registry, so a new layer needs an entry."""
import numpy as np

import convscope as cs

nn = cs.nn

CATALOGUE = {
    "Conv1d": (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1, dilation=2), (2, 3, 11)),
    "Conv2d": (lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=((1, 0), (0, 2)), groups=2), (2, 4, 9, 8)),
    "Conv3d": (lambda: nn.Conv3d(2, 3, 2, padding="same", bias=False), (1, 2, 5, 4, 5)),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1), (2, 3, 7)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2, dilation=2), (2, 4, 5, 4)),
    "ConvTranspose3d": (lambda: nn.ConvTranspose3d(2, 2, 2, stride=2, bias=False), (1, 2, 3, 2, 3)),
    "MaxPool1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1, dilation=2), (2, 3, 12)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2, ceil_mode=True), (2, 3, 7, 8)),
    "MaxPool3d": (lambda: nn.MaxPool3d((2, 1, 2)), (1, 2, 4, 3, 4)),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 11)),
    "AvgPool2d": (lambda: nn.AvgPool2d((3, 2), stride=1, ceil_mode=True), (2, 3, 7, 6)),
    "AvgPool3d": (lambda: nn.AvgPool3d(2, divisor_override=3), (1, 2, 4, 4, 4)),
    "GlobalAvgPool": (lambda: nn.GlobalAvgPool(), (2, 3, 5, 4)),
    "GlobalMaxPool": (lambda: nn.GlobalMaxPool(), (2, 3, 5, 4)),
    "KMaxPool": (lambda: nn.KMaxPool(3, axis=2), (2, 3, 6, 4)),
    "Linear": (lambda: nn.Linear(5, 3), (4, 5)),
    "Identity": (lambda: nn.Identity(), (2, 3)),
    "ReLU": (lambda: nn.ReLU(), (2, 3, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (2, 3, 4)),
    "Tanh": (lambda: nn.Tanh(), (2, 3, 4)),
    "Sigmoid": (lambda: nn.Sigmoid(), (2, 3, 4)),
    "Softmax": (lambda: nn.Softmax(dim=1), (2, 3, 4)),
    "Flatten": (lambda: nn.Flatten(2), (2, 3, 4, 5)),
    "Dropout": (lambda: nn.Dropout(0.3), (2, 3, 4)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3, eps=1e-3, momentum=0.2), (4, 3, 5)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3, affine=False), (4, 3, 5, 4)),
    "BatchNorm3d": (lambda: nn.BatchNorm3d(2, eps=1e-4), (2, 2, 3, 4, 3)),
    "Dropout2d": (lambda: nn.Dropout2d(0.4), (2, 3, 4, 5)),
    "Dropout3d": (lambda: nn.Dropout3d(0.2), (2, 3, 2, 4, 3)),
    "ReLU6": (lambda: nn.ReLU6(), (2, 3, 4)),
    "Hardtanh": (lambda: nn.Hardtanh(-0.5, 2.0), (2, 3, 4)),
    "Hardswish": (lambda: nn.Hardswish(), (2, 3, 4)),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), (2, 3, 4)),
    "SiLU": (lambda: nn.SiLU(), (2, 3, 4)),
    "GELU": (lambda: nn.GELU(approximate="tanh"), (2, 3, 4)),
    "Mish": (lambda: nn.Mish(), (2, 3, 4)),
    "ELU": (lambda: nn.ELU(0.7), (2, 3, 4)),
    "SELU": (lambda: nn.SELU(), (2, 3, 4)),
    "CELU": (lambda: nn.CELU(1.5), (2, 3, 4)),
    "PReLU": (lambda: nn.PReLU(3, init=0.1), (2, 3, 4, 5)),
    "LayerNorm": (lambda: nn.LayerNorm((4, 5), eps=1e-6, bias=False), (2, 3, 4, 5)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 6, eps=1e-4), (2, 6, 3, 4)),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(3, eps=1e-4), (2, 3, 7)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3, affine=True), (2, 3, 5, 4)),
    "InstanceNorm3d": (lambda: nn.InstanceNorm3d(2, affine=True), (2, 2, 3, 4, 3)),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 10)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5)),
    "AdaptiveAvgPool3d": (lambda: nn.AdaptiveAvgPool3d((2, 3, 1)), (1, 2, 5, 6, 4)),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(3), (2, 3, 7)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((2, 4)), (2, 3, 5, 9)),
    "AdaptiveMaxPool3d": (lambda: nn.AdaptiveMaxPool3d(2), (1, 2, 5, 4, 3)),
    "LPPool1d": (lambda: nn.LPPool1d(2, 3, stride=2), (2, 3, 9)),
    "LPPool2d": (lambda: nn.LPPool2d(1.5, (3, 2)), (2, 3, 7, 6)),
    "LPPool3d": (lambda: nn.LPPool3d(3, 2, stride=1), (1, 2, 4, 3, 4)),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), (2, 12, 3, 4)),
    "PixelUnshuffle": (lambda: nn.PixelUnshuffle(2), (2, 3, 4, 6)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), (2, 3, 4, 5)),
    "StochasticDepth": (lambda: nn.StochasticDepth(0.3, "row"), (4, 3, 5, 5)),
    "Sequential": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()), (2, 3, 6, 6)),
    "Residual": (lambda: nn.Residual(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh()), nn.Conv2d(3, 3, 1)),
                 (2, 3, 5, 5)),
    "Concat": (lambda: nn.Concat(nn.Identity(), nn.Conv2d(3, 2, 1), dim=1), (2, 3, 5, 5)),
}


def example(name, seed=0):
    """(layer in eval mode, with non-trivial running statistics, and a float32 input)."""
    make, shape = CATALOGUE[name]
    cs.manual_seed(seed)
    layer = make().eval()
    rng = np.random.default_rng(seed)
    for m in layer.modules():
        if isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.PReLU)):
            for p in m.parameters():  # not the ones and zeros (or the one slope) they start from
                p.data[...] = rng.standard_normal(p.shape)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            m.running_mean[...] = rng.standard_normal(m.num_features)
            m.running_var[...] = rng.uniform(0.5, 2, m.num_features)
    return layer, rng.standard_normal(shape).astype(np.float32)
