"""Your own data: a folder of images (one sub-folder per class) or a .npz file of arrays.

Both come back as (x_train, y_train, x_test, y_test) like the bundled sets, with x float32 and
channels-first. Large data is not read into memory: an uncompressed .npz member that is already
float32 is memory-mapped where it lies in the file, and an image folder is decoded once, one image
at a time, into a float32 .npy cache that is memory-mapped. Training then reads only the rows of
each batch (`x[idx]`), whatever the engine.
"""
from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .bundled import DATASETS
from .standard import SETS, data_home, load

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
TEST_FRACTION = 0.2
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def load_data(spec: str, input_shape=None, *, seed: int = 0, quiet: bool = False):
    """(x_train, y_train, x_test, y_test) for a bundled set's name, an image folder or a .npz file.

    Args:
        spec: a bundled set ("digits", "mnist1d", "translated_digits"), a standard one ("mnist",
            "fashion-mnist", "cifar10": downloaded once, see `load`), a folder of class sub-folders, or FILE.npz.
        input_shape: one sample's shape (C, H, W); image folders are converted to it, arrays checked.
        seed: the train/test split of an image folder without train/ and test/ sub-folders.
        quiet: no download progress bar.
    """
    if spec in DATASETS:
        return DATASETS[spec]()
    if spec in SETS:
        return load(spec, quiet=quiet)
    path = Path(spec)
    if path.is_dir():
        return image_folder(path, input_shape, seed=seed)
    if path.suffix == ".npz":
        return npz_file(path, input_shape)
    raise ValueError(f"--data {spec!r}: not a bundled data set ({', '.join(DATASETS)}), a standard one ({', '.join(SETS)}), an existing folder of "
                     "class sub-folders, or a .npz file")


# ------------------------------------------------------------------------------ .npz

def npz_file(path, input_shape=None):
    """Arrays x and y (and optionally x_test, y_test) from a .npz file.

    Without x_test the last 20% of the rows are the test set (as Keras' validation_split), so a
    memory-mapped file is split without reading it; shuffle the rows before saving if they are sorted.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            names = {Path(n).stem: n for n in zf.namelist() if n.endswith(".npy")}
            for need in ("x", "y"):
                if need not in names:
                    raise ValueError(f"{path}: no array {need!r} (found: {', '.join(sorted(names)) or 'none'}); "
                                     "save with np.savez(file, x=images, y=labels)")
            arrays = {k: _member(path, zf, names[k]) for k in ("x", "y", "x_test", "y_test") if k in names}
    except (zipfile.BadZipFile, OSError, EOFError, struct.error) as err:
        raise ValueError(f"{path}: not a readable .npz file ({err})") from None
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise ValueError(f"{path}: has one of x_test / y_test but not the other")
    x, y = _images(path, "x", arrays["x"], input_shape), _labels(path, "y", arrays["y"], len(arrays["x"]))
    if "x_test" in arrays:
        xt = _images(path, "x_test", arrays["x_test"], input_shape)
        return x, y, xt, _labels(path, "y_test", arrays["y_test"], len(xt))
    n_train = len(x) - int(round(len(x) * TEST_FRACTION))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _member(path: Path, zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """A .npz member: memory-mapped when stored uncompressed, else read (it must be inflated anyway)."""
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        with zf.open(name) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)  # the local file header: its name and extra-field lengths are at bytes 26-29
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"{path}: array {Path(name).stem!r} uses .npy format {version}, not 1.0 or 2.0")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(f"{path}: array {Path(name).stem!r} holds Python objects (only numeric arrays are read)")
    return np.memmap(path, dtype, "r", offset, shape, "F" if fortran else "C")


def _images(path, key: str, x: np.ndarray, input_shape) -> np.ndarray:
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{path}: {key} has dtype {x.dtype}, not a number type")
    if input_shape and x.ndim == len(input_shape) and input_shape[0] == 1:
        x = x.reshape(len(x), 1, *x.shape[1:])  # (N, H, W) -> (N, 1, H, W): a view, even of a memmap
    if input_shape and tuple(x.shape[1:]) != tuple(input_shape):
        raise ValueError(f"{path}: {key} has samples of shape {tuple(x.shape[1:])}, the model takes "
                         f"{tuple(input_shape)} (channels first)")
    if x.dtype == np.float32:
        return x  # a memmap stays one: batches are read on demand
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    return (np.asarray(x, np.float32) / np.float32(scale)).astype(np.float32, copy=False)


def _labels(path, key: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != n:
        raise ValueError(f"{path}: {key} must be {n} integer class labels, got shape {y.shape} dtype {y.dtype}")
    if n and int(np.min(y)) < 0:
        raise ValueError(f"{path}: {key} has a negative label {int(np.min(y))}")
    return np.asarray(y, np.int64)


# ------------------------------------------------------------------------------ image folders

def image_folder(root, input_shape, *, seed: int = 0, cache_dir=None):
    """Images in ROOT/<class>/*.png (torchvision's ImageFolder layout), or ROOT/train/<class>/ and
    ROOT/test/<class>/, converted to the model's channels and size, scaled to [0, 1].

    Classes are the sorted sub-folder names (label 0, 1, ...). Without train/ and test/ a seeded 20%
    of the images is the test set. The decoded images go to a memory-mapped float32 cache keyed by
    the files, their sizes and times, and the shape, so a second run reads nothing twice.
    """
    root = Path(root)
    if not input_shape or len(input_shape) != 3 or input_shape[0] not in _MODES:
        raise ValueError(f"{root}: an image folder needs the model file's input_shape [C, H, W] with C in 1, 3 "
                         f"or 4 (got {input_shape})")
    if (root / "train").is_dir() and (root / "test").is_dir():
        train, classes = _listing(root / "train")
        test, test_classes = _listing(root / "test")
        if test_classes != classes:
            raise ValueError(f"{root}: train/ has classes {classes}, test/ has {test_classes}")
    else:
        files, classes = _listing(root)
        order = np.random.default_rng(seed).permutation(len(files))
        n_test = int(round(len(files) * TEST_FRACTION))
        test, train = [files[i] for i in order[:n_test]], [files[i] for i in order[n_test:]]
    every = train + test
    x = _decoded(every, tuple(input_shape), Path(cache_dir) if cache_dir else data_home())
    y = np.array([label for _, label in every], np.int64)
    n = len(train)
    return x[:n], y[:n], x[n:], y[n:]


def _listing(folder: Path):
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = [(f, label) for label, c in enumerate(classes) for f in sorted((folder / c).iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ValueError(f"{folder}: no images in class sub-folders (expected {folder}/<class>/<image>"
                         f"{'|'.join(IMAGE_SUFFIXES[:3])}...)")
    return files, classes


def _decoded(files, shape, cache: Path) -> np.ndarray:
    key = hashlib.sha256(repr(shape).encode())
    for f, label in files:
        st = f.stat()
        key.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}|{label}\n".encode())
    target = cache / f"images-{key.hexdigest()[:20]}.npy"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            out = np.lib.format.open_memmap(tmp, "w+", np.float32, (len(files), *shape))
            for i, (f, _) in enumerate(files):
                out[i] = read_image(f, shape)
            out.flush()
            del out
            os.replace(tmp, target)  # several processes may decode at once: each renames a whole file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return np.load(target, mmap_mode="r")


def read_image(path, shape) -> np.ndarray:
    """One image file as float32 (C, H, W) in [0, 1], converted to `shape`'s channels (1 grey, 3 RGB,
    4 RGBA) and resized to its height and width (bilinear)."""
    from PIL import Image, UnidentifiedImageError

    channels, height, width = shape
    try:
        with Image.open(Path(path)) as img:
            img = img.convert(_MODES[channels]).resize((width, height), Image.BILINEAR)
            a = np.asarray(img, np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None
    return a[None] if channels == 1 else a.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
