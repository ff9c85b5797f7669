"""The execution plan computes what the layers compute, over the space of the layer registry.

Random chains of registered layers, each built from its declaration's argument types (`ArgType.draw`),
with residual and concat blocks, 1-D to 3-D, run in eval mode twice: layer by layer (gradients on,
so no plan) and from the plan (no_grad). They agree within max|d|/max|ref| <= 1e-5 (an output that
cancels to zero: 1e-6), and the plan gives the same bytes every call. A layer registered later is
drawn without editing this file; the converted-graph test runs the same chains through PyTorch and
back (`from_torch`).

The budget: 1,000 chains and 150 converted graphs in CI (derandomised); `HYPOTHESIS_PROFILE=long`
runs 100,000 and 10,000 with fresh random examples, and `tools/plan_sweep.py` runs the same generator
and check by seed, without hypothesis's overhead (100,000 chains in a few minutes).
"""
import os
import random

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import convscope as cs
from convscope.nn import registry

nn = cs.nn
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
CHAINS, GRAPHS = (100_000, 10_000) if LONG else (1_000, 150)
MAX_ELEMENTS = 20_000  # per value: the chains stay quick


def _normalized_shape(shape, rnd):
    return tuple(shape[-rnd.randint(1, min(2, len(shape) - 1)):])


# Arguments that must follow the input's shape, by the names PyTorch gives them; every other argument
# is drawn from its type. out_channels keeps the channels half of the time, so residual bodies fit.
BOUND = {
    "in_channels": lambda shape, rnd: shape[1],
    "num_features": lambda shape, rnd: shape[1],
    "num_channels": lambda shape, rnd: shape[1],
    "in_features": lambda shape, rnd: shape[-1],
    "normalized_shape": _normalized_shape,
    "out_channels": lambda shape, rnd: shape[1] if rnd.random() < 0.5 else rnd.randint(1, 5),
}


def _declarations():
    """Every registered layer but the containers, and the weight each is drawn with: the layers and
    ops that have an eval form (the ones the plan rewrites) three times as often."""
    decls = [d for d in registry.declarations().values() if not any(t.modules for t in d.args.values())]
    return decls, [3 if d.form is not None else 1 for d in decls]


def _draw_layer(rnd, decl, shape):
    """A layer of `decl` with drawn arguments that runs on an input of `shape`, and its output shape;
    None when the drawn arguments do not fit."""
    args = {name: BOUND[name](shape, rnd) if name in BOUND else arg_type.draw(rnd, decl.n)
            for name, arg_type in decl.args.items()}
    if decl.n is not None and decl.n != len(shape) - 2:
        return None
    try:
        layer = decl.cls(**args).eval()
        with cs.no_grad():
            out = layer(cs.Tensor(np.zeros(shape, np.float32))).shape
    except (ValueError, TypeError):
        return None
    if 0 in out or int(np.prod(out)) > MAX_ELEMENTS:
        return None
    return layer, tuple(out)


def random_layer(rnd, shape, tries=12, draws=8):
    """A layer drawn by declaration (weighted), then its arguments drawn until they fit the input: so
    a layer with many constraints (a convolution's groups, dilation and padding) is drawn as often
    as its weight says, not as often as random arguments happen to fit."""
    decls, weights = _declarations()
    for _ in range(tries):
        decl = rnd.choices(decls, weights)[0]
        for _ in range(draws):
            found = _draw_layer(rnd, decl, shape)
            if found is not None:
                return found
    return nn.Identity(), shape


def random_chain(rnd, shape, length, depth=0):
    """(layers, output shape): single layers, and at depth 0 some residual and concat blocks."""
    layers = []
    for _ in range(length):
        block = rnd.random() if depth == 0 and len(shape) >= 3 else 1.0
        if block < 0.2:
            body, out = random_chain(rnd, shape, rnd.randint(1, 3), depth + 1)
            if out == shape:
                layers.append(nn.Residual(nn.Sequential(*body)))
                continue
        elif block < 0.3:
            branch, out = random_chain(rnd, shape, rnd.randint(1, 2), depth + 1)
            if len(out) == len(shape) and out[2:] == shape[2:] and out[0] == shape[0]:
                layers.append(nn.Concat(nn.Identity(), nn.Sequential(*branch)))
                shape = (shape[0], shape[1] + out[1], *shape[2:])
                continue
        layer, shape = random_layer(rnd, shape)
        layers.append(layer)
    return layers, shape


def randomise_state(model, rnd):
    """Running statistics and affine parameters away from their initial ones and zeros."""
    gen = np.random.default_rng(rnd.randrange(2**32))
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            m.running_mean[...] = gen.standard_normal(m.num_features)
            m.running_var[...] = gen.uniform(0.3, 3, m.num_features)
        for name, p in m._parameters.items():
            if p is not None and name in ("weight", "bias") and not isinstance(m, nn.Linear) and p.ndim == 1:
                p.data[...] = gen.standard_normal(p.shape)


def random_model(rnd):
    rank = rnd.choice([3, 4, 4, 5])
    sizes = [rnd.randint(3, 9 if rank < 5 else 5) for _ in range(rank - 2)]
    shape = (rnd.randint(1, 3), rnd.randint(1, 4), *sizes)
    layers, _ = random_chain(rnd, shape, rnd.randint(1, 6))
    model = nn.Sequential(*layers)
    randomise_state(model, rnd)
    x = np.random.default_rng(rnd.randrange(2**32)).standard_normal(shape).astype(np.float32)
    return model.eval(), x


def assert_plan_equals_layers(model, x):
    model.eval()
    ref = model(cs.Tensor(x)).numpy()  # gradients on: no plan, the layers one by one
    with cs.no_grad():
        planned = model(cs.Tensor(x)).numpy()
        again = model(cs.Tensor(x)).numpy()
    assert planned.shape == ref.shape and planned.dtype == ref.dtype
    assert planned.tobytes() == again.tobytes()  # the same bytes from call to call (NaNs included)
    # relative to the output's size; an output that cancels to zero (the mean of normalised values) is
    # held to 1e-6, a few float32 roundings of the unit-size values it was computed from
    same = (planned == ref) | (np.isnan(planned) & np.isnan(ref))  # equal infinities (an all-padding max) and NaNs
    finite = np.isfinite(ref)
    scale = max(float(np.abs(ref[finite]).max(initial=0.0)), 0.1)
    diff = np.where(same, 0.0, np.abs(planned.astype(np.float64) - ref))
    assert diff.max() <= 1e-5 * scale, f"plan differs from the layers:\n{model}"


@settings(max_examples=CHAINS)
@given(st.randoms(use_true_random=False))
def test_the_plan_computes_what_the_layers_compute(rnd):
    assert_plan_equals_layers(*random_model(rnd))


@settings(max_examples=GRAPHS)
@given(st.randoms(use_true_random=False))
def test_converted_graphs_plan_what_their_steps_compute(rnd):
    pytest.importorskip("torch")
    from convscope.bridges import from_torch, to_torch

    model, x = random_model(rnd)
    try:
        twin = to_torch(model).eval()
    except ValueError:  # a setting PyTorch has no layer for ((lo, hi) padding with a padding mode)
        return
    try:
        graph = from_torch(twin, x.shape[1:]).eval()
    except (ValueError, RuntimeError):  # torch itself refuses the chain at batch 1 (a 2-D input read as unbatched)
        assume(False)
    assert_plan_equals_layers(graph, x)


@pytest.mark.parametrize("name", [n for n, d in registry.declarations().items()
                                  if not any(t.modules for t in d.args.values())])
def test_every_registered_layer_is_drawn(name):
    """The chains above can reach every layer: its argument types draw arguments it accepts on some input."""
    decl, rnd = registry.declaration(name), random.Random(0)
    ranks = [decl.n + 2] if decl.n is not None else [2, 3, 4, 5]
    drawn = [_draw_layer(rnd, decl, (2, 3, *[6] * (r - 2))) for r in ranks for _ in range(100)]
    assert any(d is not None for d in drawn), f"{name}: no drawn arguments fit"
