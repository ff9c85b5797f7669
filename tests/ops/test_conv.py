"""conv / conv_transpose and their gradients against PyTorch, the reference convolution, finite
differences and the adjoint."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from convscope import ops
from tests.ops.oracle import (CONV, CONV_T, assert_close, check_op, random_arrays, requires_torch, tiny_chunks, torch,
                              torch_pads)

DTYPES = [np.float64, np.float32]


def reference_pads(padding, in_size, kernel, stride, dilation):
    """The padding rules as the spec states them, restated independently of convscope."""
    n = len(in_size)
    if padding == "valid":
        return [(0, 0)] * n
    if padding == "full":
        return [(d * (k - 1), d * (k - 1)) for k, d in zip(kernel, dilation)]
    if padding == "same":
        pads = []
        for i, k, s, d in zip(in_size, kernel, stride, dilation):
            total = max((int(np.ceil(i / s)) - 1) * s + d * (k - 1) + 1 - i, 0)
            pads.append((total // 2, total - total // 2))
        return pads
    if isinstance(padding, int):
        return [(padding, padding)] * n
    return [p if isinstance(p, tuple) else (p, p) for p in padding]


def torch_conv(case):
    """PyTorch oracle for a case: explicit F.pad for strings and (lo, hi) pairs, else torch's padding."""
    n, pads, padding = case["n"], case["pads"], case["padding"]
    direct = isinstance(padding, int) or (isinstance(padding, tuple) and all(isinstance(p, int) for p in padding))

    def f(x, w, b=None):
        if case["flip"]:
            w = torch.flip(w, dims=tuple(range(2, 2 + n)))
        if not direct:
            x = torch.nn.functional.pad(x, torch_pads(pads))
        return CONV[n](x, w, b, stride=case["stride"], padding=padding if direct else 0,
                       dilation=case["dilation"], groups=case["groups"])
    return f


def reference_conv(case):
    """The definition, with the kernel flipped for true convolution."""
    kw = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}

    def f(x, w, b=None):
        return ops.reference_conv(x, ops.flip_kernel(w) if case["flip"] else w, b, **kw)
    return f


def ours_conv(case):
    kw = {k: case[k] for k in ("stride", "padding", "dilation", "groups", "flip")}

    def forward(x, w, b=None):
        return ops.conv(x, w, b, **kw)

    def grad(dy, x, w, b=None):
        dx, dw, db = ops.conv_backward(dy, x, w, **kw)
        return (dx, dw) if b is None else (dx, dw, db)
    return forward, grad


@st.composite
def conv_cases(draw):
    n = draw(st.integers(1, 3))
    if draw(st.integers(0, 3)) == 0:  # depthwise, with a channel multiplier
        groups, cg, og = draw(st.integers(2, 4)), 1, draw(st.integers(1, 2))
    else:
        groups, cg, og = draw(st.sampled_from([1, 1, 2, 3])), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    axis = st.integers(1, 3 if n == 3 else 4)
    kernel = tuple(draw(axis) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    in_size = tuple(draw(st.integers(1, 6 if n == 3 else 10)) for _ in range(n))
    mode = draw(st.sampled_from(["valid", "same", "full", "int", "tuple", "pairs"]))
    padding = {"int": lambda: draw(st.integers(0, 2)),
               "tuple": lambda: tuple(draw(st.integers(0, 2)) for _ in range(n)),
               "pairs": lambda: tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(n))
               }.get(mode, lambda: mode)()
    pads = reference_pads(padding, in_size, kernel, stride, dilation)
    assume(all(i + lo + hi >= d * (k - 1) + 1 for i, (lo, hi), k, d in zip(in_size, pads, kernel, dilation)))
    return dict(n=n, batch=draw(st.integers(1, 3)), c=cg * groups, o=og * groups, groups=groups, kernel=kernel,
                stride=stride, dilation=dilation, padding=padding, pads=pads, in_size=in_size,
                bias=draw(st.booleans()), flip=draw(st.integers(0, 4)) == 0, tiny=draw(st.booleans()))


def run_conv_case(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(case["batch"], case["c"], *case["in_size"]), (case["o"], case["c"] // case["groups"], *case["kernel"])]
    if case["bias"]:
        shapes.append((case["o"],))
    forward, grad = ours_conv(case)
    with tiny_chunks(case.get("tiny", False)):
        return check_op(forward, torch_conv(case), random_arrays(rng, *shapes), grad, dtype, seed,
                        reference=reference_conv(case))


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases())
def test_conv_matches_torch_random_geometry(case, dtype):
    run_conv_case(case, dtype)


def grid_case(**kw):
    case = dict(n=2, batch=2, c=3, o=4, groups=1, kernel=3, stride=1, dilation=1, padding=0,
                in_size=(6, 7), bias=True, flip=False)
    case.update(kw)
    n = len(case["in_size"])
    for key in ("kernel", "stride", "dilation"):
        case[key] = tuple(case[key]) if isinstance(case[key], (tuple, list)) else (case[key],) * n
    case["n"] = n
    case["pads"] = reference_pads(case["padding"], case["in_size"], case["kernel"], case["stride"], case["dilation"])
    return case


EDGE_CASES = {
    "1x1 input, 1x1 kernel": grid_case(in_size=(1, 1), kernel=1),
    "kernel equals input": grid_case(in_size=(5, 4), kernel=(5, 4)),
    "stride larger than kernel": grid_case(in_size=(9, 9), kernel=2, stride=4),
    "padding on one side only": grid_case(padding=((0, 2), (1, 0))),
    "pointwise": grid_case(kernel=1, groups=1),
    "pointwise grouped strided": grid_case(c=4, o=6, groups=2, kernel=1, stride=2),
    "depthwise with multiplier": grid_case(c=3, o=6, groups=3, stride=2, padding=1),
    # stride 1: the input gradient is a depthwise conv of dy; a pad beyond d(k-1) scatters instead
    "depthwise stride 1, multiplier, dilated, asymmetric": grid_case(c=3, o=6, groups=3, dilation=(2, 1),
                                                                    padding=((3, 1), (0, 2))),
    "depthwise, pad beyond the kernel": grid_case(c=3, o=3, groups=3, kernel=2, padding=((2, 0), (0, 3))),
    "same, even kernel": grid_case(kernel=(2, 4), padding="same"),
    "same, strided": grid_case(in_size=(7, 8), kernel=3, stride=(2, 3), padding="same"),
    "full, dilated": grid_case(kernel=2, dilation=(2, 3), padding="full"),
    "true convolution": grid_case(flip=True, padding=1, dilation=2),
    "1-D long": grid_case(in_size=(50,), kernel=9, padding=4, c=4, o=5),
    "rows of 2 KB (GEMM row slack)": grid_case(in_size=(512,), kernel=5, padding=2, c=2, o=3),
    "stride 1, same width, dilated, asymmetric": grid_case(kernel=(3, 4), dilation=(2, 1), padding=((1, 3), (2, 1))),
    # strided kernels with at least 4 taps per stride phase copy their windows from the phases
    "7x7/2 stem-like": grid_case(in_size=(13, 11), kernel=7, stride=2, padding=3),
    "5x4 kernel, strides (2, 1), dilated unstrided axis": grid_case(in_size=(10, 12), kernel=(5, 4), stride=(2, 1),
                                                                   dilation=(1, 2), padding=((2, 1), (0, 3))),
    "3-D same": grid_case(in_size=(4, 5, 6), kernel=3, padding=1, c=2, o=3),
    "3-D grouped": grid_case(in_size=(5, 4, 6), kernel=(3, 2, 3), c=4, o=4, groups=2, stride=(1, 2, 1), padding=1),
}


@pytest.mark.parametrize("tiny", [False, True], ids=["whole", "chunked"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_conv_edge_geometries(name, dtype, tiny):
    run_conv_case(dict(EDGE_CASES[name], tiny=tiny), dtype)


@requires_torch
def test_same_padding_stride_one_equals_torch_same():
    rng = np.random.default_rng(1)
    x, w = random_arrays(rng, (2, 3, 7, 6), (4, 3, 4, 3))
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding="same", dilation=(1, 2))
    np.testing.assert_allclose(ops.conv(x, w, padding="same", dilation=(1, 2)), ref.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("i,k,s,d", [(7, 3, 2, 1), (8, 4, 3, 1), (5, 2, 2, 2), (1, 3, 4, 1)])
def test_same_padding_output_is_ceil_of_input_over_stride(i, k, s, d):
    y = ops.conv(np.ones((1, 1, i)), np.ones((1, 1, k)), padding="same", stride=s, dilation=d)
    assert y.shape[-1] == -(-i // s)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    x, w, b = random_arrays(rng, (2, 4, 5, 6), (6, 2, 3, 2), (6,))
    kw = dict(stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2), groups=2)
    dy = rng.standard_normal(ops.conv(x, w, b, **kw).shape)
    dx, dw, db = ops.conv_backward(dy, x, w, **kw)

    def loss(xx, ww, bb):
        return float(np.sum(ops.conv(xx, ww, bb, **kw) * dy))

    for arr, grad, name in ((x, dx, "x"), (w, dw, "w"), (b, db, "b")):
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            hi, lo = arr.copy(), arr.copy()
            hi[idx] += 1e-6
            lo[idx] -= 1e-6
            args = {"x": (x, w, b), "w": (x, w, b), "b": (x, w, b)}[name]
            pick = "xwb".index(name)
            a_hi, a_lo = list(args), list(args)
            a_hi[pick], a_lo[pick] = hi, lo
            numeric[idx] = (loss(*a_hi) - loss(*a_lo)) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7, err_msg=name)


# ------------------------------------------------------------------------------ transposed


@st.composite
def transposed_cases(draw):
    n = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2]))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3 if n == 3 else 4)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(n))
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    in_size = tuple(draw(st.integers(1, 5 if n == 3 else 8)) for _ in range(n))
    assume(all((i - 1) * s - 2 * p + d * (k - 1) + q + 1 > 0
               for i, s, p, d, k, q in zip(in_size, stride, padding, dilation, kernel, out_pad)))
    return dict(n=n, batch=draw(st.integers(1, 2)), cin=cin, cout=cout, groups=groups, kernel=kernel, stride=stride,
                dilation=dilation, padding=padding, output_padding=out_pad, in_size=in_size,
                bias=draw(st.booleans()), tiny=draw(st.booleans()))


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=transposed_cases())
def test_conv_transpose_matches_torch(case, dtype):
    kw = {k: case[k] for k in ("stride", "padding", "output_padding", "dilation", "groups")}
    rng = np.random.default_rng(3)
    shapes = [(case["batch"], case["cin"], *case["in_size"]), (case["cin"], case["cout"] // case["groups"], *case["kernel"])]
    if case["bias"]:
        shapes.append((case["cout"],))

    def grad(dout, y, w, b=None):
        dy, dw, db = ops.conv_transpose_backward(dout, y, w, **kw)
        return (dy, dw) if b is None else (dy, dw, db)

    with tiny_chunks(case["tiny"]):
        check_op(lambda y, w, b=None: ops.conv_transpose(y, w, b, **kw),
                 lambda y, w, b=None: CONV_T[case["n"]](y, w, b, **kw),
                 random_arrays(rng, *shapes), grad, dtype,
                 reference=lambda y, w, b=None: ops.reference_conv_transpose(y, w, b, **kw))


@given(case=conv_cases())
def test_conv_transpose_is_adjoint_of_conv(case):
    """<conv(x), y> == <x, conv_transpose(y)> for every geometry, asymmetric padding included."""
    rng = np.random.default_rng(4)
    assume(not case["flip"])
    x, w = random_arrays(rng, (case["batch"], case["c"], *case["in_size"]),
                         (case["o"], case["c"] // case["groups"], *case["kernel"]))
    kw = dict(stride=case["stride"], dilation=case["dilation"], groups=case["groups"])
    y_conv = ops.conv(x, w, padding=case["padding"], **kw)
    y = rng.standard_normal(y_conv.shape)
    pads = case["pads"]
    # output_padding restores the input cells that the last stride step of conv never reached
    out_pad = tuple((i + lo + hi - d * (k - 1) - 1) % s for i, (lo, hi), k, s, d in
                    zip(case["in_size"], pads, case["kernel"], case["stride"], case["dilation"]))
    assume(all(q < s or q < d for q, s, d in zip(out_pad, case["stride"], case["dilation"])))
    with tiny_chunks(case["tiny"]):
        back = ops.conv_transpose(y, w, padding=tuple(pads), output_padding=out_pad, **kw)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(y_conv, y), np.vdot(x, back), rtol=1e-10, atol=1e-10)


def test_results_keep_input_dtype_and_accept_views():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 8, 9)).astype(np.float32).transpose(0, 1, 3, 2)  # non-contiguous
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)[:, :, ::-1]  # a reversed view
    y = ops.conv(x, w, padding=1)
    assert y.dtype == np.float32
    assert_close(y, ops.reference_conv(x, w, padding=1), np.float32, "views")
    dx, dw, _ = ops.conv_backward(np.ones_like(y), x, w, padding=1)
    assert dx.dtype == dw.dtype == np.float32


def test_threaded_lowering_is_used_and_matches_torch(monkeypatch):
    """The image groups of a big conv run on two threads; results are unchanged."""
    from convscope.ops.engine import parallel, tuning

    calls = []
    real = parallel.run_blocks
    monkeypatch.setattr(parallel, "run_blocks", lambda *a, **k: calls.append(1) or real(*a, **k))
    with tuning.override(threads=2):
        run_conv_case(dict(grid_case(batch=4, c=6, o=5, in_size=(9, 10), padding=1, stride=(1, 2)), tiny=True),
                      np.float64)
    assert len(calls) == 3  # forward, input gradient, weight gradient
