"""The pieces of the im2col lowering: scratch GEMM matrices, the flat windows of stride-1 convs and
the phase windows of strided ones."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from convscope.ops.engine import flat_windows, phase_windows, tuning
from convscope.ops.engine.chunks import row_stride, scratch_matrix
from convscope.ops.geometry import conv_geometry


@pytest.mark.parametrize("width, itemsize, expected", [
    (512, 4, 528), (1024, 4, 1040), (256, 8, 264), (500, 4, 500), (196, 4, 196), (256, 4, 256)])
def test_rows_a_multiple_of_2kb_apart_get_slack(width, itemsize, expected):
    assert row_stride(width, itemsize, 64) == expected


def test_scratch_matrix_rows_are_row_stride_apart_and_distinct():
    buf = np.full(3 * 2 * 528, np.nan, np.float32)
    m = scratch_matrix(buf, (3, 2), (4, 128), 64)
    assert m.shape == (3, 2, 4, 128)
    np.copyto(m, np.arange(m.size, dtype=np.float32).reshape(m.shape))
    rows = buf.reshape(6, 528)
    np.testing.assert_array_equal(rows[:, :512], np.arange(m.size, dtype=np.float32).reshape(6, 512))
    assert np.isnan(rows[:, 512:]).all()  # the slack is never written


def test_scratch_matrix_refuses_a_buffer_too_small():
    with pytest.raises(ValueError):
        scratch_matrix(np.empty(100, np.float32), (2,), (64,), 64)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, expected", [
    ((1, 1, 14, 14), (1, 1, 3, 3), 1, 1, True),
    ((1, 1, 14, 14), (1, 1, 3, 3), 1, 0, False),        # rows shrink to 12
    ((1, 1, 14, 14), (1, 1, 3, 1), 1, 0, True),         # only the first axis shrinks
    ((1, 1, 14, 14), (1, 1, 3, 3), 2, 1, False),        # strided
    ((1, 1, 50), (1, 1, 9), 1, 0, True),                # 1-D: no trailing axes
    ((1, 1, 4, 5, 6), (1, 1, 3, 3, 3), 1, "same", True),
])
def test_flat_windows_apply_to_stride_one_convs_that_keep_trailing_sizes(x_shape, w_shape, stride, padding, expected):
    geo = conv_geometry(x_shape, w_shape, stride, padding, 1, 1)
    assert flat_windows.applies(geo) == expected


def expected_windows(x, geo, r0, r1):
    """Windows (n, C, *K, rows, *S[1:]) by plain indexing of np.pad's padded input."""
    xp = np.pad(x, ((0, 0), (0, 0), *geo.pads))
    nsp = len(geo.kernel)
    out = (r1 - r0, *geo.out_size[1:])
    res = np.empty((*x.shape[:2], *geo.kernel, *out))
    for t in np.ndindex(*geo.kernel):
        for o in np.ndindex(*out):
            cell = tuple((oi + (r0 if a == 0 else 0)) + ti * d for a, (oi, ti, d) in enumerate(zip(o, t, geo.dilation)))
            res[(slice(None), slice(None), *t, *o)] = xp[(slice(None), slice(None), *cell)]
    return res


@st.composite
def flat_cases(draw):
    nsp = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    in_size = tuple(draw(st.integers(1, 5)) for _ in range(nsp))
    pads = []
    for a, (k, d) in enumerate(zip(kernel, dilation)):
        total = d * (k - 1) if a else draw(st.integers(0, d * (k - 1) + 2))
        lo = draw(st.integers(0, total))
        pads.append((lo, total - lo))
    assume(in_size[0] + sum(pads[0]) >= dilation[0] * (kernel[0] - 1) + 1)
    geo = conv_geometry((1, 1, *in_size), (1, 1, *kernel),
                        1, tuple(pads), dilation, 1)
    r0 = draw(st.integers(0, geo.out_size[0] - 1))
    r1 = draw(st.integers(r0 + 1, geo.out_size[0]))
    return geo, r0, r1, draw(st.booleans())


@given(case=flat_cases(), images=st.sampled_from([(0, 2), (1, 3), (2, 4), (0, 4), (1, 2)]))
def test_flat_windows_copy_equals_the_padded_windows(case, images):
    """Copying the flat view of images n0:n1 of x and clearing `outside` gives exactly the
    zero-padded windows, whether the source is a copy with NaN margins (first and last images)
    or x's own memory, where the neighbouring images are read."""
    geo, r0, r1, wide = case
    (n0, n1), c = images, 3
    n = n1 - n0
    x = np.random.default_rng(0).uniform(1, 2, (4, c, *geo.in_size))
    buf = np.full(flat_windows.source_items(geo, n, c), np.nan)
    src = flat_windows.source(buf, x, n0, n1, geo)
    nsp = len(geo.kernel)
    order = (1, *range(2, 2 + nsp), 0, *range(2 + nsp, 2 + 2 * nsp)) if wide else tuple(range(2 + 2 * nsp))
    cols = flat_windows.flat_window(src, n, c, geo, r0, r1).transpose(order).copy()
    flat_windows.clear_outside(cols, geo, r0, r1, order)
    np.testing.assert_array_equal(cols, expected_windows(x[n0:n1], geo, r0, r1).transpose(order))


def test_flat_source_is_the_input_itself_where_the_reads_stay_inside_it():
    geo = conv_geometry((4, 2, 5, 5), (1, 2, 3, 3), 1, 1, 1, 1)
    x = np.random.default_rng(0).standard_normal((4, 2, 5, 5))
    buf = np.empty(flat_windows.source_items(geo, 2, 2))
    assert np.shares_memory(flat_windows.source(buf, x, 1, 3, geo), x)  # inner images: no copy
    for n0, n1, images in [(0, 2, x), (2, 4, x), (1, 3, x[:, :, ::-1])]:  # an edge, or not contiguous
        src = flat_windows.source(buf, images, n0, n1, geo)
        assert src is buf
        np.testing.assert_array_equal(flat_windows.image(src, 2, 2, geo), images[n0:n1])


@given(case=flat_cases())
def test_add_windows_is_the_adjoint_of_the_flat_copy(case):
    """<copy of the windows of x, y> == <x, add_windows(y)>: flat col2im is the adjoint of flat im2col."""
    geo, r0, r1, _ = case
    assume(flat_windows.applies(geo, scatter=True))
    n, c = 2, 3
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, *geo.in_size))
    src = np.full(flat_windows.source_items(geo, n, c), np.nan)
    flat_windows.fill_source(src, x, geo)
    win = flat_windows.flat_window(src, n, c, geo, r0, r1).copy()
    flat_windows.clear_outside(win, geo, r0, r1, tuple(range(win.ndim)))
    y = rng.standard_normal(win.shape)
    canvas = np.zeros(flat_windows.source_items(geo, n, c))
    flat_windows.add_windows(canvas, y.copy(), geo, r0)
    np.testing.assert_allclose(np.vdot(win, y), np.vdot(x, flat_windows.image(canvas, n, c, geo)), rtol=1e-12)


def test_add_windows_refuses_runs_that_outgrow_the_image():
    """With 'full' padding an image's output run is longer than its input: one tap would reach
    some cells twice, so the scatter does not apply (the padded canvas is used instead)."""
    geo = conv_geometry((1, 1, 1), (1, 1, 2), 1, "full", 1, 1)
    assert flat_windows.applies(geo) and not flat_windows.applies(geo, scatter=True)


@st.composite
def strided_cases(draw):
    nsp = draw(st.integers(1, 3))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    assume(max(stride) > 1)
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(nsp))
    dilation = tuple(1 if s > 1 else draw(st.integers(1, 2)) for s in stride)
    in_size = tuple(draw(st.integers(1, 8)) for _ in range(nsp))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nsp))
    assume(all(i + lo + hi >= d * (k - 1) + 1 for i, (lo, hi), k, d in zip(in_size, pads, kernel, dilation)))
    geo = conv_geometry((1, 1, *in_size), (1, 1, *kernel), stride, pads, dilation, 1)
    r0 = draw(st.integers(0, geo.out_size[0] - 1))
    return geo, r0, draw(st.integers(r0 + 1, geo.out_size[0])), draw(st.sampled_from([1, 2]))


@given(case=strided_cases())
def test_phase_windows_copy_equals_the_padded_windows(case):
    """The windows copied from the stride phases are exactly the zero-padded strided windows,
    with the phases' buffer reused from a previous chunk of other images."""
    geo, r0, r1, groups = case
    n, c = 2, 4
    rng = np.random.default_rng(0)
    buf = phase_windows.buffer(geo, n, c, np.float64)
    phase_windows.split(buf, rng.uniform(5, 6, (n, c, *geo.in_size)), geo)
    x = rng.uniform(1, 2, (n, c, *geo.in_size))
    planes = phase_windows.split(buf, x, geo)
    dst = np.full((n, groups, c // groups, *geo.kernel, r1 - r0, *geo.out_size[1:]), np.nan)
    phase_windows.copy_windows(dst, planes, geo, r0, groups)
    xp = np.pad(x, ((0, 0), (0, 0), *geo.pads))
    expected = np.empty((n, c, *geo.kernel, r1 - r0, *geo.out_size[1:]))
    for t in np.ndindex(*geo.kernel):
        for o in np.ndindex(r1 - r0, *geo.out_size[1:]):
            cell = tuple((oi + (r0 if a == 0 else 0)) * s + ti * d
                         for a, (oi, ti, s, d) in enumerate(zip(o, t, geo.stride, geo.dilation)))
            expected[(slice(None), slice(None), *t, *o)] = xp[(slice(None), slice(None), *cell)]
    np.testing.assert_array_equal(dst.reshape(expected.shape), expected)


def test_phase_windows_apply_where_each_phase_holds_at_least_4_taps():
    def applies(kernel, stride, dilation=1):
        return phase_windows.applies(conv_geometry((1, 1, 30, 30), (1, 1, *kernel), stride, 0, dilation, 1),
                                     tuning.current().phase_taps)

    assert applies((7, 7), 2) and applies((5, 5), 2) and applies((3, 3), (2, 1))
    assert not applies((3, 3), 2)  # 2.25 taps per phase: the split costs more than it saves
    assert not applies((3, 3), 1)  # no stride: one phase
    assert not applies((7, 7), 2, dilation=(2, 1))  # a dilated strided axis
