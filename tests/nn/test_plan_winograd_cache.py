"""An eval plan's convolution transforms its weights for Winograd once and keeps them (`ConvForm`):
its output stays what the layers compute, and new weights (load_state_dict, an optimizer step,
a folded BatchNorm's statistics) are never served from an old transform."""
import numpy as np
import pytest

import convscope as cs
from convscope.nn import plan as plan_mod
from convscope.nn.conv import ConvForm
from convscope.ops.engine import tuning

nn = cs.nn
# Winograd only where the transform comes cached: the layer-by-layer run (gradients on) lowers.
CACHED_ONLY = dict(winograd_min_channels=1, winograd_min_tiles=10**9, winograd_min_tiles_cached=1)


def _model(seed, bn=False):
    cs.manual_seed(seed)
    layers = [nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 4, 3, padding=1)]
    if bn:
        layers.append(nn.BatchNorm2d(4))
    return nn.Sequential(*layers).double().eval()


def _layers(model, x):
    """Layer by layer: gradients on, so no plan and no Winograd."""
    return model(cs.Tensor(x)).data.copy()


def _planned(model, x):
    with cs.no_grad():
        return model(cs.Tensor(x)).data.copy()


def _forms(model):
    return [s.form for s in model.__dict__[plan_mod.ATTR].steps if isinstance(getattr(s, "form", None), ConvForm)]


def _check(model, x):
    want = _layers(model, x)
    got = _planned(model, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
    return got


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tiles", [(2,), (4,)])
def test_cached_transform_matches_layers_and_follows_new_weights(seed, tiles):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 8, 8))
    with tuning.override(winograd_tiles=tiles, **CACHED_ONLY):
        model = _model(seed, bn=seed % 2 == 1)
        _check(model, x)
        forms = _forms(model)
        assert forms and all(set(f.transforms) == {tiles[0]} for f in forms)  # Winograd ran, from the cache
        assert np.array_equal(_planned(model, x), _planned(model, x))

        # new weights by load_state_dict: a new plan, new transforms
        other = _model(seed + 100, bn=seed % 2 == 1)
        if seed % 2:
            other[3].running_mean.data[:] = rng.standard_normal(4)
        model.load_state_dict(other.state_dict())
        after_load = _check(model, x)
        assert all(f not in forms for f in _forms(model))

        # new weights by an optimizer step (in place)
        model.train()
        opt = cs.optim.SGD(model.parameters(), lr=0.5)
        model(cs.Tensor(x)).sum().backward()
        opt.step()
        model.eval()
        after_step = _check(model, x)
        assert not np.allclose(after_step, after_load)


def test_in_place_edit_needs_drop():
    """A hand edit of `.data` in place is the documented exception: `plan.drop` makes it seen."""
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8))
    with tuning.override(winograd_tiles=(4,), **CACHED_ONLY):
        model = _model(0)
        _check(model, x)
        model[0].weight.data *= 2
        plan_mod.drop(model)
        _check(model, x)
