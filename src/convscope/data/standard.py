"""Standard data sets by name (MNIST, Fashion-MNIST, CIFAR-10), downloaded once into a cache folder.

`load(name)` finds each published file in the cache folder ($CONVSCOPE_DATA/<name>, by default
~/.cache/convscope/<name>), else where a system package installs it, else downloads it; checks it
against its pin; unpacks the set once into uint8 .npy files; and returns their memory maps wrapped
so that indexing a batch gives float32 in [0, 1]. Nothing is read as a whole: training touches only
the rows of each batch.
"""
from __future__ import annotations

import gzip
import os
import tarfile
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .download import fetch, matches, mismatch

PARTS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Published:
    """One file as its publisher serves it."""
    name: str
    pin: str                    # "sha256:..." / "md5:..." of the file as published
    unpacked: str | None = None  # "sha256:..." of its gunzipped bytes: a system package may compress it anew


@dataclass(frozen=True)
class Standard:
    name: str
    mirrors: tuple[str, ...]
    files: tuple[Published, ...]
    unpack: Callable  # (paths of the published files, folder) -> writes the PARTS as .npy
    classes: tuple[str, ...]
    system: tuple[str, ...] = ()  # folders where a system package puts the published files


class Images:
    """uint8 images (N, C, H, W), memory-mapped, read as float32 in [0, 1] one index (batch) at a time.

    Has the array attributes training uses (len, shape, dtype, indexing); `np.asarray` converts all.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, raw: np.ndarray):
        self.raw = raw

    shape = property(lambda self: self.raw.shape)
    ndim = property(lambda self: self.raw.ndim)

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, key) -> np.ndarray:
        return np.divide(np.asarray(self.raw[key]), np.float32(255), dtype=np.float32)

    def __array__(self, dtype=None, copy=None):
        return self[:] if dtype is None else self[:].astype(dtype)

    def __repr__(self) -> str:
        return f"Images({self.shape}, uint8 read as float32 / 255)"


def rows(a):
    """An array as training reads it: Images stay lazy, anything else becomes a NumPy array."""
    return a if isinstance(a, Images) else np.asarray(a)


def data_home() -> Path:
    """$CONVSCOPE_DATA, else $XDG_CACHE_HOME/convscope, else ~/.cache/convscope."""
    if os.environ.get("CONVSCOPE_DATA"):
        return Path(os.environ["CONVSCOPE_DATA"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "convscope"


def load(name: str, *, download: bool = True, quiet: bool = False):
    """(x_train, y_train, x_test, y_test) of a standard set: x `Images` (N, C, H, W), y int64 labels.

    `download=False` never uses the network; `quiet=True` draws no progress bar. E.g.
    `x_train, y_train, x_test, y_test = load("fashion-mnist")`.
    """
    spec, folder = _named(name), data_home() / name
    if not _unpacked(folder):
        paths = {f.name: _locate(spec, f, folder, download, quiet) for f in spec.files}
        spec.unpack(paths, folder)
    x_train, x_test = (Images(np.load(folder / f"{p}.npy", mmap_mode="r")) for p in ("x_train", "x_test"))
    y_train, y_test = (np.load(folder / f"{p}.npy").astype(np.int64) for p in ("y_train", "y_test"))
    return x_train, y_train, x_test, y_test


def available(name: str) -> bool:
    """Whether `load(name)` finds the set without the network: unpacked in the cache folder, or every
    published file there (a damaged one raises load's ValueError naming it) or, verified, in a
    system package's folder."""
    spec, folder = _named(name), data_home() / name
    if _unpacked(folder):
        return True
    try:
        for f in spec.files:
            _locate(spec, f, folder, download=False, quiet=True)
    except FileNotFoundError:
        return False
    return True


def _named(name: str) -> Standard:
    if name not in SETS:
        raise ValueError(f"data set {name!r}: not one of {', '.join(SETS)}")
    return SETS[name]


def _unpacked(folder: Path) -> bool:
    return all((folder / f"{p}.npy").exists() for p in PARTS)


def by_hand(spec: Standard, folder: Path) -> str:
    names = ", ".join(f"{f.name} ({f.pin})" for f in spec.files)
    return f"put {names} in {folder} by hand"


def _locate(spec: Standard, f: Published, folder: Path, download: bool, quiet: bool) -> Path:
    """The verified published file: in the cache, in a system package's folder, or downloaded."""
    for place in (folder, *map(Path, spec.system)):
        path = place / f.name
        if path.exists():
            ok, got = _verified(path, f)
            if ok:
                return path
            if place == folder:
                raise ValueError(f"{spec.name}: {mismatch(path, f.pin, got)}: the file is damaged or not the "
                                 "published one; delete it and run again")
    if not download:
        raise FileNotFoundError(f"{spec.name}: {f.name} is not in {folder}; {by_hand(spec, folder)}")
    failed = None
    for mirror in spec.mirrors:
        try:
            return fetch(mirror + f.name, folder / f.name, f.pin, quiet=quiet)
        except ConnectionError as err:
            failed = failed or err
    raise ConnectionError(f"{spec.name}: {failed}; {by_hand(spec, folder)}") from None


def _verified(path: Path, f: Published) -> tuple[bool, str]:
    ok, got = matches(path, f.pin)
    if not ok and f.unpacked:
        ok = matches(path, f.unpacked, opener=gzip.open)[0]
    return ok, got


@contextmanager
def _saving(folder: Path, part: str, shape):
    """A memory-mapped uint8 array to fill, renamed to PART.npy only when the block ends without error."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{part}.", suffix=".npy")
    os.close(fd)
    os.chmod(tmp, 0o644)  # a cache others may share: readable like any downloaded file, not mkstemp's 0600
    try:
        out = np.lib.format.open_memmap(tmp, "w+", np.uint8, shape)
        yield out
        out.flush()
        del out
        os.replace(tmp, folder / f"{part}.npy")  # several processes may unpack at once: each renames a whole file
    finally:
        Path(tmp).unlink(missing_ok=True)


# ------------------------------------------------------------------------------ IDX (MNIST's format)

def _unpack_idx(paths: dict, folder: Path) -> None:
    for part, name in zip(PARTS, _MNIST_FILES):
        with gzip.open(paths[name], "rb") as f:
            shape = idx_header(f, name)
            if part.startswith("x"):
                shape = (shape[0], 1, *shape[1:])  # (N, H, W) -> (N, 1, H, W)
            with _saving(folder, part, shape) as out:
                _read_into(f, out, name)


def idx_header(f, name: str) -> tuple:
    """IDX: 2 zero bytes, a type code (0x08 = unsigned byte), the number of dims, then big-endian sizes."""
    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] != 0x08:
        raise ValueError(f"{name} is not an unsigned-byte IDX file (header {head.hex()})")
    sizes = f.read(4 * head[3])
    if len(sizes) < 4 * head[3]:
        raise ValueError(f"{name} is truncated inside its header")
    return tuple(int.from_bytes(sizes[i:i + 4], "big") for i in range(0, len(sizes), 4))


def _read_into(f, out: np.ndarray, name: str) -> None:
    flat = out.reshape(-1)
    n = f.readinto(memoryview(flat))
    if n != flat.size or f.read(1):
        raise ValueError(f"{name}: {n} data bytes do not match the {out.shape} of its header")


# ------------------------------------------------------------------------------ CIFAR-10 (binary version)

CIFAR_RECORD = 1 + 3 * 32 * 32  # a label byte, then the red, green and blue 32x32 planes


def _unpack_cifar(paths: dict, folder: Path) -> None:
    archive = paths["cifar-10-binary.tar.gz"]
    batches = [f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)] + ["cifar-10-batches-bin/test_batch.bin"]
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.name in batches}
        for name in batches:
            if name not in members or members[name].size % CIFAR_RECORD:
                raise ValueError(f"cifar10: {archive} lacks {name}, or it is not whole {CIFAR_RECORD}-byte records")
        count = {s: sum(members[b].size // CIFAR_RECORD for b in batches if (b[-14:] == "test_batch.bin") == (s == "test"))
                 for s in ("train", "test")}
        with ExitStack() as stack:
            out = {p: stack.enter_context(_saving(folder, p, (count[p[2:]], 3, 32, 32) if p[0] == "x" else (count[p[2:]],)))
                   for p in PARTS}
            start = {"train": 0, "test": 0}
            for name in batches:  # in archive order for the train batches, as CIFAR's authors number them
                split = "test" if name.endswith("test_batch.bin") else "train"
                records = np.frombuffer(tar.extractfile(members[name]).read(), np.uint8).reshape(-1, CIFAR_RECORD)
                rows = slice(start[split], start[split] + len(records))
                out[f"x_{split}"][rows] = records[:, 1:].reshape(-1, 3, 32, 32)  # red, green, blue planes
                out[f"y_{split}"][rows] = records[:, 0]
                start[split] = rows.stop


_MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz")
# SHA-256 of the published MNIST files (the digests TFDS and Keras pin)
_MNIST_PINS = ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
               "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
               "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
               "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")
# Fashion-MNIST: the MD5s its publisher (and torchvision) pin, and SHA-256 of the gunzipped IDX bytes
_FASHION_PINS = (("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
                 ("25c81989df183df01b3e8a0aad5dffbe", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
                 ("bef4ecab320f06d8554ea6380940ec79", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                 ("bb300cfdad3c16e7a12a480ee83cd310", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"))

SETS = {
    "mnist": Standard(
        "mnist", ("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        tuple(Published(n, f"sha256:{p}") for n, p in zip(_MNIST_FILES, _MNIST_PINS)),
        _unpack_idx, tuple(str(d) for d in range(10))),
    "fashion-mnist": Standard(
        "fashion-mnist", ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        tuple(Published(n, f"md5:{m}", f"sha256:{s}") for n, (m, s) in zip(_MNIST_FILES, _FASHION_PINS)),
        _unpack_idx, ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
        system=("/usr/share/datasets/fashion-mnist",)),  # Debian's dataset-fashion-mnist package
    "cifar10": Standard(
        "cifar10", ("https://www.cs.toronto.edu/~kriz/",),
        # the binary version (fixed-size records, no pickle); MD5 as its authors publish it
        (Published("cifar-10-binary.tar.gz", "md5:c32a1d4ab5d03f1284b67883e8d87530"),),
        _unpack_cifar, ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
}
