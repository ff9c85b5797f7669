"""The PyTorch engine against the NumPy engine, DistributedDataParallel (2 gloo ranks on loopback)
against one process, cross-engine resume, Ctrl-C and failing ranks, and the command's messages."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convscope as cs
from convscope.scale import TorchEngine, fit_torch, processes

torch = pytest.importorskip("torch")  # a test extra: CI always has it
nn = cs.nn
TIMEOUT = 90  # seconds: a broken collective fails the test instead of hanging the suite
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)


def tiny_data(n=45, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].sum(axis=(1, 2)) > 0).astype(np.int64) + 2 * (x[:, 0, :, :2].sum(axis=(1, 2)) > 0)
    return x, y


def tiny_model(seed=0):
    cs.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 4))


def assert_close(a, b, tol):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_torch_engine_gives_the_numpy_engines_losses_from_the_same_weights(optimizer):
    ours, theirs = tiny_model(), tiny_model()
    kw = dict(epochs=2, lr=0.01, batch_size=10, optimizer=optimizer, quiet=True, seed=5)
    h_np = cs.fit(ours, tiny_data(), tiny_data(20, 1), **kw)
    h_pt = fit_torch(theirs, tiny_data(), tiny_data(20, 1), **kw)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h_pt[key], h_np[key], rtol=1e-4, atol=1e-4, err_msg=key)
    assert_close(theirs.state_dict(), ours.state_dict(), 1e-4)


@pytest.mark.parametrize("first, second", [(cs.fit, fit_torch), (fit_torch, cs.fit)])
def test_a_checkpoint_from_one_engine_resumes_on_the_other(tmp_path, first, second):
    kw = dict(lr=0.01, batch_size=10, optimizer="adam", quiet=True, seed=2)
    straight = tiny_model()
    h_straight = cs.fit(straight, tiny_data(), epochs=3, **kw)
    ckpt = tmp_path / "checkpoint.safetensors"
    first(tiny_model(), tiny_data(), epochs=1, checkpoint=ckpt, **kw)
    resumed = tiny_model(seed=9)  # other initial weights: the checkpoint must replace them
    h = second(resumed, tiny_data(), epochs=3, checkpoint=ckpt, resume=True, **kw)
    assert h["epoch"] == [1, 2, 3]
    np.testing.assert_allclose(h["loss"], h_straight["loss"], rtol=1e-4)
    assert_close(resumed.state_dict(), straight.state_dict(), 1e-4)


class StopAfter(TorchEngine):
    """The PyTorch engine, asked to stop (as Ctrl-C does) during its `steps`-th step."""

    def __init__(self, steps):
        super().__init__()
        self.left = steps

    def step(self, idx, stop):
        self.left -= 1
        stop["set"] |= self.left == 0
        return super().step(idx, stop)


@pytest.mark.parametrize("optimizer", list(cs.optim.OPTIMIZERS))
@pytest.mark.parametrize("stop_at", [3, 5, 11])  # mid-epoch 1, its last batch, epoch 3's first
def test_the_torch_engine_stopped_and_resumed_is_uninterrupted_training(tmp_path, optimizer, stop_at):
    kw = dict(epochs=3, lr=0.01, batch_size=10, optimizer=optimizer, quiet=True, seed=3)
    full = tiny_model()
    h_full = fit_torch(full, tiny_data(), tiny_data(20, 1), **kw)
    ckpt = tmp_path / "checkpoint.safetensors"
    with pytest.raises(cs.TrainingInterrupted) as stop:
        cs.fit(tiny_model(), tiny_data(), tiny_data(20, 1), checkpoint=ckpt, engine=StopAfter(stop_at), **kw)
    assert (stop.value.epoch, stop.value.batch) == ((stop_at - 1) // 5 + 1, (stop_at - 1) % 5 + 1)
    assert stop.value.history["val_loss"] == h_full["val_loss"][:stop.value.epoch - 1]
    for resume_on in (fit_torch, cs.fit):
        resumed = tiny_model(seed=9)
        h = resume_on(resumed, tiny_data(), tiny_data(20, 1), checkpoint=ckpt, resume=True, **kw)
        np.testing.assert_allclose(h["val_loss"], h_full["val_loss"], rtol=1e-5)
        assert_close(resumed.state_dict(), full.state_dict(), 1e-5)


@pytest.mark.parametrize("cls, settings", [*cs.optim.OPTIMIZERS.values(), (cs.optim.SGD, {"nesterov": True,
                                                                                          "momentum": 0.5})])
def test_optimizer_state_maps_both_ways(cls, settings):
    """Each optimizer `fit` takes by name goes to its torch twin with settings and state, and comes back."""
    from convscope.scale import optimizers

    model = tiny_model()
    opt = cls(model.parameters(), lr=0.1, weight_decay=0.01, **settings)
    opt.state = [{name: np.full(p.data.shape, i + 0.5, np.float32) for i, name in enumerate(opt.states)}
                 for p in opt.params]
    opt.steps = 7
    params = [torch.nn.Parameter(torch.tensor(p.data)) for p in opt.params]
    topt = optimizers.torch_optimizer(opt, params)
    assert type(topt).__name__ == cls.__name__
    assert all(topt.param_groups[0][k] == v for k, v in opt.settings.items())
    assert all(len(topt.state[p]) >= opt.kept_states() for p in params)
    back = cls(model.parameters(), lr=0.1)
    optimizers.copy_state_back(topt, params, back, 7)
    assert back.steps == 7
    for a, b in zip(back.state, opt.state):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_the_torch_engine_refuses_a_loss_it_would_not_use():
    with pytest.raises(TypeError, match="fit_torch: the PyTorch engine trains with cross-entropy; got loss=MSELoss"):
        cs.fit(tiny_model(), tiny_data(), epochs=1, quiet=True, loss=nn.MSELoss(), engine=TorchEngine())


def test_an_optimizer_without_a_torch_twin_is_refused_by_name():
    from convscope.scale import optimizers

    class Lion(cs.optim.Adam):  # a convscope optimizer torch.optim has no class of that name for
        pass

    model = tiny_model()
    with pytest.raises(TypeError, match="no PyTorch twin for optimizer Lion"):
        optimizers.torch_optimizer(Lion(model.parameters()), [torch.nn.Parameter(torch.zeros(1))])


@settings(max_examples=25)
@given(batch=st.integers(1, 23), world=st.integers(1, 5), seed=st.integers(0, 2 ** 16))
def test_weighted_shards_averaged_as_ddp_does_give_the_global_batch_gradient(batch, world, seed):
    """The identity DDP training rests on, for any batch and world size (shards may be empty or uneven)."""
    from convscope.scale.torch_fit import shard, shard_weight

    rng = np.random.default_rng(seed)
    x, y = torch.tensor(rng.standard_normal((batch, 5))), torch.tensor(rng.integers(0, 3, batch))
    w = torch.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    torch.nn.functional.cross_entropy(x @ w, y).backward()
    expected, w.grad = w.grad.clone(), None
    idx = np.arange(batch)
    parts = [shard(idx, r, world) for r in range(world)]
    assert np.array_equal(np.concatenate(parts), idx)
    grads = []
    for part in parts:
        loss = torch.nn.functional.cross_entropy(x[part] @ w, y[part], reduction="sum")
        (loss * shard_weight(batch, world)).backward()
        grads.append(w.grad.clone())
        w.grad = None
    torch.testing.assert_close(sum(grads) / world, expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ several processes

WORKER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import convscope as cs
    sys.path.insert(0, {tests!r})
    from test_scale_out import tiny_data, tiny_model
    from convscope.scale import fit_torch
    class Failing:  # rank 1's data breaks at its third batch
        def __init__(self, x):
            self.x, self.reads = x, 0
        def __len__(self):
            return len(self.x)
        def __getitem__(self, idx):
            self.reads += 1
            if self.reads == 3:
                raise RuntimeError("rank 1 lost its data")
            return self.x[idx]
    model = tiny_model()
    mode = os.environ["MODE"]
    x, y = tiny_data()
    if mode == "die" and os.environ["RANK"] == "1":
        x = Failing(x)
    epochs = 1 if mode == "ddp" else 10000
    try:
        fit_torch(model, (x, y), epochs=epochs, lr=0.05, batch_size=10, quiet=True, seed=1, timeout=20,
                  optimizer=cs.optim.SGD(model.parameters(), lr=0.05), checkpoint=os.environ.get("CKPT"))
    except KeyboardInterrupt:
        sys.exit(130)
    if os.environ["RANK"] == "0":
        cs.save(model, os.environ["OUT"])
    from convscope.scale import processes
    processes.leave()  # as the train command does: both ranks tear down together
""")


def start_ranks(tmp_path, mode, n=2, **env):
    port = str(processes._free_port())
    script = WORKER.format(tests=str(ROOT / "tests"))
    base = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            "WORLD_SIZE": str(n), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "MODE": mode,
            "OMP_NUM_THREADS": "1", "OUT": str(tmp_path / "ddp.safetensors"), **env}
    return [subprocess.Popen([sys.executable, "-c", script], env={**base, "RANK": str(r), "LOCAL_RANK": str(r)},
                             stderr=subprocess.PIPE, text=True) for r in range(n)]


def finish(workers):
    try:
        return [w.wait(TIMEOUT) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()


def test_two_ddp_ranks_reach_the_one_process_weights(tmp_path):
    """Global batch 10 over 2 ranks, a last batch of 5 split 3 / 2: plain SGD, one epoch."""
    codes = finish(start_ranks(tmp_path, "ddp"))
    assert codes == [0, 0]
    alone = tiny_model()
    fit_torch(alone, tiny_data(), epochs=1, lr=0.05, batch_size=10, quiet=True, seed=1,
              optimizer=cs.optim.SGD(alone.parameters(), lr=0.05))
    assert_close(cs.load(tmp_path / "ddp.safetensors"), alone.state_dict(), 1e-5)
    before = tiny_model().state_dict()
    assert max(np.abs(before[k] - alone.state_dict()[k]).max() for k in before) > 1e-3  # it did train


def test_ctrl_c_on_one_rank_stops_both_with_one_checkpoint(tmp_path):
    ckpt = tmp_path / "checkpoint.safetensors"
    workers = start_ranks(tmp_path, "interrupt", CKPT=str(ckpt))
    deadline = time.monotonic() + TIMEOUT
    while not ckpt.exists() and time.monotonic() < deadline and all(w.poll() is None for w in workers):
        time.sleep(0.2)  # the first epoch's checkpoint shows that both ranks are training
    assert ckpt.exists(), [w.stderr.read() for w in workers if w.poll() is not None]
    workers[1].send_signal(signal.SIGINT)
    assert finish(workers) == [130, 130]
    resumed = tiny_model()
    h = cs.fit(resumed, tiny_data(), epochs=1, checkpoint=ckpt, resume=True, quiet=True, lr=0.05, batch_size=10,
               optimizer=cs.optim.SGD(resumed.parameters(), lr=0.05))
    assert len(h) >= 1  # the checkpoint is complete and the NumPy engine continues from it
    assert list(tmp_path.glob(".*.tmp")) == []


def test_a_failing_rank_is_named_and_the_others_stop(tmp_path):
    workers = start_ranks(tmp_path, "die")
    reports = []
    t0 = time.monotonic()
    code = processes._wait(workers, reports.append, grace=5)
    assert code == 1 and reports == ["rank 1 of 2 failed (exit code 1); stopping the other ranks"]
    assert all(w.poll() is not None for w in workers) and time.monotonic() - t0 < TIMEOUT
    assert "rank 1 lost its data" in workers[1].stderr.read()


def test_the_first_rank_to_fail_is_reported_not_the_lowest():
    def worker(seconds, code):
        return subprocess.Popen([sys.executable, "-c", f"import time, sys; time.sleep({seconds}); sys.exit({code})"])

    reports = []
    workers = [worker(1.5, 1), worker(0, 3), worker(60, 0)]  # rank 0 fails after rank 1; rank 2 would hang
    t0 = time.monotonic()
    assert processes._wait(workers, reports.append, grace=5) == 3
    assert reports == ["rank 1 of 3 failed (exit code 3); stopping the other ranks"]
    assert all(w.poll() is not None for w in workers) and time.monotonic() - t0 < 30


def test_an_error_beats_an_abort_found_at_the_same_moment():
    """gloo aborts a rank whose peer died; when both are found dead together, the error is the cause."""
    aborts = subprocess.Popen([sys.executable, "-c", "import os; os.abort()"])
    fails = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(1)"])
    aborts.wait(), fails.wait()
    reports = []
    assert processes._wait([aborts, fails], reports.append, grace=5) == 1
    assert reports == ["rank 1 of 2 failed (exit code 1); stopping the other ranks"]


# ------------------------------------------------------------------------------ the command

def model_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(cs.to_yaml(tiny_model(), name="tiny", input_shape=(1, 6, 6)))
    return str(path)


def npz_data(tmp_path):
    x, y = tiny_data(60)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    return str(tmp_path / "d.npz")


def test_nproc_2_writes_a_run_folder_that_the_library_and_numpy_resume_read(tmp_path):
    args = [model_file(tmp_path), "--data", npz_data(tmp_path), "--epochs", "1", "--batch-size", "10", "--quiet",
            "--out", str(tmp_path / "runs")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "convscope", "train", *args, "--engine", "torch", "--nproc", "2"],
                          env=env, capture_output=True, text=True, timeout=3 * TIMEOUT)
    assert done.returncode == 0, done.stderr
    run = cs.load_run(tmp_path / "runs" / "tiny")
    assert run.facts["engine"] == "torch" and run.facts["processes"] == 2 and len(run.history["epochs"]) == 1
    from convscope import cli

    assert cli.main(["draw", "kernels", str(run.path), "-o", str(tmp_path / "k.png")]) == 0
    assert cli.main(["draw", "history", str(run.path), "-o", str(tmp_path / "h.png")]) == 0
    assert cli.main(["train", *args, "--epochs", "2", "--resume"]) == 0  # NumPy engine, epoch 2 only
    epochs = cs.load_run(tmp_path / "runs" / "tiny").history["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[0] == run.history["epochs"][0]


NO_TORCH = textwrap.dedent("""
    import sys
    class NotInstalled:  # as on a machine without PyTorch
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "torch":
                raise ModuleNotFoundError(f"No module named {name!r}")
    sys.meta_path.insert(0, NotInstalled())
    from convscope import cli
    sys.exit(cli.main(sys.argv[1:]))
""")


def test_without_torch_the_engine_says_how_to_install_it(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", NO_TORCH, "train", model_file(tmp_path), "--engine", "torch",
                           "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "pip install 'convscope[torch]'" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_a_gpu_is_one_clear_line(tmp_path, capsys):
    from convscope import cli

    assert cli.main(["train", model_file(tmp_path), "--engine", "torch", "--device", "cuda", "--out",
                     str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device cuda" in err and "no CUDA GPU" in err


def test_nproc_checks_the_data_once_before_starting_workers(tmp_path, capsys):
    from convscope import cli

    missing = str(tmp_path / "missing.npz")
    assert cli.main(["train", model_file(tmp_path), "--data", missing, "--engine", "torch", "--nproc", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{missing}: no such file" in err


def test_device_and_nproc_need_the_torch_engine(tmp_path, capsys):
    from convscope import cli

    assert cli.main(["train", model_file(tmp_path), "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert cli.main(["train", model_file(tmp_path), "--nproc", "2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "add --engine torch" in err[0] and "add --engine torch" in err[1]
