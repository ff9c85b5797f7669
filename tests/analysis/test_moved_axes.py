"""Receptive fields through ops that move positions without mixing them: ConvNeXt's channels-last
blocks (permute, LayerNorm, Linear over channels, permute back) and ShuffleNet's channel shuffle
(view, transpose, view) and chunk. The oracle is PyTorch's gradient: the input cells an output unit
depends on are exactly where the gradient of that unit is non-zero (random weights, no ReLU). The
analysis does not tell channels apart, so the units checked are on the widest path."""
import numpy as np
import pytest
import torch

import convscope as cs


class ChannelsLast(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(2, 8, 3, stride=2)
        self.dw = torch.nn.Conv2d(8, 8, 5, padding=2, groups=8)
        self.norm = torch.nn.LayerNorm(8)
        self.up = torch.nn.Linear(8, 16)
        self.down = torch.nn.Linear(16, 8)
        self.head = torch.nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.down(torch.tanh(self.up(self.norm(y))))
        return self.head(x + y.permute(0, 3, 1, 2))


class Shuffle(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(2, 8, 3)
        self.b = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)

    def forward(self, x):
        x = self.a(x)
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        left, right = x.chunk(2, dim=1)
        return torch.cat([left, self.b(right)], 1)


def gradient_box(module, shape, unit):
    x = torch.randn(1, *shape, dtype=torch.float64, requires_grad=True)
    module.double()(x)[(0, *unit)].backward()
    rows, cols = np.nonzero(x.grad[0].abs().sum(0).numpy())
    return (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))


@pytest.mark.parametrize("cls,unit", [(ChannelsLast, (1, 3, 4)), (ChannelsLast, (0, 0, 0)), (Shuffle, (5, 4, 5)),
                                      (Shuffle, (6, 1, 1))])
def test_the_region_is_where_the_gradient_is(cls, unit):
    torch.manual_seed(0)
    module = cls().eval()
    model = cs.from_torch(module)
    assert cs.receptive_region(model, (2, 21, 21), unit) == gradient_box(module, (2, 21, 21), unit)


def test_the_field_follows_the_windows_not_the_whole_input():
    model = cs.from_torch(ChannelsLast().eval())
    field = cs.receptive_field(model, (2, 21, 21))
    assert not field.whole
    # stem 3 (stride 2), depthwise 5 and head 3 at jump 2: 3 + 4*2 + 2*2
    assert field.size == (15, 15) and field.jump == (2, 2)
    rows = cs.summary(model, (2, 21, 21)).rows
    assert all(r.rf_size != (None,) for r in rows)  # no row sees the whole input
