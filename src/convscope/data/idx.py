"""MNIST from the standard IDX files: read from a folder, checked, downloaded only when asked."""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# SHA-256 of the published gzipped files (the same digests TFDS and Keras pin)
CHECKSUMS = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
GZIP_MAGIC = b"\x1f\x8b"


def mnist(root, download: bool = False, *, base_url: str = MIRROR, checksums: dict | None = None):
    """(x_train (60000, 1, 28, 28) float32 in [0, 1], y_train, x_test, y_test) from IDX files in `root`.

    Each file may be gzipped (`name.gz`, checked against its SHA-256) or raw (`name`, checked by its
    IDX header). Missing files are downloaded from `base_url` only with `download=True`; a download
    is verified before it is renamed into place, so a failed one leaves no file behind.
    """
    root = Path(root)
    checksums = CHECKSUMS if checksums is None else checksums
    arrays = []
    for name in FILES:
        gz, raw = root / f"{name}.gz", root / name
        if not gz.exists() and not raw.exists():
            if not download:
                raise FileNotFoundError(f"mnist: neither {gz} nor {raw} exists; put the IDX files there or "
                                        f"call mnist({str(root)!r}, download=True)")
            _download(base_url.rstrip("/") + f"/{name}.gz", gz, checksums.get(gz.name))
        if gz.exists():
            data = gz.read_bytes()
            _check_digest(gz, data, checksums.get(gz.name))
            data = gzip.decompress(data)
        else:
            data = raw.read_bytes()
        arrays.append(_parse_idx(data, raw.name))
    x_train, y_train, x_test, y_test = arrays
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(f"mnist: {len(x_train)} train images but {len(y_train)} labels, "
                         f"{len(x_test)} test images but {len(y_test)} labels")
    scale = lambda a: (a.astype(np.float32) / 255.0)[:, None]  # noqa: E731
    return scale(x_train), y_train.astype(np.int64), scale(x_test), y_test.astype(np.int64)


def _check_digest(path: Path, data: bytes, expected: str | None) -> None:
    if expected is None:
        return
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise ValueError(f"mnist: {path} has SHA-256 {got}, expected {expected}: the file is damaged or not "
                         "the published one; delete it and download again")


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    """IDX: 2 zero bytes, a type code (0x08 = unsigned byte), the number of dims, then big-endian sizes."""
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"mnist: {name} is not an unsigned-byte IDX file (header {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"mnist: {name} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"mnist: {name} has {len(data)} bytes, its header {shape} needs {expected}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _download(url: str, path: Path, expected: str | None) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            kind = response.headers.get("Content-Type", "")
            data = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise ConnectionError(f"mnist: downloading {url} failed: {err}") from None
    if not data.startswith(GZIP_MAGIC):
        what = "an HTML page" if "html" in kind or data.lstrip()[:1] == b"<" else f"{len(data)} bytes of {kind or 'data'}"
        raise ValueError(f"mnist: {url} returned {what}, not a gzip file; nothing was saved")
    _check_digest(path, data, expected)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
