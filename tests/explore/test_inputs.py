"""The page's own forward pass (forward.js) in headless chromium, held to convscope's forward layer by
layer (max|d| / max|ref| <= 1e-5 in float32) on every layer kind it runs, and the inputs it offers:
embedded test samples and a drawn digit, after which the views show convscope's numbers for them."""
import numpy as np
import pytest

import convscope as cs
from convscope.explore.activations import forward
from tests.explore.pages import click_cell, open_page, select_layer


@pytest.fixture(autouse=True)
def no_console_errors(browser):
    browser.console_errors()
    yield
    assert browser.console_errors() == []


RUN_JS = """
const x = Float32Array.from(arguments[0]);
return runProgram(ACT.program, ACT.units.arrays, x).map((t) => [t.name, Array.from(t.output)]);
"""


def _close(got, want):
    got, want = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    return got.shape == want.shape and np.abs(got - want).max() <= 1e-5 * max(np.abs(want).max(), 1e-30)


@pytest.mark.parametrize("name", ["lenet", "cnn1d", "rules"])
def test_page_forward_is_convscopes(browser, pages, name):
    """Conv 1-D and 2-D ('same', dilation, stride, groups), max and average pooling, dense, ReLU,
    LeakyReLU, Tanh, Sigmoid, Flatten: each step's output on random inputs and a test sample."""
    model, shape, _ = pages[name]
    d = open_page(browser, pages, name)
    rng = np.random.default_rng(0)
    data = cs.data.mnist1d() if len(shape) == 2 else cs.data.digits()
    for x in (data[2][5], rng.normal(size=shape).astype(np.float32), rng.random(shape).astype(np.float32) * 4):
        outs, _ = forward(model, x)
        steps = d.execute_script(RUN_JS, [float(v) for v in x.ravel()])
        assert [s[0] for s in steps] == list(model._modules)   # every layer of the chain, in order
        for layer, got in steps:
            assert _close(got, outs[layer]), (name, layer)


GRAD_JS = """
const t = currentTrace(), s = t.find((u) => u.name === arguments[0]);
return Array.from(gradientOf(t, ACT.units.arrays, arguments[0], flatIndex(arguments[1], s.shape)));
"""


def _probs(model, x):
    y = forward(model, x)[1]
    e = np.exp(y - y.max())
    return e / e.sum()


def _page_probs(d):
    cells = d.find_elements("css selector", "#softmax-table td[data-prob]")
    return np.array([float(c.get_attribute("data-prob")) for c in cells])


def test_samples_switch_every_view(browser, pages):
    model, shape, _ = pages["lenet"]
    d = open_page(browser, pages, "lenet")
    buttons = d.find_elements("css selector", "#input-choices button[data-sample]")
    assert len(buttons) == 1 + 20 and {b.text for b in buttons[1:]} == {str(k) for k in range(10)}
    x_test, y_test = cs.data.digits()[2:]
    select_layer(d, "conv2")
    for button in (buttons[7], buttons[20]):
        index = int(button.get_attribute("data-sample"))
        button.click()
        x = x_test[index]
        assert button.text == str(int(y_test[index]))
        assert np.abs(_page_probs(d) - _probs(model, x)).max() <= 1e-5
        click_cell(d, "map-stack", 1, 2, 4, 4)
        body = d.find_element("id", "unit-math-body")
        want = forward(model, x)[0]["conv2"][0, 1, 2]
        assert abs(float(body.get_attribute("data-value")) - want) <= 1e-5 * max(1.0, abs(want))
        assert d.find_element("id", "saliency-caption").text == "saliency of unit (0, 1, 2)"
        g = np.asarray(d.execute_script(GRAD_JS, "conv2", [0, 1, 2]))
        assert _close(g, cs.saliency(model, x, (0, 1, 2), layer="conv2"))


def test_a_drawn_digit_runs_through_the_model(browser, pages):
    from selenium.webdriver.common.action_chains import ActionChains

    model, shape, _ = pages["lenet"]
    d = open_page(browser, pages, "lenet")
    pad = d.find_element("id", "draw-canvas")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    ActionChains(d).move_to_element_with_offset(pad, 0, -45).click_and_hold().move_by_offset(0, 30) \
        .move_by_offset(0, 30).move_by_offset(0, 30).release().perform()
    x = np.asarray(d.execute_script("return Array.from(M.input)"), np.float32).reshape(shape)
    # a vertical stroke down the middle: ink in the middle columns only
    assert x[0, 2:6, 3:5].min() > 0.3 and x[0, :, :2].max() == 0 and x[0, :, 6:].max() == 0
    assert "your drawing" in d.find_element("id", "input-note").text
    assert np.abs(_page_probs(d) - _probs(model, x)).max() <= 1e-5
    # Grad-CAM of a drawing: computed by the page (precomputed maps are for the embedded inputs only)
    assert d.find_element("id", "cam-caption").text.endswith("(computed by this page)")
