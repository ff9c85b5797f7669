"""The page's own forward and backward passes (forward.js, backward.js) against convscope, on every
layer of program.py's PAGE_LAYERS drawn from the layer registry (arguments from each declaration's
argument types, 1-D, 2-D and vector inputs), on residual and concat chains of them, and on the same
chains converted through PyTorch into graph models: each step's output within max|d|/max|ref| <= 1e-5
of convscope's forward, and d(unit)/d(input) of drawn units within 1e-5 of cs.saliency. A registered
layer outside PAGE_LAYERS must make the page refuse the model (it keeps its one input)."""
import random

import numpy as np
import pytest

import convscope as cs
from convscope.explore.activations import forward
from convscope.explore.program import PAGE_LAYERS, walk
from convscope.explore.units import Store
from convscope.nn import registry
from tests.explore.pages import open_page
from tests.nn.test_plan_differential import _draw_layer, random_model, randomise_state

SHAPES = ((1, 3, 9), (1, 2, 7, 6), (1, 6))   # 1-D, 2-D and a vector, batch 1
DRAWS, RUNS = 30, 2        # per layer and input shape: settings drawn at most, and run by the page at most
LAYERS = [n for n, d in registry.declarations().items() if not any(t.modules for t in d.args.values())]

RUN = """
const [steps, arrays, x, shape, units] = arguments;
const trace = runProgram(steps, arrays, Float32Array.from(x), shape);
return [trace.map((t) => [t.name, Array.from(t.output)]),
        units.map(([name, u]) => Array.from(gradientOf(trace, arrays, name, u)))];
"""


@pytest.fixture(autouse=True)
def no_console_errors(browser):
    browser.console_errors()
    yield
    assert browser.console_errors() == []


def _close(got, want):
    got, want = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    if got.shape != want.shape:
        return False
    same = got == want    # equal infinities
    scale = max(float(np.abs(want[np.isfinite(want)]).max(initial=0.0)), 1e-30)
    return float(np.where(same, 0.0, np.abs(got - want)).max(initial=0.0)) <= 1e-5 * scale


def _check(d, model, x, rnd):
    """The page's steps, outputs and saliency against convscope; False when the page refuses the model."""
    store = Store(10 ** 7)
    steps = walk(model, x, store)
    if steps is None:
        return False
    outs, y = forward(model, x)
    named = [s for s in steps if s["name"] in outs]
    units = [(s["name"], rnd.randrange(int(np.prod(s["shape"])))) for s in rnd.sample(named, min(3, len(named)))]
    got, grads = d.execute_script(RUN, steps, store.arrays, [float(v) for v in x.ravel()], list(x.shape), units)
    assert got[-1][0] == steps[-1]["name"] and _close(got[-1][1], y), model
    for name, out in got:
        if name in outs:
            assert _close(out, outs[name]), (name, model)
    for (name, u), g in zip(units, grads):
        index = np.unravel_index(u, [s["shape"] for s in steps if s["name"] == name][0])
        assert _close(g, cs.saliency(model, x, tuple(int(i) for i in index), layer=name or None)), (name, index, model)
    return True


def test_every_page_layer_drawn_from_the_registry(browser, pages):
    d = open_page(browser, pages, "lenet")
    rnd, ran = random.Random(0), {}
    for name in LAYERS:
        decl = registry.declaration(name)
        for shape in SHAPES:
            runs = 0
            for _ in range(DRAWS):
                drawn = _draw_layer(rnd, decl, shape) if runs < RUNS else None
                if drawn is None:
                    continue
                model = cs.nn.Sequential(drawn[0])
                randomise_state(model, rnd)
                x = np.random.default_rng(rnd.randrange(2 ** 32)).standard_normal(shape[1:]).astype(np.float32)
                if _check(d, model.eval(), x, rnd):
                    assert name in PAGE_LAYERS, f"{name} is not one of the page's layers, yet the page ran it"
                    ran[name] = ran.get(name, 0) + 1
                    runs += 1
    assert set(ran) == set(PAGE_LAYERS), f"never drawn in a setting the page runs: {set(PAGE_LAYERS) - set(ran)}"


def test_residual_and_concat_chains_and_their_converted_graphs(browser, pages):
    """Random chains of registered layers with residual and concat blocks (the plan's differential
    test's generator) that the page runs, and the same chains as graph models through PyTorch."""
    from convscope.bridges import from_torch, to_torch

    d = open_page(browser, pages, "lenet")
    rnd, joined, graphs = random.Random(1), 0, 0
    for _ in range(400):
        model, x = random_model(rnd)
        if x.shape[0] != 1 or x.ndim > 4 or not _check(d, model, x[0], rnd):
            continue
        joined += any(isinstance(m, (cs.nn.Residual, cs.nn.Concat)) for m in model.modules())
        try:
            graph = from_torch(to_torch(model).eval(), x.shape[1:]).eval()
        except (ValueError, RuntimeError):
            continue
        graphs += _check(d, graph, x[0], rnd)
        if joined >= 6 and graphs >= 6:
            break
    assert joined >= 6 and graphs >= 6, (joined, graphs)
