"""MNIST from the standard IDX files: read from a folder, checked, downloaded only when asked."""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from .download import digest, fetch, split_pin
from .standard import SETS, idx_header

MIRROR = SETS["mnist"].mirrors[0]
FILES = tuple(f.name[:-3] for f in SETS["mnist"].files)
CHECKSUMS = {f.name: split_pin(f.pin)[1] for f in SETS["mnist"].files}  # SHA-256 of the published gzipped files


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
            url = base_url.rstrip("/") + f"/{name}.gz"
            if checksums.get(gz.name) is None:
                raise ValueError(f"mnist: no SHA-256 for {gz.name} to check a download of {url} against")
            try:
                fetch(url, gz, f"sha256:{checksums[gz.name]}", quiet=True)
            except (ConnectionError, ValueError) as err:
                raise type(err)(f"mnist: {err}") from None
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
    got = digest(data, "sha256")
    if got != expected:
        raise ValueError(f"mnist: {path} has SHA-256 {got}, expected {expected}: the file is damaged or not the "
                         "published one; delete it and download again")


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    f = io.BytesIO(data)
    try:
        shape = idx_header(f, name)
    except ValueError as err:
        raise ValueError(f"mnist: {err}") from None
    header = f.tell()
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"mnist: {name} has {len(data)} bytes, its header {shape} needs {expected}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)
