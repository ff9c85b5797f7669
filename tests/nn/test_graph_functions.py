"""The graph functions that take PyTorch's signatures (nn/graph.py FUNCTIONS) for stack, repeat, tile,
expand, einsum, matmul, prelu, instance_norm, dropout1d/2d/3d and (un)squeeze: called as PyTorch calls
them, values and input gradients equal PyTorch's in float64; and a traced model calling them converts."""
import numpy as np
import pytest
import torch
import torch.nn.functional as tf

import convscope as cs
from convscope.nn.graph import FUNCTIONS

rng = np.random.default_rng(0)
x4 = rng.standard_normal((2, 3, 4, 5))

CALLS = {  # name -> (inputs, ours given convscope tensors, theirs given torch tensors)
    "stack": ([x4, x4 * 2], lambda a, b: FUNCTIONS["stack"]([a, b], 2), lambda a, b: torch.stack([a, b], 2)),
    "repeat": ([x4], lambda a: FUNCTIONS["repeat"](a, 1, 2, 1, 3), lambda a: a.repeat(1, 2, 1, 3)),
    "repeat tuple": ([x4], lambda a: FUNCTIONS["repeat"](a, (2, 1, 1, 1, 1)), lambda a: a.repeat((2, 1, 1, 1, 1))),
    "tile": ([x4], lambda a: FUNCTIONS["tile"](a, (2, 1)), lambda a: torch.tile(a, (2, 1))),
    "expand": ([x4[:, :1]], lambda a: FUNCTIONS["expand"](a, 3, -1, 5, -1, -1),
               lambda a: a.expand(3, -1, 5, -1, -1)),
    "einsum": ([x4, rng.standard_normal((6, 3))], lambda a, w: FUNCTIONS["einsum"]("bchw,kc->bkhw", a, w),
               lambda a, w: torch.einsum("bchw,kc->bkhw", a, w)),
    "einsum list": ([x4, rng.standard_normal(5)], lambda a, v: FUNCTIONS["einsum"]("...w,w", [a, v]),
                    lambda a, v: torch.einsum("...w,w", [a, v])),
    "matmul": ([x4, rng.standard_normal(5)], FUNCTIONS["matmul"], torch.matmul),
    "bmm": ([x4[0], rng.standard_normal((3, 5, 2))], FUNCTIONS["bmm"], torch.bmm),
    "prelu": ([x4, rng.uniform(0, 0.5, 3)], FUNCTIONS["prelu"], tf.prelu),
    "instance_norm": ([x4, rng.standard_normal(3), rng.standard_normal(3)],
                      lambda a, w, b: FUNCTIONS["instance_norm"](a, None, None, w, b, eps=1e-3),
                      lambda a, w, b: tf.instance_norm(a, None, None, w, b, eps=1e-3)),
    "dropout2d eval": ([x4], lambda a: FUNCTIONS["dropout2d"](a, 0.4, False), lambda a: tf.dropout2d(a, 0.4, False)),
    "unsqueeze": ([x4], lambda a: FUNCTIONS["unsqueeze"](a, -2), lambda a: a.unsqueeze(-2)),
    "squeeze": ([x4[:, :1]], lambda a: FUNCTIONS["squeeze"](a, 1), lambda a: a.squeeze(1)),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_graph_functions_equal_pytorch_with_gradients(name):
    arrays, ours, theirs = CALLS[name]
    ts = [cs.Tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, z = ours(*ts), theirs(*tt)
    np.testing.assert_allclose(y.data, z.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    z.backward(torch.tensor(g))
    for a, b in zip(ts, tt):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_channel_dropout_in_training_drops_whole_channels():
    cs.manual_seed(0)
    y = FUNCTIONS["dropout3d"](cs.Tensor(np.ones((4, 6, 2, 2, 2))), 0.5, True).data
    per_channel = y.reshape(4, 6, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0} and (per_channel.min(-1) == per_channel.max(-1)).all()


class Calls(torch.nn.Module):
    """A model whose forward calls the functions (symbolic tracing keeps them as calls)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.slope = torch.nn.Parameter(torch.rand(8) * 0.3)
        self.mix = torch.nn.Parameter(torch.rand(4))
        self.head = torch.nn.Parameter(torch.rand(36, 3))

    def forward(self, x):
        y = tf.dropout2d(tf.instance_norm(tf.prelu(self.conv(x), self.slope)), 0.3, self.training)
        y = tf.pixel_shuffle(y, 2)
        z = torch.stack([y, y * 2], dim=1).sum(1)
        z = z.repeat(1, 2, 1, 1) + z.sum(1, keepdim=True).expand(-1, 4, -1, -1)
        z = tf.lp_pool2d(torch.einsum("bchw,c->bhw", z, self.mix).unsqueeze(1).abs(), 2, 2)
        return torch.matmul(z.flatten(1), self.head)


def test_a_traced_model_calling_them_converts():
    net = Calls().eval()
    model = cs.from_torch(net)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.tensor(x)).numpy()
    np.testing.assert_allclose(model(cs.Tensor(x)).data, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
