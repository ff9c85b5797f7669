"""viz.saliency_and_cam draws what analysis computes: the saliency and the class-activation map of the
predicted class, per image, on one scale, with the method and the layer named."""
import numpy as np
import pytest

import convscope as cs
from convscope import viz
from convscope.model_files.examples import example_model
from convscope.train import predict


@pytest.fixture(scope="module")
def model_and_digits():
    cs.manual_seed(0)
    model = cs.load_model(example_model("lenet_digits"))
    x, y, xt, yt = cs.data.digits()
    cs.fit(model, (x[:256], y[:256]), epochs=2, quiet=True)
    return model, xt[:3], yt[:3]


@pytest.mark.parametrize("method", ["gradcam", "layercam"])
def test_the_drawn_maps_are_the_analysis_maps_of_the_predicted_class(model_and_digits, method):
    model, x, y = model_and_digits
    fig = viz.saliency_and_cam(model, x, "conv2", labels=y, method=method)
    predicted = np.argmax(predict(model, x), axis=1)
    np.testing.assert_array_equal(fig.predicted, predicted)
    maps = cs.analysis.cam(model, x, "conv2", predicted, method=method)
    axes = np.array(fig.axes[:3 * len(x)]).reshape(3, len(x))
    for i in range(len(x)):
        g = np.abs(cs.saliency(model, x[i], (int(predicted[i]),))).max(axis=0)
        np.testing.assert_allclose(axes[1, i].images[0].get_array(), g / g.max(), rtol=1e-6)
        np.testing.assert_array_equal(axes[2, i].images[0].get_array(), maps[i])
        np.testing.assert_array_equal(axes[0, i].images[0].get_array(), x[i, 0])
        assert axes[0, i].get_title() == f"true {y[i]}, predicted {predicted[i]}"
        assert axes[1, i].collections and axes[2, i].collections  # the image's outline over both maps
    name = viz.cam.NAMES[method]
    title = fig._suptitle.get_text().replace("\n", " ")
    assert f"{name} of conv2's output (4x4 cells" in title and "Saliency" in title
    assert axes[2, 0].get_ylabel() == name


def test_bad_input_is_named(model_and_digits):
    model, x, _ = model_and_digits
    with pytest.raises(ValueError, match=r"saliency_and_cam: x must be images \(N, 1 or 3, H, W\), got shape \(1, 8, 8\)"):
        viz.saliency_and_cam(model, x[0], "conv2")
    with pytest.raises(ValueError, match="saliency_and_cam: method 'cam' is not one of gradcam"):
        viz.saliency_and_cam(model, x, "conv2", method="cam")
