"""Class-activation maps and integrated gradients held to the packages PyTorch users run them with:
pytorch-grad-cam (GradCAM, GradCAM++, LayerCAM, EigenCAM, ScoreCAM) and captum (IntegratedGradients),
on a torchvision ResNet-18 (random weights, non-trivial BatchNorm statistics) converted to convscope,
and on a convscope layer model handed to PyTorch."""
import zlib

import numpy as np
import pytest

import convscope as cs
from convscope.analysis.cam import METHODS
from convscope.model_files.examples import example_model

from ..bridges.torchvision_models import build, builders

torch = pytest.importorskip("torch")
builders()  # stub torchvision's compiled-op registrations before pytorch_grad_cam imports torchvision
from captum.attr import IntegratedGradients  # noqa: E402
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

REFERENCE = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "layercam": LayerCAM, "eigencam": EigenCAM,
             "scorecam": ScoreCAM}
TOLERANCE = 1e-4  # max |ours - theirs| / max |theirs|


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    m = build("resnet18")
    return m, cs.from_torch(m, (3, 40, 48))


def _reference(method, model, module, x, targets):
    with REFERENCE[method](model=model, target_layers=[module]) as maker:
        if method == "scorecam":
            maker.batch_size = 64
        return maker(torch.from_numpy(x), [ClassifierOutputTarget(int(t)) for t in targets])


def _close(got, ref, method):
    assert got.shape == ref.shape and got.dtype == np.float32
    err = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-6)  # a map can be all zeros (ReLU)
    if method == "eigencam" and err > TOLERANCE:  # a principal direction's sign is arbitrary
        pytest.fail(f"eigencam differs by {err:.2e} (its sign may differ: compare with the negated projection)")
    assert err <= TOLERANCE, f"{method}: max |delta| / max |ref| = {err:.2e}"


# (layer path, torchvision module, input size, images): the last block, a middle one with more positions
GEOMETRIES = [("layer4.1", lambda m: m.layer4[1], (40, 48), 2), ("layer3", lambda m: m.layer3, (33, 29), 1),
              ("layer2.0.conv1", lambda m: m.layer2[0].conv1, (24, 24), 2)]


@pytest.mark.parametrize("method", [m for m in METHODS if m != "scorecam"])
@pytest.mark.parametrize("layer,module,size,n", GEOMETRIES, ids=[g[0] for g in GEOMETRIES])
def test_cam_equals_pytorch_grad_cam_on_resnet18(resnet, method, layer, module, size, n):
    m, converted = resnet
    x = np.random.default_rng(zlib.crc32(f"{layer}{size}".encode())).standard_normal((n, 3, *size)).astype(np.float32)
    targets = np.arange(n) * 97 % 1000
    _close(cs.analysis.cam(converted, x, layer, targets, method=method), _reference(method, m, module(m), x, targets),
           method)


def test_score_cam_equals_pytorch_grad_cam(resnet):
    """One image and the 256-channel block: Score-CAM runs the model once per channel."""
    m, converted = resnet
    x = np.random.default_rng(1).standard_normal((1, 3, 24, 20)).astype(np.float32)
    _close(cs.analysis.cam(converted, x, "layer3.1", [5], method="scorecam", batch_size=64),
           _reference("scorecam", m, m.layer3[1], x, [5]), "scorecam")


@pytest.mark.parametrize("method", METHODS)
def test_cam_of_a_layer_model_equals_its_pytorch_twin(method):
    """A convscope Sequential (names from the model file) handed to PyTorch: same maps."""
    cs.manual_seed(3)
    model = cs.load_model(example_model("lenet_digits"))
    twin = cs.to_torch(model).eval()
    x = np.random.default_rng(3).random((3, 1, 8, 8)).astype(np.float32)
    targets = [0, 4, 9]
    _close(cs.analysis.cam(model, x, "conv2", targets, method=method),
           _reference(method, twin, dict(twin.named_modules())["conv2"], x, targets), method)


@pytest.fixture(scope="module")
def resnet64():
    """The same network in float64 on both sides: integrated gradients sum many gradients, and a deep net's
    float32 rounding differs between the libraries by more than the method's own error."""
    torch.manual_seed(0)
    m = build("resnet18")
    converted = cs.from_torch(m, (3, 16, 16)).double()
    return m.double(), converted


@pytest.mark.parametrize("steps,baseline", [(12, None), (5, 0.25), (1, "random")])
def test_integrated_gradients_equal_captum(resnet64, steps, baseline):
    m, converted = resnet64
    rng = np.random.default_rng(steps)
    x = rng.standard_normal((2, 3, 16, 16))
    base = rng.standard_normal(x.shape) if baseline == "random" else baseline
    targets = [11, 600]
    got = cs.analysis.integrated_gradients(converted, x, targets, baseline=base, steps=steps)
    ref = IntegratedGradients(m).attribute(torch.from_numpy(x), baselines=None if base is None else (
        torch.full_like(torch.from_numpy(x), base) if np.isscalar(base) else torch.from_numpy(base)),
        target=targets, n_steps=steps).detach().numpy()
    assert got.shape == x.shape and got.dtype == np.float64
    assert np.abs(got - ref).max() / np.abs(ref).max() <= 1e-6  # captum rounds its quadrature weights to float32


def test_the_model_is_left_as_it_was(resnet):
    _, converted = resnet
    converted.train()
    cs.analysis.cam(converted, np.zeros((1, 3, 16, 16), np.float32), "layer4", [1])
    assert converted.training and all(p.grad is None for p in converted.parameters())
    converted.eval()


@pytest.mark.parametrize("kwargs,match", [
    (dict(layer="layer9"), "no layer named 'layer9'; layers: conv1, bn1"),
    (dict(layer="fc"), "layer 'fc' outputs shape \\(1, 1000\\), not \\(N, channels, \\*spatial\\)"),
    (dict(targets=[1, 2]), "targets must be 1 class indices in \\[0, 1000\\), one per image, got \\[1, 2\\]"),
    (dict(targets=[1000]), "targets must be 1 class indices in \\[0, 1000\\)"),
    (dict(method="gradcam+"), "method 'gradcam\\+' is not one of gradcam, gradcam\\+\\+, layercam, eigencam, scorecam"),
    (dict(x=np.zeros((16, 16))), "x must be a batch of images \\(N, C, \\*spatial\\) of numbers, got shape \\(16, 16\\)"),
])
def test_bad_arguments(resnet, kwargs, match):
    args = {"x": np.zeros((1, 3, 16, 16), np.float32), "layer": "layer4", "targets": [1], "method": "gradcam", **kwargs}
    with pytest.raises(ValueError, match=match):
        cs.analysis.cam(resnet[1], args.pop("x"), args.pop("layer"), args.pop("targets"), **args)
