"""The explore page's teaching views in headless chromium: the arithmetic of a unit recomputed by the
page and held to convscope's forward, saliency that follows the clicked unit and channel, values under
the pointer, colour scales, the softmax written out, 1-D signals as lines, and layouts whose captions
and labels never overlap at 1400 and 800 pixels."""
import numpy as np
import pytest

import convscope as cs
from convscope.explore.activations import forward
from tests.explore.pages import SAMPLE, click_cell, open_page, select_layer, spatial_rows


@pytest.fixture(autouse=True)
def no_console_errors(browser):
    browser.console_errors()
    yield
    assert browser.console_errors() == []


def _sample(shape):
    data = cs.data.mnist1d() if len(shape) == 2 else cs.data.digits()
    return data[2][SAMPLE]


def _outputs(pages, name):
    model, shape, _ = pages[name]
    return forward(model, _sample(shape))[0]


def _pick(d, row, two_d, r, c, channel):
    """Select unit (channel, r, c) of a 2-D map, (r = channel, c) of a 1-D one, or cell (r, c) of a vector."""
    if len(row.output_shape) == 1:
        n = min(row.output_shape[0], 256)
        click_cell(d, "map-stack", r, c, -(-n // 16), min(n, 16))
        return (r * 16 + c,)
    if two_d:
        d.find_elements("css selector", "#channels button")[channel].click()
        click_cell(d, "map-stack", r, c, *row.output_shape[1:])
        return (channel, r, c)
    shown = min(row.output_shape[0], 16)
    click_cell(d, "map-stack", r, c, shown, row.output_shape[1])
    return (r, c)


@pytest.mark.parametrize("name", ["lenet", "cnn1d", "rules"])
def test_unit_arithmetic_is_convscopes_value(browser, pages, name):
    """Every conv, pool and dense layer: the page's own sum for a unit, and the activation after it,
    equal convscope's forward at that unit (float32 sums in another order: 1e-5 relative)."""
    model, shape, _ = pages[name]
    outs, d = _outputs(pages, name), open_page(browser, pages, name)
    modules = dict(model.named_modules())
    rows = [r for r in cs.summary(model, shape).rows if r.name in modules and not r.group]
    rng, checked = np.random.default_rng(1), 0
    for k, row in enumerate(rows):
        if type(modules[row.name]).__name__.rstrip("123d") not in ("Conv", "MaxPool", "AvgPool", "Linear"):
            continue
        select_layer(d, row.name)
        for _ in range(2):
            if len(row.output_shape) == 1:
                j = int(rng.integers(min(row.output_shape[0], 256)))
                unit = _pick(d, row, False, j // 16, j % 16, 0)
            else:
                grid = row.output_shape[1:] if len(shape) == 3 else (min(row.output_shape[0], 16), row.output_shape[1])
                unit = _pick(d, row, len(shape) == 3, int(rng.integers(grid[0])), int(rng.integers(grid[1])),
                             int(rng.integers(min(row.output_shape[0], 16))))
            body = d.find_element("id", "unit-math-body")
            assert body.get_attribute("data-unit") == ",".join(map(str, unit)), (row.name, unit)
            want = outs[row.name][unit]
            got = float(body.get_attribute("data-value"))
            assert abs(got - want) <= 1e-5 * max(1.0, abs(want)), (row.name, unit, got, want)
            assert "agrees" in d.find_element("id", "unit-check").text
            after = rows[k + 1] if k + 1 < len(rows) else None
            if after is not None and type(modules[after.name]).__name__ in ("ReLU", "LeakyReLU", "Tanh", "Sigmoid"):
                want_after = outs[after.name][unit]
                assert abs(float(body.get_attribute("data-after")) - want_after) <= 1e-5 * max(1.0, abs(want_after))
            checked += 1
    assert checked >= 8


def _line_values(d, svg_id, row=0):
    """The values a drawn line stands for, read back from its points and its range (data-lo, data-hi):
    row r's values span the band [r + 0.08, r + 0.92] of the plot, lo at the bottom."""
    line = d.find_element("css selector", f'#{svg_id} polyline[data-row="{row}"]')
    lo, hi = float(line.get_attribute("data-lo")), float(line.get_attribute("data-hi"))
    ys = np.array([float(p.split(",")[1]) for p in line.get_attribute("points").split()])
    return lo + (row + 0.92 - ys) / 0.84 * (hi - lo), hi - lo


def test_one_dimensional_saliency_follows_the_clicked_channel(browser, pages):
    """Units (0, 9), (7, 9), (12, 9) once showed channel 0's map under their own caption."""
    model, shape, _ = pages["cnn1d"]
    d = open_page(browser, pages, "cnn1d")
    select_layer(d, "0")
    x = _sample(shape)
    for c in (0, 7, 12):
        click_cell(d, "map-stack", c, 9, 16, 40)
        assert d.find_element("id", "saliency-caption").text == f"saliency of unit ({c}, 9)"
        assert d.find_element("id", "saliency-canvas").get_attribute("data-unit") == f"{c},9"
        got, span = _line_values(d, "saliency-svg")
        want = cs.saliency(model, x, (c, 9), layer="0")[0]
        assert np.abs(got - want).max() <= span / 255 + span * 1e-3, c


SHOWN_JS = """
const s = M.saliencyShown, n = prod(IN_SHAPE.slice(1));
return [Array.from({ length: n }, (_, i) => s.value(i)), s.hi - s.lo];
"""


@pytest.mark.parametrize("name", ["lenet", "lenet_precomputed"])
def test_two_dimensional_saliency_for_every_channel_shown(browser, pages, name):
    """Computed by the page (its backward pass) or precomputed by convscope: the caption names the
    unit drawn, the note says which, and the map drawn is cs.saliency of that unit (to 1/255 of its range)."""
    model, shape, _ = pages[name]
    d = open_page(browser, pages, name)
    x = _sample(shape)
    for layer, c, (r, col) in (("conv1", 3, (2, 5)), ("conv1", 11, (7, 0)), ("conv2", 5, (1, 3))):
        select_layer(d, layer)
        _pick(d, _row(pages, name, layer), True, r, col, c)
        assert d.find_element("id", "saliency-caption").text == f"saliency of unit ({c}, {r}, {col})"
        assert d.find_element("id", "saliency-canvas").get_attribute("data-unit") == f"{c},{r},{col}"
        note = d.find_element("id", "saliency-note").text
        assert ("this page's own backward pass" in note) == (name == "lenet"), note
        got, span = d.execute_script(SHOWN_JS)
        want = cs.saliency(model, x, (c, r, col), layer=layer)[0]
        assert np.abs(np.reshape(got, want.shape) - want).max() <= span / 255 + 1e-6


def _row(pages, name, layer):
    model, shape, _ = pages[name]
    return next(r for r in cs.summary(model, shape).rows if r.name == layer)


def test_one_dimensional_input_is_a_line(browser, pages):
    _, shape, _ = pages["cnn1d"]
    d = open_page(browser, pages, "cnn1d")
    got, span = _line_values(d, "input-svg")
    assert got.shape == (shape[1],)
    assert np.abs(got - _sample(shape)[0]).max() <= span / 255 + span * 1e-3


def test_hover_shows_values_and_maps_have_colour_scales(browser, pages):
    from selenium.webdriver.common.action_chains import ActionChains

    model, shape, _ = pages["lenet"]
    outs, d = _outputs(pages, "lenet"), open_page(browser, pages, "lenet")
    select_layer(d, "conv2")
    d.find_elements("css selector", "#channels button")[4].click()
    stack = d.find_element("id", "map-stack")
    w, h = stack.size["width"], stack.size["height"]
    ActionChains(d).move_to_element_with_offset(stack, int(2.5 * w / 4 - w / 2), int(1.5 * h / 4 - h / 2)).perform()
    hover = d.find_element("id", "hover-value")
    assert hover.text.startswith("conv2 unit (4, 1, 2) = ")
    assert float(hover.get_attribute("data-value")) == pytest.approx(float(outs["conv2"][4, 1, 2]), rel=1e-6, abs=1e-7)
    shown = outs["conv2"][:16]
    legend = d.find_element("css selector", "#map-legend .legend")
    lo, hi = float(legend.get_attribute("data-lo")), float(legend.get_attribute("data-hi"))
    m = np.abs(shown).max()
    assert (lo, hi) == pytest.approx((-m, m) if shown.min() < 0 < shown.max() else (shown.min(), shown.max()), rel=1e-6)
    for fig in ("input-legend", "saliency-legend"):
        assert d.find_elements("css selector", f"#{fig} .legend canvas")


def test_vectors_and_softmax_written_out(browser, pages):
    """fc1's 64 values as a 4 x 16 grid of clickable cells; the prediction as logits, exponentials and
    probabilities equal to convscope's softmax; the clicked class marked."""
    model, shape, _ = pages["lenet"]
    d = open_page(browser, pages, "lenet")
    select_layer(d, "fc1")
    stack = d.find_element("id", "map-stack")
    assert abs(stack.size["width"] / stack.size["height"] - 4) < 0.1     # 16 columns, 4 rows
    click_cell(d, "map-stack", 2, 5, 4, 16)
    assert d.find_element("id", "unit-math-body").get_attribute("data-unit") == "37"
    logits = forward(model, _sample(shape))[1]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    rows = d.find_elements("css selector", "#softmax-table tr[data-class]")
    assert len(rows) == 10
    for i, tr in enumerate(rows):
        prob = float(tr.find_element("css selector", "td[data-prob]").get_attribute("data-prob"))
        assert prob == pytest.approx(probs[i], abs=1e-6)
    top = int(np.argmax(probs))
    assert "predicted" in rows[top].text
    d.find_elements("css selector", "#prediction button.bar")[4].click()
    assert "chosen" in d.find_element("css selector", '#softmax-table tr[data-class="4"]').get_attribute("class")
    bar = d.find_element("css selector", '#prediction button.bar[data-class="4"]')
    assert bar.get_attribute("aria-pressed") == "true"
    assert d.find_element("id", "saliency-caption").text == "saliency of class 4"


def test_headings_use_the_models_names_and_the_box_does_not_tint(browser, pages):
    d = open_page(browser, pages, "lenet")
    select_layer(d, "conv1")
    assert d.find_element("id", "layer-head").text.startswith("conv1 (Conv2d): output 16 x 8 x 8")
    select_layer(d, "2")
    assert d.find_element("id", "layer-head").text.startswith("MaxPool2d, layer 2: output 16 x 4 x 4")
    # an outline only: a tinted box over the whole field would tint the whole digit
    assert d.execute_script("return getComputedStyle(document.getElementById('rf-box')).fill") == "none"


# ------------------------------------------------------------------------------ layout

OVERLAP_JS = """
const sel = 'figcaption, svg text.label, h2, h3, .legend span, .ov-head, .ov-kind, #pg-steps .eq, ' +
            '#pg-controls label, p.small, p.mono, .bar, #softmax-table td';
const els = [...document.querySelectorAll(sel)].filter((e) => e.getClientRects().length && !e.closest('[hidden]'));
const boxes = els.map((e) => e.getBoundingClientRect());
const bad = [];
for (let i = 0; i < els.length; i++) for (let j = i + 1; j < els.length; j++) {
  if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
  const a = boxes[i], b = boxes[j];
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  if (w > 1 && h > 1) bad.push([els[i].textContent.slice(0, 40), els[j].textContent.slice(0, 40)]);
}
// a caption wider than its figure runs under the next one
for (const c of document.querySelectorAll('figcaption')) {
  if (c.scrollWidth > c.clientWidth + 1) bad.push([c.textContent, 'overflows']);
}
return bad;
"""


def _set_width(d, width):
    # the height stays the browser's own (800): later tests' screenshots are 1280 x 800
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 800, "deviceScaleFactor": 1,
                                                             "mobile": False})


def _keep_screenshots(d, width, parts):
    """With CONVSCOPE_SCREENSHOTS=DIR, the parts of the page at this width, as PNG files in DIR."""
    import os

    keep = os.environ.get("CONVSCOPE_SCREENSHOTS")
    if not keep:
        return
    os.makedirs(keep, exist_ok=True)
    for part in parts:
        d.execute_script(f"document.getElementById('{part}').scrollIntoView()")
        d.save_screenshot(os.path.join(keep, f"explore_{part}_{width}.png"))


@pytest.mark.parametrize("width", [1400, 800])
def test_no_captions_or_labels_overlap(browser, pages, width, tmp_path):
    """Transposed playground (its long input caption), a 12 x 12 input (no matrix C: no blank space),
    formulas that wrap only between steps, and the model explorer on a conv and a dense layer."""
    from selenium.webdriver.common.keys import Keys

    d = open_page(browser, pages, "lenet")
    _set_width(d, width)
    try:
        d.find_element("id", "pg-transposed").click()
        for element_id, value in (("pg-h", 2), ("pg-w", 2), ("pg-k", 3)):
            d.find_element("id", element_id).send_keys(Keys.CONTROL + "a" + Keys.NULL + str(value))
        assert d.execute_script(OVERLAP_JS) == []
        for element_id in ("pg-h", "pg-w"):
            d.find_element("id", element_id).send_keys(Keys.CONTROL + "a" + Keys.NULL + "12")
        assert d.find_element("id", "pg-matrix-note").text.startswith("Shown when one channel has at most")
        assert d.find_element("id", "pg-matrix-svg").size["height"] <= 2
        for eq in d.find_elements("css selector", "#pg-steps .eq"):
            assert d.execute_script("return arguments[0].getClientRects().length", eq) == 1, eq.text
            assert eq.size["height"] < 30, eq.text   # one line each: a formula wraps only between its steps
        for layer in ("conv2", "fc1"):
            select_layer(d, layer)
            assert d.execute_script(OVERLAP_JS) == [], layer
        select_layer(d, "conv1")
        d.find_elements("css selector", "#channels button")[-1].click()    # the longest caption: a late channel
        click_cell(d, "map-stack", 3, 3, 8, 8)
        d.find_elements("css selector", "#input-choices button")[3].click()  # another input: other captions
        assert d.execute_script(OVERLAP_JS) == []
        d.find_element("css selector", '#prediction .bar[data-class="1"]').click()   # the class view, Grad-CAM
        assert d.execute_script(OVERLAP_JS) == []
        _keep_screenshots(d, width, ("overview", "viewer", "unit-cam", "prediction"))
    finally:
        _set_width(d, 1280)


WINDOWS_JS = """
const prev = document.querySelector('.ov-col[data-layer="' + arguments[0] + '"]'), [rows, cols] = arguments[1];
const canvases = [...prev.querySelectorAll('canvas')], wins = [...document.querySelectorAll('#ov-links .ov-window')];
return wins.map((w, k) => {
  const b = canvases[k].getBoundingClientRect(), r = w.getBoundingClientRect();
  return [Math.round((r.top - b.top) / b.height * rows), Math.round((r.bottom - b.top) / b.height * rows),
          Math.round((r.left - b.left) / b.width * cols), Math.round((r.right - b.left) / b.width * cols)];
});
"""


def test_overview_shows_every_layer_and_the_window_a_unit_reads(browser, pages):
    """One column per layer in order; conv2's unit (4, 1, 2) linked to the window it reads on every
    map shown of the layer before, that window being receptive_region of conv2 alone."""
    model, shape, _ = pages["lenet"]
    d = open_page(browser, pages, "lenet")
    names = [c.get_attribute("data-layer") for c in d.find_elements("css selector", "#overview-body .ov-col")]
    assert names == [n for n, m in model.named_modules() if n and not m._modules]
    select_layer(d, "conv2")
    _pick(d, _row(pages, "lenet", "conv2"), True, 1, 2, 4)
    assert len(d.find_elements("css selector", "#ov-links .ov-unit")) == 1
    rows = d.execute_script(WINDOWS_JS, "2", [4, 4])
    want = cs.receptive_region(model.layer("conv2"), (16, 4, 4), (4, 1, 2))
    assert len(rows) == 6 and all(w == [want[0].start, want[0].stop, want[1].start, want[1].stop] for w in rows), rows
    d.find_elements("css selector", '#overview-body .ov-col[data-layer="5"] canvas')[3].click()
    assert "selected" in d.find_element("css selector", '#layer-table tr[data-name="5"]').get_attribute("class")
    assert d.find_element("id", "channel-label").text == "channel 3 of 32"


def test_overview_boxes_blocks_with_their_joins(browser, pages):
    """A residual block and a concat: boxed with their layers and the add / concat that joins the
    branches, foldable, and opened again when a layer inside is chosen; arcs from each branch's
    source to its join, and the window a unit reads drawn on its own input's column."""
    model, shape, _ = pages["blocks"]
    d = open_page(browser, pages, "blocks")
    layers = [n for n, m in model.named_modules() if n and not m._modules]
    for group, inside in (("2", ["2.body.0", "2.body.1", "2.body.2", "add"]), ("3", ["3.0", "3.1.0", "concat"])):
        box = d.find_element("css selector", f'#overview-body .ov-group[data-group="{group}"]')
        assert box.get_attribute("data-kind") == type(model.layer(group)).__name__
        columns = box.find_elements("css selector", ".ov-col")
        got = [c.get_attribute("data-layer") or c.get_attribute("data-op") for c in columns]
        assert got == inside
    columns = d.find_elements("css selector", "#overview-body .ov-col[data-layer]")
    assert [c.get_attribute("data-layer") for c in columns] == layers
    toggle = d.find_element("css selector", '.ov-group[data-group="2"] > .ov-toggle')
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not d.find_element("css selector", '.ov-col[data-layer="2.body.0"]').is_displayed()
    select_layer(d, "2.body.2")
    assert toggle.get_attribute("aria-expanded") == "true"
    assert d.find_elements("css selector", "#ov-links .ov-unit")
    # the window is drawn on the column of the layer's own input, inside the block
    windows = d.find_elements("css selector", "#ov-links .ov-window")
    assert windows and len(windows) == len(d.find_elements("css selector", '.ov-col[data-layer="2.body.1"] canvas'))
    # arcs: the residual's skip from the block's input to the add, each concat branch to the concat
    arcs = {(a.get_attribute("data-from"), a.get_attribute("data-to"))
            for a in d.find_elements("css selector", "#ov-links .ov-arc")}
    assert arcs == {("1", "2"), ("3.0", "3")}, arcs


CAM_JS = """
const cam = ACT.cam, maps = unpack(ACT.camMaps === undefined ? cam.maps : ACT.camMaps), n = prod(IN_SHAPE.slice(1));
const at = cam.classes.indexOf(arguments[0]);
return Array.from({ length: n }, (_, i) => maps.value(at * n + i));
"""


def test_class_view_shows_grad_cam_of_the_chosen_class(browser, pages):
    """The class view's overlay is convscope.analysis.cam (Grad-CAM) of the clicked class at the last
    spatial layer, for the page's input and for a sample switched to, and its caption says so."""
    from convscope.analysis.cam import cam

    model, shape, _ = pages["lenet"]
    d = open_page(browser, pages, "lenet")
    layer = [r for r in cs.summary(model, shape).rows if not r.group and len(r.output_shape) == 3][-1].name
    x = _sample(shape)
    for button in (None, d.find_elements("css selector", "#input-choices button[data-sample]")[5]):
        if button is not None:
            button.click()
            x = cs.data.digits()[2][int(button.get_attribute("data-sample"))]
        bar = d.find_element("css selector", '#prediction .bar[data-class="2"]')
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", bar)
        bar.click()
        caption = d.find_element("id", "cam-caption")
        assert caption.text.startswith("Grad-CAM of class 2 at") and caption.get_attribute("data-layer") == layer
        got = np.asarray(d.execute_script(CAM_JS, 2)).reshape(shape[1:])
        assert np.abs(got - cam(model, x[None], layer, [2])[0]).max() <= 1 / 510 + 1e-6


PAGE_CAM_JS = """
return Array.from(gradCam(currentTrace(), ACT.units.arrays, arguments[0], arguments[1]));
"""


@pytest.mark.parametrize("name", ["lenet", "cnn1d", "blocks"])
def test_grad_cam_computed_in_the_page_is_cams(browser, pages, name):
    """The page's own Grad-CAM (its backward pass to a layer, the weighting, ReLU, scaling and linear
    resize) equals convscope.analysis.cam at every layer with maps, for two classes; the unit view
    shows the chosen layer's, captioned with the class and layer."""
    from convscope.analysis.cam import cam

    model, shape, _ = pages[name]
    d = open_page(browser, pages, name)
    x = _sample(shape)
    for layer in [r.name for r in spatial_rows(model, shape)]:
        for k in (0, 7):
            got = np.asarray(d.execute_script(PAGE_CAM_JS, layer, k)).reshape(shape[1:])
            assert np.abs(got - cam(model, x[None], layer, [k])[0]).max() <= 1e-4, (layer, k)
    select_layer(d, spatial_rows(model, shape)[-1].name)
    caption = d.find_element("id", "unit-cam-caption")
    assert caption.text.startswith("Grad-CAM of class") and caption.get_attribute("data-layer") == \
        spatial_rows(model, shape)[-1].name


def test_deep_model_overview_starts_folded_with_arcs_to_the_joins(browser, pages):
    """Past 24 columns the stages start folded; an arc reaches each visible add or concat from its
    source's column or the folded box holding it, and choosing a layer in a folded residual opens
    it with the arcs to its add."""
    model, shape, _ = pages["deep"]
    d = open_page(browser, pages, "deep")
    toggles = d.find_elements("css selector", "#overview-body .ov-toggle")
    assert toggles and all(t.get_attribute("aria-expanded") == "false" for t in toggles)
    assert not d.find_elements("css selector", "#ov-links .ov-arc")    # every join is folded away
    select_layer(d, "4.2.body.3")
    arcs = {(a.get_attribute("data-from"), a.get_attribute("data-to"))
            for a in d.find_elements("css selector", "#ov-links .ov-arc")}
    assert arcs == {("4.1", "4.2")}, arcs    # the chosen block's skip, from the ReLU before it
    d.find_element("css selector", '.ov-group[data-group="6"] > .ov-toggle').click()
    arcs = {(a.get_attribute("data-from"), a.get_attribute("data-to"))
            for a in d.find_elements("css selector", "#ov-links .ov-arc")}
    assert ("6.0", "6") in arcs, arcs       # the concat, opened: its first branch's arc
    assert d.find_element("css selector", '.ov-group[data-group="4.2"] > .ov-toggle').get_attribute("aria-expanded") == "true"
