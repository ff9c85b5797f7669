"""The layer registry: every layer is declared, round-trips through model files, refuses bad
arguments with the layer, the numbers and the rule; declarations that do not match their layer are
refused; a layer registered by a user works in model files without a PyTorch twin."""
import numpy as np
import pytest
import torch

import convscope as cs
from convscope.nn import registry
from convscope.nn.registry import count, flag, per_axis, register
from tests.nn.catalogue import CATALOGUE, example

nn = cs.nn


def test_the_catalogue_covers_every_registered_layer():
    assert set(CATALOGUE) == set(registry.declarations()) == set(nn.LAYERS)
    for name, decl in registry.declarations().items():
        assert getattr(nn, name) is decl.cls and decl.cls.declaration is decl


def pairs(a, b):
    """Corresponding modules of two models of the same structure."""
    return zip(dict(a.named_modules()).values(), dict(b.named_modules()).values())


def plain_arguments(layer):
    """The normalised arguments that are not layers (those are compared module by module)."""
    return {k: v for k, v in registry.arguments(layer).items() if not layer.declaration.args[k].modules}


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_layer_round_trips_through_a_model_file(name):
    layer, x = example(name)
    model = nn.Sequential(layer).eval()
    again = cs.load_model(cs.to_yaml(model, input_shape=x.shape[1:])).eval()
    assert repr(again) == repr(model)
    assert again.input_shape == x.shape[1:]
    for ours, theirs in pairs(model, again):
        assert type(ours) is type(theirs)
        assert plain_arguments(ours) == plain_arguments(theirs)
    again.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(again(cs.Tensor(x)).data, model(cs.Tensor(x)).data)


def test_arguments_are_normalised_with_defaults():
    conv = nn.Conv2d(3, 4, 3, padding=((1, 0), 2))
    assert registry.arguments(conv) == dict(in_channels=3, out_channels=4, kernel_size=(3, 3), stride=(1, 1),
                                            padding=((1, 0), 2), dilation=(1, 1), groups=1, bias=True,
                                            padding_mode="zeros")
    assert (conv.kernel_size, conv.padding) == ((3, 3), ((1, 0), 2))
    pool = nn.AvgPool1d(3)
    assert registry.arguments(pool)["stride"] == pool.stride == (3,)  # None means the kernel size


BAD_ARGUMENTS = [
    (lambda: nn.Conv2d(2, 4, 3, bias="yes"), TypeError, r"Conv2d: bias must be True or False, got 'yes'"),
    (lambda: nn.Conv2d(2, 4, 2.5), TypeError, r"Conv2d \(spatial axis 0\): kernel_size must be an int, got 2.5"),
    (lambda: nn.Conv3d(2, 4, 3, stride=(1, 0, 1)), ValueError, r"Conv3d \(spatial axis 1\): stride must be >= 1, got 0"),
    (lambda: nn.Conv1d(2, 4, 3, padding=((1, 2, 3),)), ValueError,
     r"Conv1d \(spatial axis 0\): padding per axis is an int or \(lo, hi\)"),
    (lambda: nn.ConvTranspose1d(2, 4, 3, output_padding=-1), ValueError,
     r"ConvTranspose1d \(spatial axis 0\): output_padding must be >= 0, got -1"),
    (lambda: nn.MaxPool2d(2, stride=(1, 2, 3)), ValueError, r"MaxPool2d: stride \(1, 2, 3\) has 3 entries"),
    (lambda: nn.KMaxPool(0), ValueError, r"KMaxPool: k must be >= 1, got 0"),
    (lambda: nn.KMaxPool(2, axis=1.0), TypeError, r"KMaxPool: axis must be an int axis, got 1.0"),
    (lambda: nn.Dropout(-0.1), ValueError, r"Dropout: p must be in \[0, 1\), got -0.1"),
    (lambda: nn.LeakyReLU("0.1"), TypeError, r"LeakyReLU: negative_slope must be a number, got '0.1'"),
    (lambda: nn.BatchNorm2d(4, eps=0), ValueError, r"BatchNorm2d: eps must be in \(0, inf\], got 0"),
    (lambda: nn.BatchNorm1d(4, momentum=2), ValueError, r"BatchNorm1d: momentum must be in \[0, 1\], got 2"),
    (lambda: nn.Residual(nn.ReLU(), shortcut=3), TypeError, r"Residual: shortcut is a int, not a Module"),
    (lambda: nn.Concat(nn.ReLU(), "x"), TypeError, r"Concat: branches\[1\] is a str, not a Module"),
    (lambda: nn.Softmax(dim=None), TypeError, r"Softmax: dim must be an int axis, got None"),
]


@pytest.mark.parametrize("make,error,pattern", BAD_ARGUMENTS)
def test_bad_arguments_name_the_layer_and_the_rule(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


@pytest.fixture
def scaled():
    """A user's layer, registered for the test and forgotten afterwards."""
    @register(dict(channels=count(), factor=per_axis(), learn=flag()), n=1)
    class Scaled(nn.Module):
        """y = x * factor (per channel when learned)."""

        def __init__(self, channels, factor=2, learn=False):
            super().__init__()
            registry.bind(self, locals())
            self.scale = nn.Parameter(np.full((channels, 1), self.factor[0], np.float32)) if learn else None

        def forward(self, x):
            return x * (self.scale if self.learn else self.factor[0])
    yield Scaled
    registry.unregister("Scaled")
    assert "Scaled" not in registry.declarations()


def test_a_registered_layer_without_a_torch_twin_works_in_model_files(scaled):
    model = cs.load_model("layers:\n  - {type: Scaled, channels: 3, factor: 3, learn: true}\n  - {type: ReLU}\n")
    assert isinstance(model[0], scaled) and model[0].factor == (3,)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(model(cs.Tensor(x)).data, np.maximum(3 * x, 0))
    assert "{type: Scaled, channels: 3, factor: 3, learn: true}" in cs.to_yaml(model)
    with pytest.raises(ValueError, match=r"line 2, layer 0 \(Scaled\): Scaled \(spatial axis 0\): factor must be >= 1"):
        cs.load_model("layers:\n  - {type: Scaled, channels: 3, factor: 0}\n")
    with pytest.raises(ValueError, match=r"to_torch: Scaled declares no PyTorch twin"):
        cs.to_torch(model)


def test_declarations_that_do_not_match_the_layer_are_refused():
    class Layer(nn.Module):
        def __init__(self, size, scale=1.0):
            super().__init__()

    with pytest.raises(TypeError, match=r"register Layer: declared arguments \['size', 'scael'\] differ from the "
                                        r"constructor's \['size', 'scale'\]"):
        register(dict(size=count(), scael=count()))(Layer)
    with pytest.raises(TypeError, match=r"declared arguments \['size'\] differ"):
        register(dict(size=count()))(Layer)
    with pytest.raises(TypeError, match=r"register Layer: arguments \['scale'\] need an argument type"):
        register(dict(size=count(), scale=float))(Layer)

    class Conv2d(nn.Module):  # a second layer under a built-in's name
        def __init__(self):
            super().__init__()

    with pytest.raises(ValueError, match="register Conv2d: a layer of that name is already registered"):
        register()(Conv2d)
    assert "Layer" not in registry.declarations() and registry.declaration("Conv2d").cls is nn.Conv2d


def test_subclasses_bind_through_their_base_but_are_not_built_ins():
    class Wide(nn.Conv2d):
        pass

    layer = Wide(2, 3, 3)
    assert layer.kernel_size == (3, 3) and registry.declaration(layer) is None
    with pytest.raises(TypeError, match="Wide is not a built-in layer"):
        cs.to_yaml(nn.Sequential(layer))


def test_layer_docstrings_have_args_and_shape():
    for name, decl in registry.declarations().items():
        doc = decl.cls.__doc__ or ""
        assert "Shape:" in doc, name
        assert ("Args:" in doc) == bool(decl.args), name


# ------------------------------------------------------------------------------ unbatched input

UNBATCHED = {
    "Conv1d": (lambda m: m.Conv1d(3, 4, 3, padding=1), (3, 9)),
    "Conv2d": (lambda m: m.Conv2d(3, 4, 3, stride=2), (3, 7, 6)),
    "Conv3d": (lambda m: m.Conv3d(2, 3, 2), (2, 4, 3, 4)),
    "ConvTranspose1d": (lambda m: m.ConvTranspose1d(3, 2, 3, stride=2), (3, 5)),
    "ConvTranspose2d": (lambda m: m.ConvTranspose2d(3, 2, 2, stride=2, padding=1), (3, 4, 5)),
    "ConvTranspose3d": (lambda m: m.ConvTranspose3d(2, 2, 2), (2, 3, 2, 3)),
    "MaxPool1d": (lambda m: m.MaxPool1d(2), (3, 9)),
    "MaxPool2d": (lambda m: m.MaxPool2d(2), (3, 7, 6)),
    "MaxPool3d": (lambda m: m.MaxPool3d(2, stride=1), (2, 4, 3, 4)),
    "AvgPool1d": (lambda m: m.AvgPool1d(3, stride=2, padding=1), (3, 9)),
    "AvgPool2d": (lambda m: m.AvgPool2d(2, ceil_mode=True), (3, 7, 6)),
    "AvgPool3d": (lambda m: m.AvgPool3d(2), (2, 4, 3, 4)),
}


@pytest.mark.parametrize("name", list(UNBATCHED))
def test_unbatched_input_matches_torch(name):
    from tests.nn.parity import check_module

    make, shape = UNBATCHED[name]
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal(shape)
    y = check_module(make(nn), make(torch.nn), x, rtol=1e-10, atol=1e-10)
    assert y.ndim == len(shape)


@pytest.mark.parametrize("layer,shape,pattern", [
    (lambda: nn.MaxPool2d(2), (4, 4), r"MaxPool2d: expected input \(N, C, H, W\) or unbatched \(C, H, W\) with 2 "
                                      r"spatial axes, got shape \(4, 4\) \(2 axes\)"),
    (lambda: nn.Conv1d(1, 1, 2), (1, 1, 1, 4), r"Conv1d: expected input \(N, C, L\) or unbatched \(C, L\) with 1 "
                                               r"spatial axis, got shape \(1, 1, 1, 4\)"),
    (lambda: nn.AvgPool3d(2), (2, 2, 2, 2, 2, 2), r"AvgPool3d: expected input \(N, C, D, H, W\)"),
])
def test_a_wrong_number_of_axes_names_the_layer_and_the_shapes(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        layer()(cs.Tensor(np.zeros(shape, np.float32)))


def test_the_layers_page_example_runs():
    import pathlib
    import re

    page = pathlib.Path(__file__).resolve().parents[2] / "docs" / "layers.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})
    assert "Scale" not in registry.declarations()


def test_a_twin_may_name_a_class_outside_torch_nn_by_its_dotted_path():
    from convscope.nn.registry import TorchTwin

    assert TorchTwin("torch.nn.modules.activation.Softplus").resolve(torch.nn, None) is torch.nn.Softplus
    assert TorchTwin("Softplus").resolve(torch.nn, None) is torch.nn.Softplus
    with pytest.raises(ValueError, match=r"the PyTorch twin no_such_package.Layer cannot be imported .*install"):
        TorchTwin("no_such_package.Layer").resolve(torch.nn, None)
    assert TorchTwin("no_such_package.Layer", fallback=lambda: torch.nn.Identity).resolve(torch.nn, None) \
        is torch.nn.Identity
