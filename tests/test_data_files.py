"""Your own data: .npz files (memory-mapped when stored uncompressed) and image folders, converted
to the model's input shape; bad files give one line naming the file."""
import numpy as np
import pytest
from PIL import Image

import convscope as cs
from convscope.data import files, load_data


def arrays(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 4, 4), dtype=np.float32), rng.integers(0, 3, n)


def test_uncompressed_float32_npz_is_memory_mapped_and_split_like_keras(tmp_path):
    x, y = arrays()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    x_tr, y_tr, x_te, y_te = load_data(str(tmp_path / "d.npz"), (1, 4, 4))
    assert isinstance(x_tr.base, np.memmap) or isinstance(x_tr, np.memmap)
    np.testing.assert_array_equal(np.concatenate([x_tr, x_te]), x)  # the last 20% are the test set
    np.testing.assert_array_equal(np.concatenate([y_tr, y_te]), y)
    assert len(x_te) == 10 and y_tr.dtype == np.int64
    np.testing.assert_array_equal(x_tr[[7, 2]], x[[7, 2]])  # a batch read from the file


def test_compressed_npz_with_a_test_set_and_uint8_images_without_channel_axis(tmp_path):
    rng = np.random.default_rng(1)
    x, xt = rng.integers(0, 256, (8, 5, 5), dtype=np.uint8), rng.integers(0, 256, (3, 5, 5), dtype=np.uint8)
    np.savez_compressed(tmp_path / "d.npz", x=x, y=np.arange(8) % 2, x_test=xt, y_test=np.arange(3) % 2)
    x_tr, y_tr, x_te, y_te = files.npz_file(tmp_path / "d.npz", (1, 5, 5))
    assert x_tr.shape == (8, 1, 5, 5) and x_tr.dtype == np.float32 and x_te.shape == (3, 1, 5, 5)
    np.testing.assert_allclose(x_tr[:, 0], x / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_te, np.arange(3) % 2)


@pytest.mark.parametrize("content, message", [
    (dict(x=np.zeros((4, 1, 4, 4), np.float32)), "no array 'y'"),
    (dict(x=np.zeros((4, 1, 4, 4), np.float32), y=np.zeros(3, np.int64)), "y must be 4 integer class labels"),
    (dict(x=np.zeros((4, 1, 4, 4), np.float32), y=np.zeros(4)), "y must be 4 integer class labels"),
    (dict(x=np.zeros((4, 3, 4, 4), np.float32), y=np.zeros(4, np.int64)), r"samples of shape \(3, 4, 4\), the model takes \(1, 4, 4\)"),
    (dict(x=np.zeros((4, 1, 4, 4), np.float32), y=-np.ones(4, np.int64)), "negative label -1"),
    (dict(x=np.zeros((4, 1, 4, 4), np.float32), y=np.zeros(4, np.int64), x_test=np.zeros((1, 1, 4, 4))),
     "x_test / y_test"),
])
def test_bad_npz_contents_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(ValueError, match=message) as err:
        load_data(str(path), (1, 4, 4))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_file_that_is_not_an_npz_or_a_missing_one_names_the_file(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=f"{path}: not a readable .npz file"):
        load_data(str(path))
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        load_data(str(tmp_path / "nothere.npz"))
    with pytest.raises(ValueError, match="not a bundled data set"):
        load_data("imagenet")


def write_image(path, color, size=(7, 5), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_image_folder_classes_conversion_and_seeded_split(tmp_path):
    colors = {"cat": (200, 10, 30), "dog": (0, 255, 0)}
    for c, color in colors.items():
        for i in range(5):
            write_image(tmp_path / "imgs" / c / f"{i}.png", color)
    (tmp_path / "imgs" / "dog" / "notes.txt").write_text("not an image: skipped by its suffix")
    x_tr, y_tr, x_te, y_te = files.image_folder(tmp_path / "imgs", (1, 3, 4), cache_dir=tmp_path / "cache")
    assert x_tr.shape == (8, 1, 3, 4) and x_te.shape == (2, 1, 3, 4) and x_tr.dtype == np.float32
    gray = {label: (r * 299 + g * 587 + b * 114) / 1000 / 255 for label, (r, g, b) in enumerate(colors.values())}
    for x, y in ((x_tr, y_tr), (x_te, y_te)):  # ITU-R 601-2 luma of a constant image, resized: constant
        for img, label in zip(x, y):
            np.testing.assert_allclose(img, gray[label], atol=1 / 255)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == [0] * 5 + [1] * 5
    again = files.image_folder(tmp_path / "imgs", (1, 3, 4), cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again[1], y_tr)  # same seed, same split
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # decoded once


def test_image_folder_with_train_and_test_and_rgb_conversion(tmp_path):
    for part, n in (("train", 3), ("test", 2)):
        for c, value in (("a", 40), ("b", 220)):
            for i in range(n):
                write_image(tmp_path / part / c / f"{i}.jpg" if part == "test" else tmp_path / part / c / f"{i}.png",
                            value, size=(9, 9), mode="L")
    x_tr, y_tr, x_te, y_te = files.image_folder(tmp_path, (3, 4, 4), cache_dir=tmp_path / ".cache")
    assert x_tr.shape == (6, 3, 4, 4) and x_te.shape == (4, 3, 4, 4)
    assert y_tr.tolist() == [0, 0, 0, 1, 1, 1] and y_te.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(x_tr[0], 40 / 255, atol=1 / 255)  # gray to RGB repeats the value
    np.testing.assert_allclose(x_te[-1], 220 / 255, atol=2 / 255)


def test_bad_images_and_folders_give_one_line(tmp_path):
    write_image(tmp_path / "ok" / "a" / "0.png", (1, 2, 3))
    (tmp_path / "ok" / "a" / "1.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=r"1\.png: not a readable image") as err:
        files.image_folder(tmp_path / "ok", (1, 4, 4), cache_dir=tmp_path / "cache")
    assert "\n" not in str(err.value) and not list((tmp_path / "cache").glob("*"))  # no half-written cache
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images in class sub-folders"):
        files.image_folder(tmp_path / "empty", (1, 4, 4), cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=r"needs the model file's input_shape \[C, H, W\]"):
        files.image_folder(tmp_path / "ok", None)


def test_train_command_on_an_image_folder_with_the_numpy_engine(tmp_path, monkeypatch):
    from convscope import cli

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for c, color in (("dark", 20), ("light", 230)):
        for i in range(6):
            write_image(tmp_path / "imgs" / c / f"{i}.png", color + i, mode="L", size=(8, 8))
    model = tmp_path / "m.yaml"
    model.write_text("name: tiny\ninput_shape: [1, 6, 6]\nlayers:\n"
                     "  - {type: Conv2d, name: conv1, in_channels: 1, out_channels: 2, kernel_size: 3}\n"
                     "  - {type: Flatten}\n  - {type: Linear, in_features: 32, out_features: 2}\n")
    assert cli.main(["train", str(model), "--data", str(tmp_path / "imgs"), "--epochs", "3", "--batch-size", "4",
                     "--lr", "0.05", "--quiet", "--out", str(tmp_path / "runs")]) == 0
    run = cs.load_run(tmp_path / "runs" / "tiny")
    losses = [e["loss"] for e in run.history["epochs"]]
    assert run.facts["data"] == str(tmp_path / "imgs") and len(losses) == 3 and losses[-1] < losses[0]
    assert cli.main(["draw", "maps", str(run.path), "-o", str(tmp_path / "maps.png")]) == 0  # a test image
    assert (tmp_path / "maps.png").stat().st_size > 0
