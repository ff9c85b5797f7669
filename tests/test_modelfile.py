"""Model files: the examples load, write back and reload; mistakes are reported by line and layer."""
import pathlib

import numpy as np
import pytest

import convscope as cs

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name,out", [("lenet_digits", 10), ("fc_digits", 10), ("cnn1d_mnist1d", 10), ("cnn_fashion", 10),
                                      ("vgg_block", 10)])
def test_examples_load_run_and_round_trip(name, out):
    model = cs.load_model(EXAMPLES / f"{name}.yaml").eval()  # eval: dropout off, so outputs are comparable
    assert model.name == name
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape)).astype(np.float32)
    y = model(cs.Tensor(x))
    assert y.shape == (2, out)
    again = cs.load_model(cs.to_yaml(model))
    assert repr(again) == repr(model)
    again.load_state_dict(model.state_dict())
    again.eval()
    np.testing.assert_array_equal(again(cs.Tensor(x)).data, y.data)


BAD = [
    ("layers:\n  - {type: Conv2d, in_channels: 1, out_channels: 4, kernel_size: 3}\n  - {type: Convv2d}\n",
     r"<model> line 3, layer 1 \(Convv2d\): unknown layer type 'Convv2d'; known types: .*Conv2d"),
    ("layers:\n  - {type: Conv2d, name: c1, in_channels: 1, out_channels: 4, kernal_size: 3}\n",
     r"line 2, layer 0 \(Conv2d 'c1'\): unknown argument kernal_size; Conv2d takes in_channels, out_channels, "
     r"kernel_size"),
    ("layers:\n  - {type: Conv2d, in_channels: 3, out_channels: 4, kernel_size: 3, groups: 2}\n",
     r"line 2, layer 0 \(Conv2d\): Conv2d: in_channels 3 and out_channels 4 must both be divisible by groups 2"),
    ("layers:\n  - {type: Linear, in_features: 3}\n", r"line 2, layer 0 \(Linear\): missing a required argument"),
    ("layers:\n  - type: Residual\n    body:\n      - {type: ReLU}\n      - {type: Pool}\n",
     r"line 5, layer 1 \(Pool\): unknown layer type 'Pool'"),
    ("name: x\n", r"a model file is a mapping with a 'layers' list"),
    ("layers: [", r"not valid YAML"),
]


@pytest.mark.parametrize("text,pattern", BAD)
def test_mistakes_name_line_and_layer(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        cs.load_model(text)


def test_custom_modules_are_refused_by_to_yaml():
    class Mine(cs.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="Mine is not a built-in layer"):
        cs.to_yaml(cs.nn.Sequential(Mine()))
