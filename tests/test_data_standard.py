"""Standard data sets by name: files in the published formats served by a local HTTP server that
behaves well, drops the connection mid-file, ignores Range, serves wrong bytes, or is down."""
import dataclasses
import gzip
import hashlib
import http.server
import io
import socket
import tarfile
import threading

import numpy as np
import pytest

import convscope as cs
from convscope.data import standard
from convscope.data.standard import Published
from convscope.train import predict

from .test_data import idx_bytes

IDX_NAMES = [f.name for f in standard.SETS["mnist"].files]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _cifar_archive(rng) -> tuple[bytes, dict]:
    """A CIFAR-10 binary archive: a tar.gz of 6 batch files of records (a label byte, 3072 pixel bytes)."""
    n = 4  # records per batch file (10000 in the real one)
    x = {"train": rng.integers(0, 256, (5 * n, 3, 32, 32), dtype=np.uint8), "test": rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)}
    y = {s: rng.integers(0, 10, len(a), dtype=np.uint8) for s, a in x.items()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        names = [(f"data_batch_{i + 1}.bin", "train", i) for i in range(5)] + [("test_batch.bin", "test", 0)]
        for name, split, i in reversed(names):  # any member order
            rows = slice(i * n, (i + 1) * n)
            data = np.concatenate([y[split][rows, None], x[split][rows].reshape(n, -1)], axis=1).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), {"x_train": x["train"], "y_train": y["train"], "x_test": x["test"], "y_test": y["test"]}


@pytest.fixture(scope="module")
def published():
    """Served files and expected arrays: tiny sets in MNIST's and CIFAR-10's formats."""
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), "y_train": rng.integers(0, 10, 50, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), "y_test": rng.integers(0, 10, 20, dtype=np.uint8)}
    files = {name: gzip.compress(idx_bytes(arrays[part]), mtime=0) for name, part in zip(IDX_NAMES, standard.PARTS)}
    cifar, cifar_arrays = _cifar_archive(rng)
    files["cifar-10-binary.tar.gz"] = cifar
    arrays = {k: v[:, None] if k.startswith("x") else v for k, v in arrays.items()}
    return files, {"mnist": arrays, "cifar10": cifar_arrays}


class _Handler(http.server.BaseHTTPRequestHandler):
    """/ok/NAME serves the file (honouring Range); /drop/NAME sends half of it then closes the
    connection the first time; /norange/ does too and ignores Range after; /wrong/ flips a byte."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        server = self.server
        server.requests.append((mode, name, self.headers.get("Range")))
        data = server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        if mode == "wrong":
            data = bytes([data[0] ^ 1]) + data[1:]
        start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") and mode != "norange" else 0
        first = (mode, name) not in server.dropped and mode in ("drop", "norange")
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if first:
            server.dropped.add((mode, name))
            self.wfile.write(data[start:start + (len(data) - start) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(data[start:])


@pytest.fixture
def server(published):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.dropped = published[0], [], set()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _pin(monkeypatch, published, url, name="mnist", *, system=(), pins=None):
    """Point a standard set at the local server, with the served files' digests as its pins."""
    files = published[0]
    spec = standard.SETS[name]
    pinned = tuple(Published(f.name, (pins or {}).get(f.name, _sha256(files[f.name]))) for f in spec.files)
    monkeypatch.setitem(standard.SETS, name, dataclasses.replace(spec, mirrors=(url,), files=pinned, system=system))


def _check(loaded, expected):
    x_train, y_train, x_test, y_test = loaded
    for x, want in ((x_train, expected["x_train"]), (x_test, expected["x_test"])):
        assert isinstance(x, cs.data.Images) and isinstance(x.raw, np.memmap) and x.raw.dtype == np.uint8
        assert x.shape == want.shape and x.dtype == np.float32
        idx = np.array([len(want) - 1, 0, 3])
        np.testing.assert_array_equal(x[idx], want[idx].astype(np.float32) / np.float32(255))
        np.testing.assert_array_equal(x.raw, want)
    for y, want in ((y_train, expected["y_train"]), (y_test, expected["y_test"])):
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_downloads_once_then_reads_the_cache(server, published, home, monkeypatch, name):
    httpd, url = server
    _pin(monkeypatch, published, url + "ok/", name)
    _check(cs.data.load(name, quiet=True), published[1][name])
    served = len(httpd.requests)
    assert served == len(standard.SETS[name].files)
    _check(cs.data.load(name, quiet=True), published[1][name])
    assert len(httpd.requests) == served  # the second call reads the cache only
    assert not list(home.glob(f"{name}/*.part")) and not list(home.glob(f"{name}/.*"))


def test_a_dropped_connection_resumes_with_range(server, published, home, monkeypatch):
    httpd, url = server
    _pin(monkeypatch, published, url + "drop/")
    _check(cs.data.load("mnist", quiet=True), published[1]["mnist"])
    for name in IDX_NAMES:  # each file: a first request cut at half, then one asking for the rest
        asked = [r for m, n, r in httpd.requests if n == name]
        assert asked == [None, f"bytes={len(published[0][name]) // 2}-"]


def test_a_server_ignoring_range_is_read_again_from_the_start(server, published, home, monkeypatch):
    httpd, url = server
    _pin(monkeypatch, published, url + "norange/")
    _check(cs.data.load("mnist", quiet=True), published[1]["mnist"])
    assert len(httpd.requests) == 2 * len(IDX_NAMES)


def test_wrong_bytes_are_refused_and_nothing_is_kept(server, published, home, monkeypatch):
    _, url = server
    _pin(monkeypatch, published, url + "wrong/")
    with pytest.raises(ValueError, match="has SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}: the server sent other bytes"):
        cs.data.load("mnist", quiet=True)
    assert not home.exists() or not [p for p in home.rglob("*") if p.is_file()]


def test_offline_says_which_url_failed_and_what_to_put_where(published, home, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/"
    _pin(monkeypatch, published, url)
    with pytest.raises(ConnectionError) as err:
        cs.data.load("mnist", quiet=True)
    message = str(err.value)
    assert "\n" not in message and f"downloading {url}train-images-idx3-ubyte.gz failed" in message
    assert f"in {home / 'mnist'} by hand" in message
    for f in standard.SETS["mnist"].files:
        assert f"{f.name} ({f.pin})" in message


def test_files_put_by_hand_or_by_a_system_package(published, home, monkeypatch, tmp_path):
    files, expected = published
    folder = home / "mnist"
    folder.mkdir(parents=True)
    for name in IDX_NAMES[:2]:  # two in the cache folder, two in a system package's (compressed anew)
        (folder / name).write_bytes(files[name])
    system = tmp_path / "usr-share"
    system.mkdir()
    for name in IDX_NAMES[2:]:
        (system / name).write_bytes(gzip.compress(gzip.decompress(files[name]), compresslevel=1, mtime=12345))
    unpacked = {n: _sha256(gzip.decompress(files[n])) for n in IDX_NAMES}
    spec = standard.SETS["mnist"]
    monkeypatch.setitem(standard.SETS, "mnist", dataclasses.replace(
        spec, mirrors=("http://127.0.0.1:9/",), system=(str(system),),
        files=tuple(Published(n, _sha256(files[n]), unpacked[n]) for n in IDX_NAMES)))
    _check(cs.data.load("mnist", download=False), expected["mnist"])


def test_a_damaged_cached_file_is_named(published, home, monkeypatch, tmp_path):
    files = published[0]
    _pin(monkeypatch, published, "http://127.0.0.1:9/")
    (home / "mnist").mkdir(parents=True)
    (home / "mnist" / IDX_NAMES[0]).write_bytes(files[IDX_NAMES[0]][:-1])
    with pytest.raises(ValueError, match=f"mnist: .*{IDX_NAMES[0]} has SHA-256 .*delete it and run again"):
        cs.data.load("mnist")
    with pytest.raises(FileNotFoundError, match=f"{IDX_NAMES[1]} is not in .*; put .* by hand"):
        (home / "mnist" / IDX_NAMES[0]).write_bytes(files[IDX_NAMES[0]])
        cs.data.load("mnist", download=False)
    with pytest.raises(ValueError, match="data set 'imagenet': not one of mnist, fashion-mnist, cifar10"):
        cs.data.load("imagenet")


def test_training_reads_batches_of_the_memory_map(server, published, home, monkeypatch):
    """fit and predict index the uint8 map batch by batch; the result is the float32 array's."""
    _, url = server
    _pin(monkeypatch, published, url + "ok/")
    x_train, y_train, x_test, y_test = cs.data.load("mnist", quiet=True)
    monkeypatch.setattr(cs.data.Images, "__array__", lambda *a, **k: pytest.fail("converted whole"))
    results = []
    for x, xt in ((x_train, x_test), (x_train[:], x_test[:])):
        cs.manual_seed(0)
        model = cs.nn.Sequential(cs.nn.Conv2d(1, 4, 5, stride=3), cs.nn.ReLU(), cs.nn.Flatten(), cs.nn.Linear(256, 10))
        history = cs.fit(model, (x, y_train), (xt, y_test), epochs=1, batch_size=16, quiet=True)
        results.append((history.epochs[-1]["val_loss"], predict(model, xt)))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_convscope_train_data_by_name(server, published, home, monkeypatch, tmp_path, capsys):
    from convscope import cli

    _, url = server
    _pin(monkeypatch, published, url + "ok/")
    argv = ["train", "cnn_fashion", "--data", "mnist", "--epochs", "1", "--quiet", "--out", str(tmp_path / "runs")]
    assert cli.main(argv) == 0
    assert "training cnn_fashion on mnist: 50 train / 20 test samples" in capsys.readouterr().out
    assert (tmp_path / "runs" / "cnn_fashion" / "model.safetensors").exists()
