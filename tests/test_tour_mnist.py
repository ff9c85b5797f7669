"""The real-MNIST section of the tour and the notebook: LeNet-5 trained when MNIST is in the data cache
(a small made-up MNIST here, its files pinned in the data module's table), and how to get it when not."""
import dataclasses
import gzip
import hashlib

import numpy as np
import pytest
import yaml

import convscope as cs
from convscope import cli, tour
from convscope.data import standard
from convscope.data.standard import Published
from convscope.model_files.examples import example_model
from convscope.train import evaluate

from .test_data import idx_bytes


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_mnist(empty_cache, monkeypatch):
    """Four IDX files in MNIST's layout in the cache folder, pinned by their own SHA-256: random images
    with a vertical stroke where the class puts it."""
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 120), ("test", 40)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, 4:24, 4 + 2 * label:6 + 2 * label] = 255
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, y
    folder = empty_cache / "mnist"
    folder.mkdir(parents=True)
    pinned = []
    for f, part in zip(standard.SETS["mnist"].files, standard.PARTS):
        data = gzip.compress(idx_bytes(arrays[part]), mtime=0)
        (folder / f.name).write_bytes(data)
        pinned.append(Published(f.name, "sha256:" + hashlib.sha256(data).hexdigest()))
    monkeypatch.setitem(standard.SETS, "mnist", dataclasses.replace(
        standard.SETS["mnist"], mirrors=("http://127.0.0.1:9/",), files=tuple(pinned)))
    return arrays


def test_without_mnist_the_section_says_how_to_get_it(empty_cache):
    run = tour.real_mnist()
    assert run.accuracy is None and run.model is None and run.figure is None
    text = "\n".join(run.lines)
    assert f"convscope train {tour.MNIST_MODEL} --data mnist" in text and "$CONVSCOPE_DATA/mnist/" in text
    files = standard.SETS["mnist"].files
    for f, line in zip(files, run.lines[-len(files):]):  # every published file with the pin it is checked against
        assert line.split() == [f.name, f.pin]
    assert not empty_cache.exists()  # nothing downloaded, nothing written


def test_the_command_it_gives_trains_lenet5_on_mnist(fake_mnist, tmp_path, capsys):
    command = next(line.split() for line in tour.mnist_instructions() if "convscope train" in line)
    assert cli.main([*command[1:], "--epochs", "1", "--quiet", "--out", str(tmp_path / "runs")]) == 0
    assert "training lenet5_mnist on mnist: 120 train / 40 test samples, 61,706 parameters" in capsys.readouterr().out


def test_with_mnist_lenet5_is_trained_and_tested(fake_mnist):
    run = tour.real_mnist(epochs=2, train_limit=100)
    x_train, y_train, x_test, y_test = cs.data.load("mnist", download=False)
    assert run.accuracy == pytest.approx(evaluate(run.model, x_test, y_test)[1])  # on the whole test set
    assert f"trained for 2 epochs on 100 MNIST training digits, classifies {run.accuracy:.2%} of the 40 test" \
           in run.lines[0]
    cs.manual_seed(0)
    fresh = cs.load_model(example_model(tour.MNIST_MODEL))
    assert not np.array_equal(fresh.C1.weight.data, run.model.C1.weight.data)  # it was trained
    assert list(run.figure.predicted) == list(np.argmax(cs.train.predict(run.model, x_test[tour.samples_by_class(y_test)]), 1))
    again = tour.real_mnist(epochs=2, train_limit=100)
    assert again.lines == run.lines  # same seed, same run


def test_available_reads_the_cache_without_the_network(fake_mnist, empty_cache):
    assert cs.data.available("mnist") and not cs.data.available("cifar10")
    cs.data.load("mnist", download=False)
    for f in standard.SETS["mnist"].files:  # unpacked: the published files are no longer needed
        (empty_cache / "mnist" / f.name).unlink()
    assert cs.data.available("mnist")
    with pytest.raises(ValueError, match="data set 'imagenet': not one of"):
        cs.data.available("imagenet")


def test_a_damaged_file_in_the_cache_is_named_not_hidden(fake_mnist, empty_cache):
    name = standard.SETS["mnist"].files[0].name
    path = empty_cache / "mnist" / name
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match=f"{name} has SHA-256 .*delete it and run again"):
        cs.data.available("mnist")


def test_a_system_folder_counts_only_with_the_published_bytes(empty_cache, monkeypatch, tmp_path):
    system = tmp_path / "usr-share"
    system.mkdir()
    spec = standard.SETS["mnist"]
    for f in spec.files:
        (system / f.name).write_bytes(b"not the published file")
    monkeypatch.setitem(standard.SETS, "mnist", dataclasses.replace(spec, system=(str(system),)))
    assert not cs.data.available("mnist")


def test_lenet5_mnist_is_the_zoo_lenet5_reading_28x28():
    """One architecture: the bundled 28x28 file differs from the zoo's LeNet-5 only in C1's padding of 2
    (the paper's 28x28 digit in a 32x32 field) and its input shape."""
    ours = yaml.safe_load(example_model(tour.MNIST_MODEL).read_text())
    zoo = yaml.safe_load(cs.zoo.path("lenet5").read_text())
    assert ours["input_shape"] == [1, 28, 28] and zoo["input_shape"] == [1, 32, 32]
    assert ours["layers"][0] == {**zoo["layers"][0], "padding": 2}
    assert ours["layers"][1:] == zoo["layers"][1:]
    x = np.random.default_rng(0).random((2, 1, 28, 28)).astype(np.float32)
    cs.manual_seed(0)
    a = cs.load_model(example_model(tour.MNIST_MODEL))
    b = cs.zoo.load("lenet5")
    b.load_state_dict(a.state_dict())
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    np.testing.assert_allclose(cs.train.predict(a, x), cs.train.predict(b, padded), rtol=1e-5, atol=1e-6)


def test_samples_by_class_takes_the_first_of_each():
    assert tour.samples_by_class(np.array([3, 0, 0, 1, 7, 2, 4, 4])) == [1, 3, 5, 0, 6]
    assert tour.samples_by_class(np.array([2, 2, 1]), classes=3) == [2, 0]
