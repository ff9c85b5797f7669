"""Winograd F(2x2, 3x3) and F(4x4, 3x3) held to the definition: the tile identity, then whole
convolutions, their input gradients, bias and epilogue, over generated shapes and forced chunks."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from convscope import ops
from convscope.ops.engine import planner, tuning, winograd
from convscope.ops.engine.epilogue import Epilogue
from convscope.ops.geometry import conv_geometry
from convscope.ops.reference import reference_conv

from .oracle import HAS_TORCH, requires_torch

if HAS_TORCH:
    import torch
    import torch.nn.functional as F

# max|ours - float64 definition| / max|definition| in float32. F(4x4) carries tiles through points
# up to +-2 (B^T's 5s, A^T's 8s), and loses about 20x more than F(2x2): measured 4e-6 - 1.2e-5 over
# 32 - 512 channels, against PyTorch's own 3e-7 (docs/performance.md).
FLOAT32_ERROR = {2: 2e-6, 4: 5e-5}


@pytest.mark.parametrize("m", sorted(winograd.VARIANTS))
def test_a_tile_gives_the_valid_correlation_of_its_cells(m):
    """A^T [(G g G^T) * (B^T d B)] A == correlation of the (m+2)^2 tile d with g, in float64."""
    v, rng = winograd.VARIANTS[m], np.random.default_rng(m)
    d, g = rng.standard_normal((v.a, v.a)), rng.standard_normal((3, 3))
    tile = v.at @ ((v.g @ g @ v.g.T) * (v.bt @ d @ v.bt.T)) @ v.at.T
    expected = [[(d[i:i + 3, j:j + 3] * g).sum() for j in range(m)] for i in range(m)]
    np.testing.assert_allclose(tile, expected, rtol=1e-12, atol=1e-12)


pads = st.integers(0, 2) | st.tuples(st.integers(0, 2), st.integers(0, 2))


@st.composite
def cases(draw):
    """A 3x3 stride-1 convolution: sizes odd and even, tiles that need not divide them, padding
    0-2 (equal or not), a variant, and a chunk budget from one tile row to all of them."""
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    pad = tuple(draw(pads) for _ in range(2))
    lo_hi = [(p, p) if isinstance(p, int) else p for p in pad]
    size = tuple(draw(st.integers(max(1, 3 - lo - hi), 13)) for lo, hi in lo_hi)
    return n, c, o, size, lo_hi, draw(st.sampled_from(sorted(winograd.VARIANTS))), \
        draw(st.sampled_from([1, 1 << 12, 1 << 30])), draw(st.integers(1, 2)), draw(st.integers(0, 2**31))


def plan_of(geo, n, c, o, m, budget, threads, itemsize):
    return winograd.Winograd(geo, n, c, o, itemsize, m, budget, threads)


def relative(got, ref):
    return np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30)


@given(cases(), st.sampled_from([np.float64, np.float32]))
@settings(max_examples=60)
def test_forward_matches_the_definition(case, dtype):
    n, c, o, size, pads, m, budget, threads, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((n, c, *size)), rng.standard_normal((o, c, 3, 3)), rng.standard_normal(o)
    res = rng.standard_normal((n, o, *(s + lo + hi - 2 for s, (lo, hi) in zip(size, pads))))
    geo = conv_geometry(x.shape, w.shape, 1, pads, 1, 1)
    p = plan_of(geo, n, c, o, m, budget, threads, np.dtype(dtype).itemsize)
    got = winograd.forward(p, x.astype(dtype), w.astype(dtype), b.astype(dtype),
                           Epilogue(res.astype(dtype), relu=True))
    ref = np.maximum(reference_conv(x, w, b, padding=pads) + res, 0)
    assert got.dtype == dtype and got.shape == ref.shape
    assert relative(got, ref) <= (1e-12 if dtype == np.float64 else FLOAT32_ERROR[m])


@given(cases(), st.sampled_from([np.float64, np.float32]))
@settings(max_examples=40)
def test_input_grad_is_the_adjoint(case, dtype):
    """<conv(x), dy> == <x, dx>: dx from the transposed plan, x and the conv by the definition."""
    n, c, o, size, pads, m, budget, threads, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, c, *size)), rng.standard_normal((o, c, 3, 3))
    geo = conv_geometry(x.shape, w.shape, 1, pads, 1, 1)
    dy = rng.standard_normal((n, o, *geo.out_size))
    p = plan_of(winograd.transposed(geo), n, o, c, m, budget, threads, np.dtype(dtype).itemsize)
    dx = winograd.input_grad(p, dy.astype(dtype), w.astype(dtype))
    assert dx.shape == x.shape and dx.dtype == dtype
    ref = ops.conv_transpose(dy, w, padding=pads)  # the lowering's transposed conv, float64
    np.testing.assert_allclose(np.vdot(reference_conv(x, w, padding=pads), dy), np.vdot(x, ref), rtol=1e-10)
    assert relative(dx, ref) <= (1e-12 if dtype == np.float64 else FLOAT32_ERROR[m])


@given(cases(), st.sampled_from([np.float64, np.float32]))
@settings(max_examples=40)
def test_weight_grad_is_the_derivative_of_the_definition(case, dtype):
    """<dw, v> == <conv(x, v), dy> for a random direction v: the conv is linear in w."""
    n, c, o, size, pads, m, budget, threads, seed = case
    rng = np.random.default_rng(seed)
    x, v = rng.standard_normal((n, c, *size)), rng.standard_normal((o, c, 3, 3))
    geo = conv_geometry(x.shape, v.shape, 1, pads, 1, 1)
    dy = rng.standard_normal((n, o, *geo.out_size))
    p = plan_of(geo, n, c, o, m, budget, threads, np.dtype(dtype).itemsize)
    dw = winograd.weight_grad(p, x.astype(dtype), dy.astype(dtype))
    assert dw.shape == v.shape and dw.dtype == dtype
    ref = ops.conv_backward(dy, x, v, padding=pads, input_grad=False)[1]  # the lowering, float64
    np.testing.assert_allclose(np.vdot(dw.astype(np.float64), v),
                               np.vdot(reference_conv(x, v, padding=pads), dy),
                               rtol=1e-10 if dtype == np.float64 else 1e-3)
    assert relative(dw, ref) <= (1e-12 if dtype == np.float64 else FLOAT32_ERROR[m])


@pytest.mark.parametrize("x_shape, w_shape, kw, path", [
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), "winograd"),       # ResNet's first stage
    ((8, 64, 14, 14), (64, 64, 3, 3), dict(padding=1), "lowering"),       # 14 is no multiple of 4
    ((1, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), "lowering"),       # 196 tiles: the weights' transform not paid for
    ((8, 32, 56, 56), (64, 32, 3, 3), dict(padding=1), "lowering"),       # too few channels in
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1, stride=2), "lowering"),
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=2, dilation=2), "lowering"),
    ((8, 64, 56, 56), (64, 32, 3, 3), dict(padding=1, groups=2), "lowering"),
    ((8, 64, 56, 56), (64, 64, 5, 5), dict(padding=2), "lowering"),
])
def test_the_planner_picks_winograd_where_the_tuning_says(x_shape, w_shape, kw, path):
    geo = conv_geometry(x_shape, w_shape, kw.get("stride", 1), kw["padding"], kw.get("dilation", 1),
                        kw.get("groups", 1))
    for direction in ("forward", "input_grad", "weight_grad"):
        assert planner.plan(geo, w_shape, x_shape[0], 4, direction).path == path


def test_input_grad_of_padding_past_two_is_lowered():
    """Padding 3 would crop dy in the transposed conv, which tiles do not do."""
    geo = conv_geometry((8, 64, 52, 52), (64, 64, 3, 3), 1, 3, 1, 1)
    with tuning.override(winograd_tiles=(2, 4), winograd_min_tiles=0):
        assert planner.plan(geo, (64, 64, 3, 3), 8, 4, "forward").path == "winograd"
        assert planner.plan(geo, (64, 64, 3, 3), 8, 4, "input_grad").path == "lowering"
        assert planner.plan(geo, (64, 64, 3, 3), 8, 4, "weight_grad").path == "winograd"


@requires_torch
@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(3, 12), st.integers(3, 12),
       st.integers(0, 2), st.integers(0, 2**31))
@settings(max_examples=30)
def test_public_ops_through_the_planner_match_pytorch(n, c, o, h, w_, pad, seed):
    """ops.conv and ops.conv_backward with Winograd forced on every size, float64, against PyTorch."""
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((n, c, h, w_)), rng.standard_normal((o, c, 3, 3)), rng.standard_normal(o)
    assume(min(h, w_) + 2 * pad >= 3)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.conv2d(xt, wt, bt, padding=pad)
    dy = rng.standard_normal(yt.shape)
    yt.backward(torch.tensor(dy))
    with tuning.override(winograd_tiles=(2, 4), winograd_min_tiles=0, winograd_min_channels=1,
                         chunk_bytes=1 << 12, min_chunk_bytes=1, threads=2, parallel_bytes=0):
        y = ops.conv(x, w, b, padding=pad)
        dx, dw, _ = ops.conv_backward(dy, x, w, padding=pad)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_the_same_input_gives_the_same_bytes_threaded_or_not():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 8, 16, 16)).astype(np.float32), rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    geo = conv_geometry(x.shape, w.shape, 1, 1, 1, 1)
    one = winograd.forward(plan_of(geo, 4, 8, 8, 4, 1 << 12, 1, 4), x, w)
    two = winograd.forward(plan_of(geo, 4, 8, 8, 4, 1 << 12, 2, 4), x, w)
    assert one.tobytes() == two.tobytes()


@requires_torch
def test_resnet18_with_winograd_everywhere_stays_within_the_model_tolerance():
    """Every 3x3 stride-1 conv of the converted model on Winograd (F(4x4) where 4 divides the
    output, else F(2x2)), float32, eval mode: within max|d|/max|ref| <= 1e-4 of PyTorch."""
    import convscope as cs
    from tests.bridges.torchvision_models import build

    torch.manual_seed(0)
    tm = build("resnet18")  # VGG-11 too (measured 2.0e-6 at 224x224), but its build takes seconds
    model = cs.from_torch(tm).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 56, 56)).astype(np.float32)
    with torch.no_grad():
        ref = tm(torch.from_numpy(x)).numpy()
    calls = []
    choose = winograd.choose

    def counted(*args):
        calls.append(choose(*args))
        return calls[-1]

    with tuning.override(winograd_tiles=(2, 4), winograd_min_tiles=0, winograd_min_tiles_cached=0,
                         winograd_min_channels=1), \
            pytest.MonkeyPatch.context() as mp, cs.no_grad():
        mp.setattr(winograd, "choose", counted)
        got = np.asarray(model(cs.Tensor(x)).data)
    assert 4 in calls and 2 in calls  # both variants ran
    assert relative(got, ref) <= 1e-4
