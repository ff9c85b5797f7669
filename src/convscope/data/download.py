"""Downloading one file: resumed where a dropped connection left it, checked, then renamed into place.

A pin is "sha256:<hex>" or "md5:<hex>" (MD5 only where the publisher gives nothing stronger). Bytes
arrive in `<file>.part` next to the target; a dropped connection keeps them and the next attempt asks
for the rest (HTTP Range), a server that ignores the Range header is read again from the start, and
only a complete file whose digest matches is renamed to its name, so a file under its own name is
always whole and verified.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

ATTEMPTS = 3
CHUNK = 1 << 16
_ALGORITHMS = {"sha256": "SHA-256", "md5": "MD5"}


def digest(data_or_file, algorithm: str) -> str:
    """The hex digest of bytes, or of a binary file object read to its end."""
    h = hashlib.new(algorithm)
    if isinstance(data_or_file, (bytes, bytearray, memoryview)):
        h.update(data_or_file)
    else:
        while block := data_or_file.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def matches(path: Path, pin: str, *, opener=open) -> tuple[bool, str]:
    """(whether the file's digest is the pin's, the digest found); `opener` may be gzip.open."""
    algorithm, want = split_pin(pin)
    with opener(path, "rb") as f:
        got = digest(f, algorithm)
    return got == want, got


def split_pin(pin: str) -> tuple[str, str]:
    algorithm, _, value = pin.partition(":")
    if algorithm not in _ALGORITHMS or not value:
        raise ValueError(f"checksum {pin!r}: expected 'sha256:<hex>' or 'md5:<hex>'")
    return algorithm, value.lower()


def mismatch(path: Path, pin: str, got: str) -> str:
    algorithm, want = split_pin(pin)
    return f"{path} has {_ALGORITHMS[algorithm]} {got}, expected {want}"


def fetch(url: str, dest: Path, pin: str, *, quiet: bool = False, timeout: float = 60.0) -> Path:
    """Download `url` to `dest`, resuming a partial `.part` file; verify it against `pin`, then rename.

    Raises:
        ConnectionError: the server could not be reached, answered with an error, or dropped the
            connection ATTEMPTS times (the bytes received are kept for the next call).
        ValueError: the server sent a web page, or bytes whose digest is not the pin (deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _receive(url, part, quiet, timeout)
            break
        except urllib.error.HTTPError as err:
            if err.code == 416:  # the part is not a prefix of this file (it is as long or longer): start over
                part.unlink(missing_ok=True)
                continue
            raise ConnectionError(f"downloading {url} failed: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            if attempt == ATTEMPTS:
                raise ConnectionError(f"downloading {url} failed: {getattr(err, 'reason', None) or err!r}") from None
    ok, got = matches(part, pin)
    if not ok:
        part.unlink()
        raise ValueError(f"{mismatch(dest, pin, got)}: the server sent other bytes than the published file; "
                         "nothing was saved")
    os.replace(part, dest)
    return dest


def _receive(url: str, part: Path, quiet: bool, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if "html" in response.headers.get("Content-Type", ""):
            part.unlink(missing_ok=True)
            raise ValueError(f"{url} returned an HTML page, not the file {part.name[:-5]}; nothing was saved")
        if have and response.status != 206:
            have = 0  # the server ignored the Range header: the whole file comes again
        size = response.headers.get("Content-Length")
        total = have + int(size) if size else None
        with open(part, "ab" if have else "wb") as f, _bar(part.name[:-5], total, have, quiet) as advance:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                advance(len(chunk))
            if total is not None and f.tell() < total:  # http.client ends a cut body quietly: count the bytes
                raise http.client.IncompleteRead(b"", total - f.tell())


class _bar:
    """A rich progress bar on stderr (bytes, speed, time left), or nothing when quiet."""

    def __init__(self, name: str, total, done: int, quiet: bool):
        self.progress = None
        if not quiet:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                                     transient=True)
            self.task = self.progress.add_task(name, total=total, completed=done)

    def __enter__(self):
        if self.progress is None:
            return lambda n: None
        self.progress.start()
        return lambda n: self.progress.advance(self.task, n)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
