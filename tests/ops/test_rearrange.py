"""pixel_shuffle/pixel_unshuffle, tile, expand, einsum, stack and matmul of 1-D operands: values and
gradients against PyTorch in float64 (check_op), the shuffles on 1 and 3 axes and in ONNX's DCR
order against their definition (an index map), and their ONNX export against onnxruntime."""
import itertools

import numpy as np
import onnxruntime as ort
import pytest
import torch
from hypothesis import given, settings, strategies as st

import convscope as cs
from convscope.nn.graph import FUNCTIONS
from convscope.ops.primitives import einsum as Ei
from convscope.ops.primitives import rearrange as R
from convscope.ops.primitives import shape as S
from convscope.tensor import apply
from tests.ops.oracle import check_op

rng = np.random.default_rng(0)


def ours(op, **attrs):
    """The op as check_op's `ours` and `grad`: forward on arrays, and the gradients for dy."""
    def forward(*xs):
        return apply(op, *(cs.Tensor(x) for x in xs), **attrs).data

    def grad(dy, *xs):
        ts = [cs.Tensor(x, requires_grad=True) for x in xs]
        apply(op, *ts, **attrs).backward(dy)
        return [t.grad for t in ts]
    return forward, grad


@pytest.mark.parametrize("r,shape", [(2, (2, 12, 3, 4)), (3, (1, 9, 2, 2)), (1, (2, 3, 4, 5))])
def test_pixel_shuffle_and_unshuffle_equal_torch(r, shape):
    x = rng.standard_normal(shape)
    f, g = ours(R.pixel_shuffle, upscale_factor=r)
    y = check_op(f, lambda t: torch.pixel_shuffle(t, r), [x], g)
    f, g = ours(R.pixel_unshuffle, downscale_factor=r)
    np.testing.assert_array_equal(check_op(f, lambda t: torch.pixel_unshuffle(t, r), [y], g), x)


def shuffle_by_index(x, r, mode):
    """The definition: output channel c, cell (y_a r + j_a) reads channel c r^n + j (CRD) or j C + c (DCR)."""
    n, c = x.ndim - 2, x.shape[1] // r ** (x.ndim - 2)
    out = np.zeros((x.shape[0], c, *(s * r for s in x.shape[2:])))
    for ch, *cell in itertools.product(range(c), *(range(s * r) for s in x.shape[2:])):
        block = int(np.ravel_multi_index([p % r for p in cell], (r,) * n)) if n else 0
        src = ch * r ** n + block if mode == "CRD" else block * c + ch
        out[(slice(None), ch, *cell)] = x[(slice(None), src, *(p // r for p in cell))]
    return out


@pytest.mark.parametrize("mode", ["CRD", "DCR"])
@pytest.mark.parametrize("shape,r", [((2, 8, 3), 2), ((1, 8, 2, 3), 2), ((1, 16, 2, 1, 2), 2), ((1, 18, 2, 2), 3)])
def test_pixel_shuffle_of_any_rank_and_order_is_its_index_map_and_unshuffle_inverts_it(mode, shape, r):
    x = rng.standard_normal(shape)
    y = apply(R.pixel_shuffle, cs.Tensor(x), upscale_factor=r, mode=mode).data
    np.testing.assert_array_equal(y, shuffle_by_index(x, r, mode))
    np.testing.assert_array_equal(apply(R.pixel_unshuffle, cs.Tensor(y), downscale_factor=r, mode=mode).data, x)


@pytest.mark.parametrize("reps,shape", [((2, 1, 3), (2, 3, 4)), ((2, 2), (3, 1, 4)), ((2, 1, 1, 2), (3, 4))])
def test_tile_equals_torch_tile_and_repeat(reps, shape):
    x = rng.standard_normal(shape)
    f, g = ours(R.tile, reps=reps)
    check_op(f, lambda t: torch.tile(t, reps), [x], g)
    if len(reps) >= len(shape):  # Tensor.repeat takes at least one size per axis
        np.testing.assert_array_equal(f(x), torch.tensor(x).repeat(*reps).numpy())


@pytest.mark.parametrize("target,shape", [((2, 3, 4), (3, 1)), ((5, 2, 3), (2, 1)), ((2, 3), (2, 3))])
def test_expand_equals_torch_expand(target, shape):
    x = rng.standard_normal(shape)
    f, g = ours(R.expand, shape=target)
    check_op(f, lambda t: t.expand(*target), [x], g)


EQUATIONS = [("bchw,kc->bkhw", [(2, 3, 4, 5), (6, 3)]), ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
             ("ii->i", [(4, 4)]), ("ij->", [(3, 4)]), ("ij", [(3, 4)]), ("bij,bjk", [(2, 3, 4), (2, 4, 5)]),
             ("i,i", [(4,), (4,)]), ("bii->bi", [(2, 3, 3)]), ("ij,k->ik", [(2, 3), (4,)]),
             ("bnc,bmc->bnm", [(2, 5, 3), (2, 4, 3)]), ("b...c,c->b...", [(2, 3, 4, 5), (5,)])]


@pytest.mark.parametrize("equation,shapes", EQUATIONS)
def test_einsum_equals_torch_einsum(equation, shapes):
    xs = [rng.standard_normal(s) for s in shapes]
    f, g = ours(Ei.einsum, equation=equation)
    check_op(f, lambda *ts: torch.einsum(equation, *ts), xs, g)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.data())
def test_einsum_of_drawn_contractions_equals_torch(data):
    letters = "abcde"
    sizes = {ch: data.draw(st.integers(1, 3)) for ch in letters}
    terms = [data.draw(st.lists(st.sampled_from(letters), min_size=1, max_size=3, unique=True)) for _ in range(2)]
    used = sorted(set(terms[0]) | set(terms[1]))
    out = data.draw(st.lists(st.sampled_from(used), max_size=3, unique=True))
    equation = f"{''.join(terms[0])},{''.join(terms[1])}->{''.join(out)}"
    xs = [rng.standard_normal([sizes[ch] for ch in t]) for t in terms]
    f, g = ours(Ei.einsum, equation=equation)
    check_op(f, lambda *ts: torch.einsum(equation, *ts), xs, g)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((3,), (2, 3, 4)), ((2, 5, 3), (3,)), ((2, 1, 4, 3), (5, 3, 2))])
def test_matmul_of_1d_and_batched_operands_equals_torch(shapes):
    f, g = ours(S.matmul)
    check_op(f, torch.matmul, [rng.standard_normal(s) for s in shapes], g)


def test_stack_as_torch_calls_it_equals_torch_stack():
    xs = [rng.standard_normal((2, 3)) for _ in range(3)]
    for dim in (0, 1, 2, -1):
        ts = [cs.Tensor(x, requires_grad=True) for x in xs]
        tt = [torch.tensor(x, requires_grad=True) for x in xs]
        y, z = FUNCTIONS["stack"](ts, dim), torch.stack(tt, dim)
        np.testing.assert_array_equal(y.data, z.detach().numpy())
        dy = rng.standard_normal(y.shape)
        y.backward(dy)
        z.backward(torch.tensor(dy))
        for a, b in zip(ts, tt):
            np.testing.assert_array_equal(a.grad, b.grad.numpy())


class Ops(cs.nn.Module):
    """The new ops in one graph, to export."""

    def forward(self, x):
        y = apply(R.pixel_shuffle, x, upscale_factor=2)  # (N, 2, 6, 8)
        y = y + apply(R.pixel_shuffle, x, upscale_factor=2, mode="DCR")
        z = apply(R.pixel_unshuffle, y, downscale_factor=2)  # CRD: written out as Reshape/Transpose
        z = z + apply(R.pixel_unshuffle, y, downscale_factor=2, mode="DCR")  # SpaceToDepth
        z = apply(R.tile, z, reps=(1, 1, 2, 1)) * apply(R.expand, z.sum(1, True), shape=(1, 8, 3, 4)).sum()
        z = FUNCTIONS["stack"]([z, z * 2], 1).sum(1)
        return apply(Ei.einsum, z, cs.Tensor(np.arange(8.0, dtype=np.float32)), equation="bchw,c->bhw")


def test_the_new_ops_export_to_onnx_and_onnxruntime_agrees(tmp_path):
    x = rng.standard_normal((1, 8, 3, 4)).astype(np.float32)
    expected = Ops()(cs.Tensor(x)).data
    cs.to_onnx(Ops(), (8, 3, 4), tmp_path / "ops.onnx", batch_size=1)
    got = ort.InferenceSession(str(tmp_path / "ops.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-4)
    back = cs.from_onnx(tmp_path / "ops.onnx")
    np.testing.assert_allclose(back(cs.Tensor(x)).data, expected, rtol=1e-5, atol=1e-4)
