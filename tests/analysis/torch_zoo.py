"""The zoo's architectures written independently in plain PyTorch (no torchvision), as references."""
import torch.nn as t


def lenet5():
    return t.Sequential(t.Conv2d(1, 6, 5), t.Tanh(), t.AvgPool2d(2), t.Conv2d(6, 16, 5), t.Tanh(), t.AvgPool2d(2),
                        t.Conv2d(16, 120, 5), t.Tanh(), t.Flatten(), t.Linear(120, 84), t.Tanh(), t.Linear(84, 10))


def alexnet():
    return t.Sequential(
        t.Conv2d(3, 64, 11, 4, 2), t.ReLU(), t.MaxPool2d(3, 2), t.Conv2d(64, 192, 5, padding=2), t.ReLU(),
        t.MaxPool2d(3, 2), t.Conv2d(192, 384, 3, padding=1), t.ReLU(), t.Conv2d(384, 256, 3, padding=1), t.ReLU(),
        t.Conv2d(256, 256, 3, padding=1), t.ReLU(), t.MaxPool2d(3, 2), t.Flatten(), t.Dropout(),
        t.Linear(9216, 4096), t.ReLU(), t.Dropout(), t.Linear(4096, 4096), t.ReLU(), t.Linear(4096, 1000))


def vgg16():
    layers, cin = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(t.MaxPool2d(2))
        else:
            layers += [t.Conv2d(cin, v, 3, padding=1), t.ReLU()]
            cin = v
    return t.Sequential(*layers, t.Flatten(), t.Linear(25088, 4096), t.ReLU(), t.Dropout(), t.Linear(4096, 4096),
                        t.ReLU(), t.Dropout(), t.Linear(4096, 1000))


class Block(t.Module):
    def __init__(self, cin, cout, stride, bottleneck):
        super().__init__()
        if bottleneck:
            w, cout = cout, cout * 4
            self.body = t.Sequential(t.Conv2d(cin, w, 1, bias=False), t.BatchNorm2d(w), t.ReLU(),
                                     t.Conv2d(w, w, 3, stride, 1, bias=False), t.BatchNorm2d(w), t.ReLU(),
                                     t.Conv2d(w, cout, 1, bias=False), t.BatchNorm2d(cout))
        else:
            self.body = t.Sequential(t.Conv2d(cin, cout, 3, stride, 1, bias=False), t.BatchNorm2d(cout), t.ReLU(),
                                     t.Conv2d(cout, cout, 3, 1, 1, bias=False), t.BatchNorm2d(cout))
        self.short = (t.Sequential(t.Conv2d(cin, cout, 1, stride, bias=False), t.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else t.Identity())
        self.out = cout

    def forward(self, x):
        return (self.body(x) + self.short(x)).relu()


def resnet(depths, bottleneck):
    layers = [t.Conv2d(3, 64, 7, 2, 3, bias=False), t.BatchNorm2d(64), t.ReLU(), t.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, (width, n) in enumerate(zip([64, 128, 256, 512], depths)):
        for i in range(n):
            block = Block(cin, width, 2 if stage and not i else 1, bottleneck)
            layers.append(block)
            cin = block.out
    return t.Sequential(*layers, t.AdaptiveAvgPool2d(1), t.Flatten(), t.Linear(cin, 1000))


def mobilenet_v1():
    layers, cin = [t.Conv2d(3, 32, 3, 2, 1, bias=False), t.BatchNorm2d(32), t.ReLU()], 32
    for cout, s in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]:
        layers += [t.Conv2d(cin, cin, 3, s, 1, groups=cin, bias=False), t.BatchNorm2d(cin), t.ReLU(),
                   t.Conv2d(cin, cout, 1, bias=False), t.BatchNorm2d(cout), t.ReLU()]
        cin = cout
    return t.Sequential(*layers, t.AdaptiveAvgPool2d(1), t.Flatten(), t.Linear(1024, 1000))


class UNetSmall(t.Module):
    def __init__(self):
        super().__init__()
        double = lambda a, b: t.Sequential(t.Conv2d(a, b, 3, padding=1), t.ReLU(), t.Conv2d(b, b, 3, padding=1), t.ReLU())  # noqa: E731
        self.enc1, self.enc2, self.mid = double(1, 16), double(16, 32), double(32, 64)
        self.up2, self.dec2 = t.ConvTranspose2d(64, 32, 2, 2), double(64, 32)
        self.up1, self.dec1 = t.ConvTranspose2d(32, 16, 2, 2), double(32, 16)
        self.head = t.Conv2d(16, 2, 1)

    def forward(self, x):
        import torch
        e1 = self.enc1(x)
        e2 = self.enc2(torch.max_pool2d(e1, 2))
        m = self.mid(torch.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([e2, self.up2(m)], 1))
        d1 = self.dec1(torch.cat([e1, self.up1(d2)], 1))
        return self.head(d1)


REFERENCES = {"lenet5": lenet5, "alexnet": alexnet, "vgg16": vgg16, "resnet18": lambda: resnet([2, 2, 2, 2], False),
              "resnet50": lambda: resnet([3, 4, 6, 3], True), "mobilenet_v1": mobilenet_v1, "unet_small": UNetSmall}
