"""The capture (torch.export at real shapes) on what symbolic tracing could not follow: subclasses of
torch layers, functional batch norm, weights computed in forward, torch._assert, control flow over
shapes (TensorFlow's 'same' padding, a size check), isinstance on tensors, a video model; PyTorch is
the oracle for outputs, forward hooks for MACs. The full sweep over timm is tools/library_sweep.py."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import convscope as cs
from convscope.bridges import from_torch
from tests.bridges import torch_nets
from tests.bridges.torchvision_models import builders, randomise_norms


def _outputs(value):
    if isinstance(value, dict):
        return [t for v in value.values() for t in _outputs(v)]
    return [value.data if isinstance(value, cs.Tensor) else value.detach().numpy()]


def assert_same(model, module, x):
    with torch.no_grad():
        want = _outputs(module(x))
    for got, ref in zip(_outputs(model(cs.Tensor(x.numpy()))), want):
        assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


@pytest.fixture(scope="module")
def segnet():
    torch.manual_seed(0)
    module = randomise_norms(torch_nets.SegNet()).eval()
    return module, from_torch(module, (3, 64, 64))


def test_subclasses_and_functional_calls_convert(segnet):
    module, model = segnet
    assert_same(model, module, torch.randn(2, 3, 64, 64))
    assert type(model.get("mid")) is cs.nn.Conv2d  # an empty subclass is its parent's twin
    assert not isinstance(model.get("gate"), cs.nn.Linear)  # its own forward: captured through its ops
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in module.named_parameters()]


@settings(max_examples=4, deadline=None, derandomize=True)
@given(batch=st.integers(1, 5), size=st.sampled_from([64, 61, 48]))
def test_any_batch_and_a_recapture_at_another_size(segnet, batch, size):
    """The batch axis is dynamic; another size is captured again ('same' pads and the size check
    are worked out there), the layers kept."""
    module, model = segnet
    conv = model.get("mid")
    assert_same(model, module, torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch)))
    assert model.get("mid") is conv


def test_summary_counts_convolutions_however_called(segnet):
    module, _ = segnet
    macs = []

    def hook(m, i, o):
        k = m.weight[0].numel() if isinstance(m, torch.nn.Conv2d) else m.in_features
        macs.append(o[0].numel() * k)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        module(torch.zeros(1, 3, 64, 64))
    for h in handles:
        h.remove()
    s = cs.summary(module, (3, 64, 64))  # torch._assert in forward: dropped
    assert s.totals["macs"] == sum(macs) and s.totals["not_counted"] == []
    assert [r.output_shape for r in s.rows if r.name == "fuse"] == [(8, 32, 32)]


def test_isinstance_and_shape_checks_in_a_3d_unet():
    torch.manual_seed(1)
    module = torch_nets.UNet3d(channels=(2, 4, 4)).eval()
    model = from_torch(module, (1, 9, 8, 8))  # odd depth: the forward pads the upsampled map
    assert_same(model, module, torch.randn(2, 1, 9, 8, 8))


def test_a_video_model_at_a_small_input():
    models, _ = builders()
    import torchvision.models.video as video

    torch.manual_seed(2)
    module = randomise_norms(video.r3d_18(weights=None))
    assert_same(from_torch(module, (3, 2, 16, 16)), module, torch.randn(2, 3, 2, 16, 16))


def test_without_an_input_shape_the_first_call_captures():
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU()).eval()
    model = from_torch(net)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"] and model.steps == []
    assert_same(model, net, torch.randn(1, 2, 7, 9))
    assert_same(model, net, torch.randn(4, 2, 5, 6))  # another size: captured again


def test_a_model_whose_torch_module_is_gone_names_the_size_it_needs():
    model = from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3)), (1, 8, 8))
    object.__setattr__(model, "_source", None)
    with pytest.raises(ValueError, match=r"captured at sample shape 1x8x8; at 1x9x9 convert again with "
                                         r"from_torch\(module, input_shape=\(1, 9, 9\)\)"):
        model(cs.Tensor(np.zeros((1, 1, 9, 9), np.float32)))
