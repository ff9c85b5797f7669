"""The explore page in a real browser (headless chromium): the playground's displayed sizes against
cs.ops.output_size / transposed_output_size and the layers' own errors, the drawn windows and matrix
C against conv_matrix, clicked units' boxes against cs.receptive_region, no console errors, and a
screenshot that is not blank."""
import os
import shutil

import numpy as np
import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

import convscope as cs
from tests.explore.pages import click_cell, drawn_box, open_page, select_layer, spatial_rows


@pytest.fixture(autouse=True)
def no_console_errors(browser):
    browser.console_errors()  # drop what earlier tests left
    yield
    assert browser.console_errors() == []


# ------------------------------------------------------------------------------ the playground

def _type(d, element_id, value):
    from selenium.webdriver.common.keys import Keys

    # select what is there and type over it, in one round trip (NULL releases the Ctrl key)
    d.find_element("id", element_id).send_keys(Keys.CONTROL + "a" + Keys.NULL + str(value))


def _set(d, g):
    from selenium.webdriver.support.ui import Select

    Select(d.find_element("id", "pg-dims")).select_by_value(str(len(g["size"])))
    for element_id, value in zip(("pg-h", "pg-w"), g["size"]):
        _type(d, element_id, value)
    for element_id, key in (("pg-k", "kernel"), ("pg-s", "stride"), ("pg-d", "dilation"), ("pg-cin", "cin"),
                            ("pg-cout", "cout"), ("pg-g", "groups")):
        _type(d, element_id, g[key])
    mode = g["padding"] if isinstance(g["padding"], str) else "number"
    Select(d.find_element("id", "pg-pad-mode")).select_by_value(mode)
    if mode == "number":
        _type(d, "pg-p", g["padding"])
    box = d.find_element("id", "pg-transposed")
    if box.is_selected() != g["transposed"]:
        box.click()
    if g["transposed"]:
        _type(d, "pg-op", g["output_padding"])


def _pads(padding, i, k, s, d):
    """The documented padding modes: valid none, full d(k-1) each side, same o = ceil(i/s) with the
    extra cell on the high side."""
    if padding == "valid":
        return (0, 0)
    if padding == "full":
        return (d * (k - 1),) * 2
    if padding == "same":
        total = max((-(-i // s) - 1) * s + d * (k - 1) + 1 - i, 0)
        return (total // 2, total - total // 2)
    return (padding, padding)


def _expected(g):
    """(output shape, None) or (None, message), from the layer's constructor and convscope's ops."""
    n = len(g["size"])
    cls = getattr(cs.nn, f"{'ConvTranspose' if g['transposed'] else 'Conv'}{n}d")
    kw = {"output_padding": g["output_padding"]} if g["transposed"] else {}
    try:
        cls(g["cin"], g["cout"], g["kernel"], stride=g["stride"], padding=g["padding"], dilation=g["dilation"],
            groups=g["groups"], **kw)
    except ValueError as err:
        return None, str(err)
    sizes = []
    for a, i in enumerate(g["size"]):
        k, s, d = g["kernel"], g["stride"], g["dilation"]
        try:
            if g["transposed"]:
                sizes.append(cs.ops.transposed_output_size(i, k, s, g["padding"], d, g["output_padding"],
                                                           op="conv_transpose", axis=a))
            else:
                sizes.append(cs.ops.output_size(i, k, s, _pads(g["padding"], i, k, s, d), d, op="conv", axis=a))
        except ValueError as err:
            return None, f"{cls.__name__}: {err}"
    return [g["cout"], *sizes], None


geometries = st.fixed_dictionaries({
    "size": st.lists(st.integers(1, 12), min_size=1, max_size=2), "kernel": st.integers(1, 6),
    "stride": st.integers(1, 3), "dilation": st.integers(1, 3),
    "padding": st.one_of(st.integers(0, 4), st.sampled_from(["valid", "same", "full"])),
    "groups": st.sampled_from([1, 2, 3]), "cin": st.integers(1, 6), "cout": st.integers(1, 6),
    "transposed": st.booleans(), "output_padding": st.integers(0, 2)})


@settings(max_examples=15, phases=(Phase.explicit, Phase.generate))  # shrinking through a browser takes minutes
@given(g=geometries)
def test_playground_sizes_and_errors_are_convscopes(browser, pages, g):
    d = browser.driver
    if not d.current_url.endswith("lenet.html"):
        open_page(browser, pages, "lenet")
    _set(d, g)
    shape, message = _expected(g)
    if message is None:
        assert d.find_element("id", "pg-out-shape").text == " x ".join(map(str, shape))
        assert not d.find_element("id", "pg-error").is_displayed()
    else:
        assert d.find_element("id", "pg-error").text == message
        assert d.find_element("id", "pg-out-shape").text == "-"


def _window(d):
    return {tuple(int(v) for v in r.get_attribute("data-pos").split(","))
            for r in d.find_elements("css selector", "#pg-svg rect.window")}


def test_the_drawn_window_follows_the_window_rule(browser, pages):
    """Output o reads padded cells o*s + t*d (the rule o*s + t*d - p in input coordinates)."""
    d = open_page(browser, pages, "lenet")
    _set(d, {"size": [7, 6], "kernel": 3, "stride": 2, "padding": 1, "dilation": 2, "cin": 1, "cout": 1, "groups": 1,
             "transposed": False, "output_padding": 0})
    out = [cs.ops.output_size(7, 3, 2, 1, 2), cs.ops.output_size(6, 3, 2, 1, 2)]
    for frame in range(out[0] * out[1]):
        o = divmod(frame, out[1])
        assert _window(d) == {(o[0] * 2 + t * 2, o[1] * 2 + u * 2) for t in range(3) for u in range(3)}
        assert d.find_element("id", "pg-frame").text.startswith(f"output cell ({o[0]}, {o[1]})")
        d.find_element("id", "pg-step").click()
    assert d.find_element("id", "pg-frame").text.startswith("output cell (0, 0)")   # wrapped around
    d.find_element("id", "pg-back").click()
    assert d.find_element("id", "pg-frame").text.startswith(f"output cell ({out[0] - 1}, {out[1] - 1})")


def _matrix(d):
    cell = None
    entries = {}
    for r in d.find_elements("css selector", "#pg-matrix-svg rect.mrow"):
        cell = float(r.get_attribute("height"))
    rows = len(d.find_elements("css selector", "#pg-matrix-svg rect.mrow"))
    for r in d.find_elements("css selector", "#pg-matrix-svg rect.tap"):
        entries[(round(float(r.get_attribute("y")) / cell), round(float(r.get_attribute("x")) / cell))] = None
    for t in d.find_elements("css selector", "#pg-matrix-svg text.tapnum"):
        x, y = float(t.get_attribute("x")), float(t.get_attribute("y"))
        entries[(int(y // cell), int(x // cell))] = int(t.text)
    return rows, entries


@pytest.mark.parametrize("transposed", [False, True])
def test_matrix_c_is_conv_matrix(browser, pages, transposed):
    """Entry t of the drawn matrix is kernel weight w_t: conv_matrix with w = 1..9 has t + 1 there
    (for the transposed conv, the forward conv's C transposed)."""
    d = open_page(browser, pages, "lenet")
    size = (3, 4) if transposed else (4, 5)
    _set(d, {"size": list(size), "kernel": 3, "stride": 2 if transposed else 1, "padding": 1, "dilation": 1, "cin": 1,
             "cout": 1, "groups": 1, "transposed": transposed, "output_padding": 1 if transposed else 0})
    w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    if transposed:
        out = tuple(cs.ops.transposed_output_size(i, 3, 2, 1, 1, 1) for i in size)
        want = cs.ops.conv_matrix((1, *out), w, stride=2, padding=1).T
    else:
        want = cs.ops.conv_matrix((1, *size), w, padding=1)
    rows, entries = _matrix(d)
    assert rows == want.shape[0]
    assert {k: v + 1 for k, v in entries.items()} == {tuple(map(int, k)): int(want[k]) for k in zip(*np.nonzero(want))}


# ------------------------------------------------------------------------------ the model explorer

@pytest.mark.parametrize("name", ["lenet", "branchy"])
def test_clicked_units_draw_receptive_region(browser, pages, name):
    model, shape, _ = pages[name]
    d = open_page(browser, pages, name)
    rng = np.random.default_rng(0)
    for row in spatial_rows(model, shape):
        select_layer(d, row.name)
        channels = len(d.find_elements("css selector", "#channels button"))
        _, rows, cols = row.output_shape
        for _ in range(2):   # every unit's box is checked without a browser (test_page_data.py)
            if channels:
                d.find_elements("css selector", "#channels button")[int(rng.integers(channels))].click()
            r, c = int(rng.integers(rows)), int(rng.integers(cols))
            click_cell(d, "map-stack", r, c, rows, cols)
            unit = d.find_element("id", "unit-box")
            assert (int(float(unit.get_attribute("y"))), int(float(unit.get_attribute("x")))) == (r, c)
            assert drawn_box(d) == cs.receptive_region(model, shape, (0, r, c), layer=row.name), (row.name, r, c)


def test_keyboard_moves_the_unit_and_the_box(browser, pages):
    from selenium.webdriver.common.keys import Keys

    model, shape, _ = pages["lenet"]
    d = open_page(browser, pages, "lenet")
    first = d.find_element("css selector", '#layer-table tr[data-name="conv1"]')
    first.send_keys(Keys.ENTER)
    first.send_keys(Keys.ARROW_DOWN)
    first.find_element("xpath", "following-sibling::tr[1]").send_keys(Keys.ARROW_DOWN)  # conv1 -> 1 -> 2 (pool)
    assert "selected" in d.find_element("css selector", '#layer-table tr[data-name="2"]').get_attribute("class")
    stack = d.find_element("id", "map-stack")
    stack.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT, Keys.ARROW_UP)   # from the centre (1, 1) of 4x4 to (0, 0)
    assert drawn_box(d) == cs.receptive_region(model, shape, (0, 0, 0), layer="2")
    stack.send_keys(*[Keys.ARROW_RIGHT] * 5, *[Keys.ARROW_DOWN] * 5)   # clamped at (3, 3)
    assert drawn_box(d) == cs.receptive_region(model, shape, (0, 3, 3), layer="2")


def test_one_dimensional_model(browser, pages):
    model, shape, _ = pages["cnn1d"]
    d = open_page(browser, pages, "cnn1d")
    for row in spatial_rows(model, shape)[:4]:
        select_layer(d, row.name)
        channels, length = row.output_shape
        shown = min(channels, 16)
        for c, pos in ((0, 0), (shown - 1, length - 1), (shown // 2, length // 2)):
            click_cell(d, "map-stack", c, pos, shown, length)
            assert drawn_box(d, two_d=False) == cs.receptive_region(model, shape, (c, pos), layer=row.name)


def test_layer_table_numbers_are_summarys(browser, pages):
    """Short forms (4.6K, 73.7K) for the projector, the exact number in each cell's title."""
    model, shape, _ = pages["lenet"]
    d = open_page(browser, pages, "lenet")
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}
    for row in cs.summary(model, shape).rows:
        cells = d.find_elements("css selector", f'#layer-table tr[data-name="{row.name}"] td.num')
        for cell, exact in zip(cells, (row.params, row.macs)):
            if not exact:
                continue
            assert cell.get_attribute("title") == f"{exact:,}"
            text = cell.text
            value = float(text[:-1]) * scale[text[-1]] if text[-1] in scale else int(text.replace(",", ""))
            assert abs(value - exact) <= 0.05 * scale.get(text[-1], 1), (row.name, text, exact)


def test_three_dimensional_model_shows_the_table(browser, pages):
    d = open_page(browser, pages, "conv3d")
    d.find_element("css selector", '#layer-table tr[data-name="2"]').click()
    assert d.find_element("id", "layer-head").text.startswith("MaxPool3d, layer 2: output 2 x 2 x 2 x 2")
    assert "1-D and 2-D inputs only" in d.find_element("id", "unit-info").text


def test_prediction_and_class_saliency(browser, pages):
    d = open_page(browser, pages, "lenet")
    bars = d.find_elements("css selector", "#prediction button.bar")
    assert len(bars) == 10
    bars[4].click()
    assert d.find_element("id", "saliency-note").text.startswith("d(score of class 4)")


def _not_blank(path):
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (800, 1280)
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


def test_screenshots_are_not_blank(browser, pages, tmp_path):
    d = open_page(browser, pages, "lenet")
    keep = os.environ.get("CONVSCOPE_SCREENSHOTS")
    for part in ("playground", "model"):
        d.execute_script(f"document.getElementById('{part}').scrollIntoView()")
        path = tmp_path / f"explore_{part}.png"
        d.save_screenshot(str(path))
        _not_blank(path)
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(path, keep)


def _numbers_oracle(g, x, w):
    """torch's convolution (or transposed convolution) of one channel pair with these numbers."""
    import torch
    import torch.nn.functional as F

    n = len(g["size"])
    xt = torch.tensor(x, dtype=torch.float64).reshape(1, 1, *g["size"])
    wt = torch.tensor(w, dtype=torch.float64).reshape(1, 1, *(g["kernel"],) * n)
    if g["transposed"]:
        conv_t = getattr(F, f"conv_transpose{n}d")
        return conv_t(xt, wt, stride=g["stride"], padding=g["padding"], output_padding=g["output_padding"],
                      dilation=g["dilation"])[0, 0].numpy()
    pads = [_pads(g["padding"], i, g["kernel"], g["stride"], g["dilation"]) for i in g["size"]]
    xt = F.pad(xt, [p for lo_hi in reversed(pads) for p in lo_hi])
    return getattr(F, f"conv{n}d")(xt, wt, stride=g["stride"], dilation=g["dilation"])[0, 0].numpy()


# small drawable settings, mostly possible ones: the point here is the numbers, not the errors
small_geometries = st.fixed_dictionaries({
    "size": st.lists(st.integers(2, 6), min_size=1, max_size=2), "kernel": st.integers(1, 3),
    "stride": st.integers(1, 3), "dilation": st.integers(1, 2), "padding": st.integers(0, 2),
    "transposed": st.booleans(), "output_padding": st.integers(0, 1)})


@settings(max_examples=5, phases=(Phase.explicit, Phase.generate))
@example(g={"size": [4, 5], "kernel": 3, "stride": 2, "dilation": 1, "padding": 1, "transposed": True,
            "output_padding": 1}, typed=True)
@example(g={"size": [5, 4], "kernel": 3, "stride": 1, "dilation": 2, "padding": "same", "transposed": False,
            "output_padding": 0}, typed=False)
@given(g=small_geometries, typed=st.booleans())
def test_playground_with_numbers_is_torchs_convolution(browser, pages, g, typed):
    """Every output cell's number is torch's convolution of the shown input and kernel (one channel
    pair): the drawn picture of a transposed convolution, zeros inserted and the kernel flipped, too."""
    d = browser.driver
    if not d.current_url.endswith("lenet.html"):
        open_page(browser, pages, "lenet")
    g = dict(g, cin=1, cout=1, groups=1)
    _set(d, g)
    box = d.find_element("id", "pg-numbers")
    if not box.is_selected():
        box.click()
    values = [int(v) for v in np.arange(np.prod(g["size"])) % 7 - 3]
    _type(d, "pg-values", " ".join(map(str, values)) if typed else "")
    texts = d.execute_script("return [...document.querySelectorAll('#pg-svg text.outnum')]"
                             ".map((t) => [t.dataset.pos, t.textContent])")
    if _expected(g)[1] is not None or not texts:   # an impossible setting, or one not drawn
        return
    x, w = d.execute_script("return [PG.numbers.x, PG.numbers.w]")
    if typed:
        assert x == values
    want = _numbers_oracle(g, x, w)
    got = {tuple(int(v) for v in pos.split(",")): float(text) for pos, text in texts}
    assert got == {tuple(int(v) for v in idx): float(want[idx]) for idx in np.ndindex(*want.shape)}
    assert d.find_element("id", "pg-sum").text.startswith("output (")
