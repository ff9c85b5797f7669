"""Data sets: shapes, fixed splits, and MNIST's IDX reading, checksums and download (from a local server)."""
import functools
import gzip
import hashlib
import http.server
import struct
import threading

import numpy as np
import pytest

import convscope as cs
from convscope.data import idx


def test_digits_fixed_split_shapes_and_range():
    a, b = cs.data.digits(), cs.data.digits()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    x_train, y_train, x_test, y_test = a
    assert x_train.shape == (1438, 1, 8, 8) and x_test.shape == (359, 1, 8, 8)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() == 1.0
    assert set(np.unique(y_train)) == set(range(10))


def test_translated_digits_hold_each_digit_somewhere_on_the_canvas():
    x, y, _, _ = cs.data.translated_digits(canvas=16)
    assert x.shape[1:] == (1, 16, 16)
    from sklearn.datasets import load_digits
    originals = (load_digits().images / 16.0).astype(np.float32)
    for img in x[:50, 0]:  # the ink fits in one 8x8 window, and is exactly some original digit's
        rows, cols = np.nonzero(img)
        assert rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8
        window = img[rows.min():rows.min() + 8, cols.min():cols.min() + 8]
        assert any(_contains(o, window) for o in originals)
    with pytest.raises(ValueError, match="canvas 6 must be at least the digit size 8"):
        cs.data.translated_digits(canvas=6)


def _contains(digit, window):
    """True when `window` (cut at the ink's top-left corner) is `digit` shifted by its blank margin."""
    rows, cols = np.nonzero(digit)
    core = digit[rows.min():, cols.min():]
    return np.array_equal(window[: core.shape[0], : core.shape[1]], core)


def test_mnist1d_is_the_benchmark_split():
    x_train, y_train, x_test, y_test = cs.data.mnist1d()
    assert x_train.shape == (4000, 1, 40) and x_test.shape == (1000, 1, 40)
    assert np.bincount(np.concatenate([y_train, y_test])).tolist() == [500] * 10
    assert abs(float(np.concatenate([x_train, x_test]).std()) - 1) < 1e-3


def idx_bytes(arr):
    return struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


@pytest.fixture
def fake_mnist(tmp_path):
    """A tiny data set in the four IDX files (gzipped), with its own checksums."""
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8)}
    src = tmp_path / "server"
    src.mkdir()
    sums = {}
    for name, arr in arrays.items():
        data = gzip.compress(idx_bytes(arr))
        (src / f"{name}.gz").write_bytes(data)
        sums[f"{name}.gz"] = hashlib.sha256(data).hexdigest()
    return src, arrays, sums


def test_reads_gzipped_and_raw_idx_files(fake_mnist, tmp_path):
    src, arrays, sums = fake_mnist
    x_train, y_train, x_test, y_test = cs.data.mnist(src, checksums=sums)
    np.testing.assert_allclose(x_train[:, 0], arrays["train-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, arr in arrays.items():
        (raw / name).write_bytes(idx_bytes(arr))
    np.testing.assert_array_equal(cs.data.mnist(raw)[1], y_train)


def test_wrong_checksum_missing_files_and_bad_headers(fake_mnist, tmp_path):
    src, arrays, sums = fake_mnist
    with pytest.raises(ValueError, match="has SHA-256 .* expected .*: the file is damaged"):
        cs.data.mnist(src)  # the real MNIST digests do not match the fake files
    with pytest.raises(FileNotFoundError, match="download=True"):
        cs.data.mnist(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in idx.FILES:
        (bad / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(ValueError, match="has 11 bytes, its header \\(9,\\) needs 17"):
        cs.data.mnist(bad)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if "html" in self.path:
            body = b"<html><body>Rate limit exceeded</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture
def server(fake_mnist):
    src = fake_mnist[0]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(src)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_download_verifies_then_saves(server, fake_mnist, tmp_path):
    _, arrays, sums = fake_mnist
    dest = tmp_path / "dl"
    data = cs.data.mnist(dest, download=True, base_url=server, checksums=sums)
    np.testing.assert_array_equal(data[1], arrays["train-labels-idx1-ubyte"])
    assert sorted(p.name for p in dest.iterdir()) == sorted(sums)


def test_failed_downloads_leave_no_file(server, fake_mnist, tmp_path):
    _, _, sums = fake_mnist
    dest = tmp_path / "dl"
    with pytest.raises(ValueError, match="returned an HTML page, not the file train-images-idx3-ubyte.gz; nothing was saved"):
        cs.data.mnist(dest, download=True, base_url=server + "html/", checksums=sums)
    with pytest.raises(ValueError, match="has SHA-256"):
        cs.data.mnist(dest, download=True, base_url=server, checksums={k: "0" * 64 for k in sums})
    with pytest.raises(ConnectionError, match="downloading .* failed"):
        cs.data.mnist(dest, download=True, base_url=server + "missing/", checksums=sums)
    assert not dest.exists() or not any(dest.iterdir())
