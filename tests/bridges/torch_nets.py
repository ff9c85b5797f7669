"""Networks written the way users write them, with what symbolic tracing could not follow: shape
checks and control flow over shapes in forward, subclasses of torch layers (one empty, one named
like its parent with its own forward), functional batch norm with the activation after it (timm's
BatchNormAct2d), weights computed in forward (weight standardisation), TensorFlow's 'same' padding
computed from the input size, torch.stack, .repeat(), .reshape_as(), dict outputs. Used by the
capture tests and tools/library_sweep.py."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class C2(nn.Conv2d):
    pass


class Linear(nn.Linear):
    """Named like its parent, with a forward of its own (as timm.layers.Linear)."""

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class BatchNormAct2d(nn.BatchNorm2d):
    """timm's: F.batch_norm, then an activation module."""

    def __init__(self, channels):
        super().__init__(channels)
        self.act = nn.SiLU()

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.1, self.eps)
        return self.act(x)


class StdConv2d(nn.Conv2d):
    """Weight standardisation (BiT): the weight used is computed in forward."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / torch.sqrt(w.var(dim=(1, 2, 3), keepdim=True, unbiased=False) + 1e-6)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class SameConv2d(nn.Conv2d):
    """TensorFlow's 'same' padding, computed from the input's size in forward."""

    def forward(self, x):
        pads = []
        for i, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(i / s) - 1) * s + k - i, 0)
            pads = [total // 2, total - total // 2] + pads
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class SegNet(nn.Module):
    """A 2-D encoder-decoder for segmentation (3x64x64 in, a dict of class maps out)."""

    def __init__(self, classes=3):
        super().__init__()
        self.stem = SameConv2d(3, 8, 3, stride=2)
        self.bn1 = BatchNormAct2d(8)
        self.down = StdConv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.mid = C2(16, 16, 3, padding=1)
        self.gate = Linear(16, 16)
        self.fuse = nn.Conv2d(24, 8, 3, padding=1)
        self.head = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        torch._assert(x.ndim == 4, "SegNet takes (N, C, H, W)")
        skip = self.bn1(self.stem(x))
        y = F.relu(self.bn2(self.down(skip)))
        y = torch.stack([y, self.mid(y)], 1).mean(1)
        g = torch.sigmoid(self.gate(y.mean((2, 3))))
        y = y * g.reshape(g.shape[0], -1, 1, 1)
        y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        if skip.shape[1] != 0:
            y = torch.cat([y, skip], 1)
        y = F.relu(self.fuse(y))
        out = self.head(y).reshape_as(self.head(y))
        return {"out": F.interpolate(out, scale_factor=2, mode="nearest"), "aux": out.mean((2, 3)).repeat(1, 2)}


class Block3d(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, padding=1)
        self.norm1 = nn.InstanceNorm3d(cout, affine=True)
        self.act1 = nn.PReLU(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1)
        self.norm2 = nn.InstanceNorm3d(cout, affine=True)
        self.act2 = nn.PReLU()

    def forward(self, x):
        return self.act2(self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x))))))


class UNet3d(nn.Module):
    """A 3-D U-Net (1x32x32x32 in): InstanceNorm, PReLU, ConvTranspose3d, skip concatenations, and the
    shape checks and size matching such code does in forward."""

    def __init__(self, channels=(4, 8, 16), classes=2):
        super().__init__()
        c0, c1, c2 = channels
        self.enc0, self.enc1, self.bottom = Block3d(1, c0), Block3d(c0, c1), Block3d(c1, c2)
        self.pool = nn.MaxPool3d(2)
        self.up1 = nn.ConvTranspose3d(c2, c1, 2, stride=2)
        self.dec1 = Block3d(2 * c1, c1)
        self.up0 = nn.ConvTranspose3d(c1, c0, 2, stride=2)
        self.dec0 = Block3d(2 * c0, c0)
        self.head = nn.Conv3d(c0, classes, 1)

    @staticmethod
    def join(up, skip):
        if not isinstance(up, torch.Tensor):
            raise TypeError("a tensor is expected")
        if up.shape[2:] != skip.shape[2:]:  # odd sizes: pad the upsampled map to the skip's size
            diff = [s - u for s, u in zip(skip.shape[2:], up.shape[2:])]
            up = F.pad(up, [p for d in reversed(diff) for p in (d // 2, d - d // 2)])
        return torch.cat([up, skip], dim=1)

    def forward(self, x):
        torch._assert(x.dim() == 5, "UNet3d takes (N, C, D, H, W)")
        s0 = self.enc0(x)
        s1 = self.enc1(self.pool(s0))
        y = self.bottom(self.pool(s1))
        y = self.dec1(self.join(self.up1(y), s1))
        y = self.dec0(self.join(self.up0(y), s0))
        return self.head(y)
