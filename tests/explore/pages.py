"""The explore pages the browser tests open, and the moves they make on them (open, pick a layer,
click a cell of a figure, read the drawn box)."""
from __future__ import annotations

import convscope as cs
from convscope.explore import explore
from tests.explore.models import blocks, branchy, cnn1d, conv3d, deep, lenet, rules

# name: (model factory, input shape, weights shown as trained). Random weights are shown as if
# trained where the activation panels are under test: the mechanics do not depend on what they learned.
PAGES = {"lenet": (lenet, (1, 8, 8), True), "branchy": (branchy, (1, 13, 13), False), "cnn1d": (cnn1d, (1, 40), True),
         "conv3d": (conv3d, (1, 4, 4, 4), False), "rules": (rules, (1, 8, 8), True),
         "blocks": (blocks, (1, 8, 8), True), "deep": (deep, (1, 8, 8), True)}
SAMPLE = 3
# pages written as for a model too large for the page to run (saliency precomputed in Python): name -> page of PAGES
PRECOMPUTED = {"lenet_precomputed": "lenet"}


def build(out) -> dict:
    """{name: (model, input shape, page path)} for every page of PAGES and PRECOMPUTED, test sample SAMPLE."""
    import pytest

    from convscope.explore import program

    built = {}
    for name, (make, shape, trained) in PAGES.items():
        model = make()
        built[name] = (model, shape, explore(model, shape, out=out / f"{name}.html", trained=trained, sample=SAMPLE))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(program, "MAX_MACS", 0)
        for name, like in PRECOMPUTED.items():
            model, shape, _ = built[like]
            built[name] = (model, shape, explore(model, shape, out=out / f"{name}.html", trained=PAGES[like][2],
                                                 sample=SAMPLE))
    return built


def open_page(browser, pages, name):
    browser.open(pages[name][2])
    d = browser.driver
    assert d.find_element("id", "pg-check").get_attribute("data-mismatches") == "0"
    return d


def click_cell(d, stack_id, r, c, rows, cols):
    from selenium.webdriver.common.action_chains import ActionChains

    stack = d.find_element("id", stack_id)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", stack)
    w, h = stack.size["width"], stack.size["height"]
    ActionChains(d).move_to_element_with_offset(stack, int((c + 0.5) * w / cols - w / 2),
                                                int((r + 0.5) * h / rows - h / 2)).click().perform()


def drawn_box(d, two_d=True):
    rect = d.find_element("id", "rf-box")
    x, y, w, h = (int(float(rect.get_attribute(a))) for a in ("x", "y", "width", "height"))
    return (slice(y, y + h), slice(x, x + w)) if two_d else (slice(x, x + w),)


def select_layer(d, name):
    row = d.find_element("css selector", f'#layer-table tr[data-name="{name}"]')
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
    row.click()


def spatial_rows(model, shape):
    return [r for r in cs.summary(model, shape).rows
            if not r.group and len(r.output_shape) == len(shape) and r.name in dict(model.named_modules())]
