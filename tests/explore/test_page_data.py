"""The explore page's data against independent oracles: PyTorch for feature maps and output sizes,
convscope's public receptive_region and saliency for every box and map, the page file itself for
being self-contained."""
import json
import re

import numpy as np
import pytest
import torch

import convscope as cs
from convscope.explore import explore, page_data
from convscope.explore.pack import pack, pack_each, unexact, unpack, unpack_each
from convscope.explore.playground import check_table
from tests.explore.models import branchy, cnn1d, lenet, rules


def _all_units(row, input_shape):
    size = row["output_shape"][1:]
    return [tuple(int(v) for v in idx) for idx in np.ndindex(*size)] if len(size) == len(input_shape) - 1 else []


@pytest.mark.parametrize("make, shape", [(lenet, (1, 8, 8)), (branchy, (1, 13, 13)), (cnn1d, (1, 40))])
def test_every_unit_box_is_receptive_region(make, shape):
    """The page stores boxes per axis (walked on the diagonal); every unit, off the diagonal too,
    must get exactly receptive_region's box, clipping and branch unions included."""
    model = make()
    data = page_data(model, shape, trained=False)
    checked = 0
    for row in data["rows"]:
        if row["boxes"] is None:
            continue
        for unit in _all_units(row, shape):
            want = cs.receptive_region(model, shape, (0, *unit), layer=row["name"])
            got = tuple(slice(row["boxes"][a][i][0], row["boxes"][a][i][1] + 1) for a, i in enumerate(unit))
            assert got == want, (row["name"], unit)
            checked += 1
    assert checked > 100


def test_pack_round_trip_within_one_level():
    x = np.random.default_rng(0).normal(size=(3, 5, 7))
    p = pack(x)
    assert np.abs(unpack(p) - x).max() <= (x.max() - x.min()) / 255 / 2 + 1e-12
    assert np.array_equal(unpack(pack(np.full((2, 2), 3.0))), np.full((2, 2), 3.0))


def test_pack_each_round_trip_within_one_level_of_each_maps_range():
    """Maps of scales 1e-6 to 1e2, a zero one and a constant one: each map's stored range (4 digits,
    rounded outward) holds all its cells, and each cell comes back within half a level of it."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 5, 6)) * np.logspace(-6, 2, 40)[:, None, None]
    a[3], a[4] = 0.0, 2.5
    p = pack_each(a)
    lo, hi = np.asarray(p["lo"]), np.asarray(p["hi"])
    flat = a.reshape(len(a), -1)
    assert np.all(lo <= flat.min(1)) and np.all(hi >= flat.max(1))
    assert np.all(np.abs(unpack_each(p) - a).reshape(len(a), -1).max(1) <= (hi - lo) / 510 + 1e-15)


def precomputed(make_page):
    """A page written as for a model too large for the page to run: saliency precomputed in Python."""
    from convscope.explore import program

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(program, "MAX_MACS", 0)
        return make_page()


@pytest.fixture(scope="module")
def lenet_page():
    model = lenet()
    return model, precomputed(lambda: page_data(model, (1, 8, 8), trained=True, sample=7))


def test_feature_maps_match_pytorch(lenet_page):
    """conv1's maps and the prediction, recomputed with PyTorch from the same weights and sample."""
    model, data = lenet_page
    act = data["activations"]
    x = cs.data.digits()[2][7]
    assert np.allclose(unpack(act["input"]), x, atol=1 / 255)
    conv1 = model.layer("conv1")
    want = torch.nn.functional.conv2d(torch.tensor(x[None]), torch.tensor(conv1.weight.data), torch.tensor(conv1.bias.data),
                                      padding=1)[0].numpy()
    maps = act["layers"]["conv1"]["maps"]
    assert np.abs(unpack(maps) - want).max() <= (maps["hi"] - maps["lo"]) / 255
    net = cs.to_torch(model).eval()
    with torch.no_grad():
        probs = torch.softmax(net(torch.tensor(x[None])), 1)[0].numpy()
    assert np.allclose(act["prediction"]["probs"], probs, atol=1e-5)
    assert act["label"] == int(cs.data.digits()[3][7])


def _saliency_of(layer_data, channel, pos):
    """The page's map of unit (channel, *pos): map k is channel k // positions at position k % positions."""
    sal = layer_data["saliency"]
    k = channel * len(sal["positions"]) + sal["positions"].index(",".join(map(str, pos)))
    maps = sal["maps"]
    return unpack_each(maps)[k], (maps["hi"][k] - maps["lo"][k]) / 255


def test_saliency_maps_are_cs_saliency(lenet_page):
    """Every channel shown has its own maps, each cs.saliency of that unit (one backward per unit)."""
    model, data = lenet_page
    x = cs.data.digits()[2][7]
    layer = data["activations"]["layers"]["conv2"]
    assert layer["saliency"]["channels"] == 16 and len(layer["saliency"]["positions"]) == 16  # every unit of a 4x4 map
    for channel, pos in ((0, (0, 0)), (0, (3, 1)), (5, (2, 3)), (15, (1, 1))):
        got, tol = _saliency_of(layer, channel, pos)
        want = cs.saliency(model, x, (channel, *pos), layer="conv2")[0]
        assert np.abs(got - want).max() <= tol + 1e-7, (channel, pos)
    cls = data["activations"]["class_saliency"]
    assert len(cls) == 10
    assert np.abs(unpack(cls["3"]) - cs.saliency(model, x, (3,))[0]).max() <= (cls["3"]["hi"] - cls["3"]["lo"]) / 255


def test_one_dimensional_saliency_per_channel():
    """The 1-D page once showed channel 0's map for every channel: each channel's map is its own."""
    model = cnn1d()
    data = precomputed(lambda: page_data(model, (1, 40), trained=True, sample=3))
    x = cs.data.mnist1d()[2][3]
    layer = data["activations"]["layers"]["0"]
    maps = [_saliency_of(layer, c, (9,)) for c in (0, 7, 12)]
    for c, (got, tol) in zip((0, 7, 12), maps):
        assert np.abs(got - cs.saliency(model, x, (c, 9), layer="0")[0]).max() <= tol + 1e-7
    assert not np.allclose(maps[0][0], maps[1][0])


@pytest.mark.parametrize("make", [lenet, cnn1d, rules])
def test_unit_rules_redo_every_layer_in_pytorch(make):
    """What the page's arithmetic reads (each layer's input, weights, bias and rule) gives the layer's
    output again when PyTorch computes it: the rule's padding, stride, dilation and groups are right."""
    import torch.nn.functional as F

    model = make()
    shape = tuple(model.input_shape) if getattr(model, "input_shape", None) else (1, 8, 8)
    units = page_data(model, shape, trained=True, sample=3)["activations"]["units"]
    arrays = [torch.tensor(unexact(a).copy()) for a in units["arrays"]]
    assert len(units["layers"]) >= 4
    for name, e in units["layers"].items():
        r, x, y = e["rule"], arrays[e["input"]][None], arrays[e["output"]]
        n = x.ndim - 2
        if r["op"] == "linear":
            got = x.flatten(1) @ arrays[e["weight"]].T + arrays[e["bias"]]
        else:
            pads = [p for lo_hi in reversed(r["pads"]) for p in lo_hi]
            kw = dict(stride=r["stride"])
            if r["op"] == "conv":
                conv = getattr(F, f"conv{n}d")
                got = conv(F.pad(x, pads), arrays[e["weight"]], None if e["bias"] is None else arrays[e["bias"]],
                           dilation=r["dilation"], groups=r["groups"], **kw)
            elif r["op"] == "max":
                got = getattr(F, f"max_pool{n}d")(F.pad(x, pads, value=-float("inf")), r["kernel"],
                                                  dilation=r["dilation"], **kw)
            else:
                got = getattr(F, f"avg_pool{n}d")(F.pad(x, pads), r["kernel"], **kw)
        assert torch.allclose(got[0].reshape(y.shape), y, atol=1e-5), name
        if "after" in e:
            act = {"ReLU": torch.relu, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid,
                   "LeakyReLU": lambda t: F.leaky_relu(t, e["after"]["negative_slope"])}[e["after"]["kind"]]
            assert torch.allclose(act(y), arrays[e["after"]["output"]], atol=1e-6), name


def test_random_weights_show_analysis_only():
    data = page_data("lenet5")
    assert data["activations"] is None and not data["trained"]
    assert "random weights" in data["status"]
    with pytest.raises(ValueError, match="--sample shows what trained weights compute; this model's are random"):
        page_data("lenet5", sample=3)  # an input that could not be shown is refused, not ignored
    # LeNet-5's classic count: C1 156, C3 2,416, C5 48,120, F6 10,164, output 850
    assert data["totals"]["params"] == 156 + 2416 + 48120 + 10164 + 850


def test_a_model_that_cannot_run_keeps_the_analysis(monkeypatch):
    from convscope.explore import activations

    def broken(model, x):
        raise RuntimeError("no kernel for this op")
    monkeypatch.setattr(activations, "forward", broken)
    data = page_data(lenet(), (1, 8, 8), trained=True)
    assert data["activations"] is None
    assert "could not run" in data["status"] and "no kernel for this op" in data["status"]
    assert any(r["boxes"] for r in data["rows"])


def test_no_matching_data_set_keeps_the_analysis():
    from tests.explore.models import conv3d

    data = page_data(conv3d(), (1, 4, 4, 4), trained=True)
    assert data["activations"] is None and "No bundled data set has 1x4x4x4 samples" in data["status"]
    assert [len(r["boxes"]) for r in data["rows"] if r["boxes"]] == [3, 3, 3]   # per spatial axis


def test_image_is_resized_grey_and_scaled_like_the_digits(tmp_path):
    from PIL import Image

    img = np.full((40, 40, 3), 255, np.uint8)   # a dark stroke on white paper, in colour
    img[4:36, 15:25] = 0
    Image.fromarray(img).save(tmp_path / "one.png")
    data = page_data(lenet(), (1, 8, 8), trained=True, image=tmp_path / "one.png")
    x = unpack(data["activations"]["input"])
    assert x.shape == (1, 8, 8) and x.min() >= 0 and x.max() <= 1
    assert x[0, :, 3:5].mean() > 0.5 > x[0, :, :2].mean()   # inverted: ink bright on dark, as in training
    assert "inverted" in data["activations"]["input_note"]


@pytest.mark.parametrize("kwargs, message", [
    ({"sample": 9999}, "--sample 9999 is not a test sample of digits"),
    ({"sample": 0, "dataset": "translated_digits"}, "translated_digits samples are 1x16x16 but the model takes 1x8x8"),
])
def test_bad_input_choices_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        page_data(lenet(), (1, 8, 8), trained=True, **kwargs)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_check_table_output_sizes_agree_with_pytorch():
    """The table the page replays is convscope's; its valid rows must also be PyTorch's shapes."""
    compared = 0
    for row in check_table(240):
        g, a = row["geometry"], row["answer"]
        if "error" in a or (g["padding"] == "same" and g["stride"] > 1):
            continue  # PyTorch has no 'same' for strided convolutions
        pad = g["dilation"] * (g["kernel"] - 1) if g["padding"] == "full" else g["padding"]
        pad = 0 if pad == "valid" else pad
        kw = dict(stride=g["stride"], dilation=g["dilation"], groups=g["groups"], padding=pad)
        dims = g["dims"]
        if g["transposed"]:
            layer = getattr(torch.nn, f"ConvTranspose{dims}d")(g["in_channels"], g["out_channels"], g["kernel"],
                                                               output_padding=g["output_padding"], **kw)
        else:
            layer = getattr(torch.nn, f"Conv{dims}d")(g["in_channels"], g["out_channels"], g["kernel"], **kw)
        out = layer(torch.zeros(1, g["in_channels"], *g["size"]))
        assert list(out.shape[1:]) == a["output_shape"], g
        assert sum(p.numel() for p in layer.parameters()) == a["params"], g
        compared += 1
    assert compared > 100


def test_page_is_one_self_contained_file(tmp_path):
    path = explore(lenet(), (1, 8, 8), out=tmp_path / "e.html", trained=False)
    text = path.read_text()
    assert "<script src" not in text and "<link" not in text and "http://" not in text.replace(
        "http://www.w3.org/2000/svg", "")
    payload = re.search(r'<script type="application/json" id="explore-data">(.*?)</script>', text, re.S).group(1)
    data = json.loads(payload)
    assert data["input_shape"] == [1, 8, 8] and len(data["checks"]) == 240


def test_cli_writes_the_page(tmp_path, capsys):
    from convscope.cli import main

    assert main(["explore", "lenet5", "-o", str(tmp_path / "p.html")]) == 0
    assert (tmp_path / "p.html").exists() and "wrote" in capsys.readouterr().out
    assert main(["explore", "lenet5", "--input", "1x4x4", "-o", str(tmp_path / "q.html")]) == 2
    assert "kernel 5 (dilated 5) > padded input 4" in capsys.readouterr().err


def test_torch_and_onnx_specs_run_with_their_weights(tmp_path):
    """Models named the ways `summary` accepts: a torch: factory and an ONNX file keep their weights,
    so the page shows activations; both agree with PyTorch on the prediction."""
    from tests.explore.models import torch_net

    x = cs.data.digits()[2][0]
    with torch.no_grad():
        want = torch.softmax(torch_net()(torch.tensor(x[None])), 1)[0].numpy()
    torch_page = page_data("torch:tests.explore.models:torch_net", (1, 8, 8))
    cs.to_onnx(cs.from_torch(torch_net()), (1, 8, 8), tmp_path / "net.onnx")
    onnx_page = page_data(str(tmp_path / "net.onnx"), (1, 8, 8))
    for data in (torch_page, onnx_page):
        assert data["trained"] and data["activations"] is not None
        assert np.allclose(data["activations"]["prediction"]["probs"], want, atol=1e-5)
        assert any(r["boxes"] for r in data["rows"])
