"""Receptive fields against published tables, and input regions checked by gradients."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import convscope as cs
from convscope import zoo

nn = cs.nn

# Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019,
# Table 1 (TF-slim end points at 224x224): receptive field r, effective stride S, effective padding P.
PUBLISHED = {"alexnet_v2": (195, 32, 64), "vgg_16": (212, 32, 90), "resnet_v1_50": (483, 32, 239),
             "mobilenet_v1": (315, 32, 126)}


def conv(k, s=1, p=0, **kw):
    return nn.Conv2d(1, 1, k, stride=s, padding=p, **kw)


def slim_alexnet_v2():  # conv1 'VALID', the rest 'SAME'; receptive fields do not depend on channel counts
    return nn.Sequential(conv(11, 4), nn.MaxPool2d(3, 2), conv(5, p="same"), nn.MaxPool2d(3, 2), conv(3, p="same"),
                         conv(3, p="same"), conv(3, p="same"), nn.MaxPool2d(3, 2))


def slim_resnet_v1_50():  # stride on the LAST unit of blocks 1-3 (in its 3x3); conv2d_same pads explicitly
    def unit(stride):
        body = nn.Sequential(conv(1), nn.ReLU(), conv(3, stride, 1), nn.ReLU(), conv(1))
        return nn.Residual(body, nn.MaxPool2d(1, stride=stride) if stride > 1 else None)
    layers = [conv(7, 2, 3), nn.MaxPool2d(3, 2, padding=((0, 1), (0, 1)))]  # max_pool 'SAME' on 112: (0, 1)
    for n, stride in [(3, 2), (4, 2), (6, 2), (3, 1)]:
        layers += [unit(stride if i == n - 1 else 1) for i in range(n)]
    return nn.Sequential(*layers)


def slim_mobilenet_v1():
    layers = [conv(3, 2, "same")]
    for s in [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]:
        layers += [conv(3, s, "same"), conv(1)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("name,build", [("alexnet_v2", slim_alexnet_v2), ("resnet_v1_50", slim_resnet_v1_50),
                                        ("mobilenet_v1", slim_mobilenet_v1)])
def test_published_receptive_fields(name, build):
    f = cs.receptive_field(build(), (1, 224, 224))
    assert (f.size, f.jump, f.effective_padding) == tuple((v, v) for v in PUBLISHED[name])
    assert f.notes == ()


def test_vgg16_zoo_end_points():
    s = cs.summary(zoo.load("vgg16"), (3, 224, 224))
    rows = {r.name: r for r in s.rows}
    pool5 = rows["pool5"]
    assert (pool5.rf_size, pool5.rf_jump, pool5.rf_start) == ((212, 212), (32, 32), (-90, -90))  # Distill table
    conv53 = rows["conv5_3"]
    assert (conv53.rf_size, conv53.rf_jump, conv53.rf_start) == ((196, 196), (16, 16), (-90, -90))


def positive(model):
    """Positive weights: every path adds a positive amount, so influence shows as a non-zero gradient."""
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.data[...] = rng.uniform(0.5, 1.0, p.data.shape)
    return model


def check_region(model, input_shape, index, layer=None, tight=True):
    model = positive(model)
    box = cs.receptive_region(model, input_shape, index, layer)
    x = np.random.default_rng(1).uniform(0.5, 1.0, input_shape).astype(np.float32)
    g = cs.saliency(model, x, (0, *index), layer)
    hit = np.abs(g).sum(axis=0) > 0
    inside = np.zeros_like(hit)
    inside[box] = True
    assert not (hit & ~inside).any(), f"gradient outside the box {box}"
    if tight:  # the box is the bounding box of the cells that influence the unit
        nz = np.nonzero(hit)
        assert box == tuple(slice(int(a.min()), int(a.max()) + 1) for a in nz)
    return box


def test_region_1d_stride_dilation_padding_and_pooling():
    model = nn.Sequential(nn.Conv1d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool1d(2),
                          nn.Conv1d(2, 2, 3, dilation=2, padding=2))
    for i in (0, 3, 5):
        check_region(model, (1, 24), (i,))
    # unit 3 reads pooled 1, 3, 5 -> conv outputs 2..11 -> input cells 2*2-1 .. 11*2-1+2
    assert check_region(model, (1, 24), (3,)) == (slice(3, 24),)


def test_region_2d_residual_and_named_layer():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Residual(nn.Sequential(
        nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1))), nn.AvgPool2d(2),
        nn.Conv2d(2, 2, 3, stride=2))
    # conv s2 unit (1, 2) reads pooled rows 2..4, cols 4..6 = full-size rows 4..9, cols 8..13; three 3x3 convs
    # widen by 3 on each side, clipped at 15
    assert check_region(model, (1, 16, 16), (1, 2)) == (slice(1, 13), slice(5, 16))
    check_region(model, (1, 16, 16), (0, 7), layer="2")


def test_region_through_a_transposed_conv():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1))
    for index in [(0, 0), (3, 4), (6, 5)]:
        check_region(model, (1, 8, 8), index)


def test_region_max_pool_contains_the_winners():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Conv2d(2, 1, 2))
    check_region(model, (1, 12, 12), (1, 1), tight=False)


@given(layers=st.lists(st.tuples(st.sampled_from(["conv", "avg"]), st.integers(1, 4), st.integers(1, 3),
                                 st.integers(0, 2), st.integers(1, 2)), min_size=1, max_size=4),
       size=st.integers(8, 30), where=st.floats(0, 1))
def test_region_is_the_bounding_box_of_the_gradient_on_random_chains(layers, size, where):
    modules, n = [], size
    for kind, k, s, p, d in layers:
        if kind == "avg":
            p, d = min(p, k // 2), 1
        span = d * (k - 1) + 1
        assume(n + 2 * p >= span)
        modules.append(nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d) if kind == "conv"
                       else nn.AvgPool1d(k, stride=s, padding=p))
        n = (n + 2 * p - span) // s + 1
    index = min(int(where * n), n - 1)
    model = nn.Sequential(*modules)
    # zero-padding-only windows have no input cell: skip units whose whole field lies in padding
    try:
        cs.receptive_region(model, (1, size), (index,))
    except ValueError:
        assume(False)
    # tight where the needed cells of every layer are contiguous: no dilation, and no stride longer than its
    # window (which leaves gaps; with padding before them, the box is a bound, not the bounding box)
    tight = all((m.dilation == (1,) if m.__class__.__name__ == "Conv1d" else True) and m.stride[0] <= m.kernel_size[0]
                for m in modules)
    check_region(model, (1, size), (index,), tight=tight)


def test_merges_that_disagree_are_reported():
    body = nn.Conv2d(1, 1, 2, stride=2)  # centre half a cell off the shortcut's
    model = nn.Residual(body, nn.Conv2d(1, 1, 1, stride=2))
    s = cs.summary(model, (1, 8, 8))
    assert any("paths disagree in centre" in n for r in s.rows for n in r.notes)


def test_saliency_equals_the_weights_of_a_linear_map():
    layer = nn.Conv2d(1, 1, 3)
    g = cs.saliency(layer, np.random.default_rng(2).standard_normal((1, 5, 5)).astype(np.float32), (0, 1, 2))
    expected = np.zeros((1, 5, 5), np.float32)
    expected[0, 1:4, 2:5] = layer.weight.data[0, 0]
    np.testing.assert_allclose(g, expected)
