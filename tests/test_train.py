"""fit: determinism, exact resume (after an epoch, after Ctrl-C at any batch, from checkpoints written
by earlier versions), NaN stops, damaged checkpoints."""
import os
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convscope as cs
from convscope import checkpoints
from convscope.train import NumpyEngine

nn = cs.nn


def tiny_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].sum(axis=(1, 2)) > 0).astype(np.int64)
    return x, y


def tiny_model(seed=0):
    cs.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Dropout(0.2), nn.Flatten(), nn.Linear(64, 2))


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def untimed(history):
    """The history's records without the wall-clock fields (seconds, samples_per_s)."""
    return [{k: v for k, v in e.items() if k not in ("seconds", "samples_per_s")} for e in history.epochs]


class StopAfter(NumpyEngine):
    """The NumPy engine, asked to stop (as Ctrl-C does) during its `steps`-th step."""

    def __init__(self, steps):
        self.left = steps

    def step(self, idx, stop):
        self.left -= 1
        stop["set"] |= self.left == 0
        return super().step(idx, stop)


def test_same_seed_same_weights_and_history():
    runs = []
    for _ in range(2):
        model = tiny_model()
        h = cs.fit(model, tiny_data(), tiny_data(32, 1), epochs=2, lr=0.01, batch_size=16, quiet=True, seed=3)
        runs.append((weights(model), h["loss"]))
    assert_same(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert len(runs[0][1]) == 2 and runs[0][1][1] < runs[0][1][0]


def test_resume_after_an_epoch_reaches_the_uninterrupted_weights(tmp_path):
    full = tiny_model()
    cs.fit(full, tiny_data(), epochs=4, lr=0.01, batch_size=16, quiet=True, optimizer="sgd")
    ckpt = tmp_path / "run.safetensors"
    part = tiny_model()
    cs.fit(part, tiny_data(), epochs=2, lr=0.01, batch_size=16, quiet=True, optimizer="sgd", checkpoint=ckpt)
    resumed = tiny_model(seed=99)  # different init: everything must come from the checkpoint
    h = cs.fit(resumed, tiny_data(), epochs=4, lr=0.01, batch_size=16, quiet=True, optimizer="sgd",
               checkpoint=ckpt, resume=True)
    assert_same(weights(full), weights(resumed))
    assert [e["epoch"] for e in h.epochs] == [1, 2, 3, 4]


def test_ctrl_c_saves_a_checkpoint_and_resume_continues_mid_epoch(tmp_path):
    full = tiny_model()
    cs.fit(full, tiny_data(), epochs=2, lr=0.01, batch_size=16, quiet=True)
    calls = {"n": 0}

    class InterruptingLoss(nn.CrossEntropyLoss):
        def forward(self, logits, target):
            calls["n"] += 1
            if calls["n"] == 9:  # epoch 2, batch 3
                os.kill(os.getpid(), signal.SIGINT)
            return super().forward(logits, target)

    ckpt = tmp_path / "run.safetensors"
    with pytest.raises(KeyboardInterrupt, match="epoch 2, batch 3; checkpoint saved"):
        cs.fit(tiny_model(), tiny_data(), epochs=2, lr=0.01, batch_size=16, quiet=True, checkpoint=ckpt,
               loss=InterruptingLoss())
    resumed = tiny_model(seed=5)
    cs.fit(resumed, tiny_data(), epochs=2, lr=0.01, batch_size=16, quiet=True, checkpoint=ckpt, resume=True)
    assert_same(weights(full), weights(resumed))


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_last_checkpoint(tmp_path):
    ckpt = tmp_path / "run.safetensors"
    model = tiny_model()
    cs.fit(model, tiny_data(), epochs=1, lr=0.01, batch_size=16, quiet=True, checkpoint=ckpt)
    before = ckpt.read_bytes()
    x, y = tiny_data()
    x[40] = np.nan  # batch 3 of the next epoch (in shuffled order) sees it at some point
    with pytest.raises(cs.TrainingDiverged, match=r"loss is nan at epoch 2, batch \d+ of 6 .*last good checkpoint"):
        cs.fit(model, (x, y), epochs=3, lr=0.01, batch_size=16, quiet=True, checkpoint=ckpt, resume=True)
    assert ckpt.read_bytes() == before


def test_damaged_or_foreign_checkpoints_give_clear_errors(tmp_path):
    ckpt = tmp_path / "run.safetensors"
    cs.fit(tiny_model(), tiny_data(), epochs=1, lr=0.01, batch_size=16, quiet=True, checkpoint=ckpt)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(ckpt.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        cs.fit(tiny_model(), tiny_data(), epochs=2, checkpoint=truncated, resume=True, quiet=True)
    weights_file = tmp_path / "weights.safetensors"
    cs.save(tiny_model(), weights_file)
    with pytest.raises(ValueError, match="not a convscope checkpoint file"):
        cs.fit(tiny_model(), tiny_data(), epochs=2, checkpoint=weights_file, resume=True, quiet=True)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04 pickle? no")
        cs.load(tmp_path / "junk.safetensors")


def test_save_and_load_round_trip_weights(tmp_path):
    model = tiny_model()
    cs.save(model, tmp_path / "m.safetensors")
    other = tiny_model(seed=7)
    other.load_state_dict(cs.load(tmp_path / "m.safetensors"))
    assert_same(weights(model), weights(other))
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def test_load_of_a_checkpoint_returns_its_model_weights(tmp_path):
    ckpt = tmp_path / "run.safetensors"
    model = tiny_model()
    cs.fit(model, tiny_data(), epochs=1, lr=0.01, batch_size=16, quiet=True, checkpoint=ckpt)
    assert_same(weights(model), dict(cs.load(ckpt)))  # not the optimizer's moments


def test_ctrl_c_carries_where_it_stopped_and_the_finished_epochs(tmp_path):
    class InterruptingLoss(nn.CrossEntropyLoss):
        calls = 0

        def forward(self, logits, target):
            InterruptingLoss.calls += 1
            if InterruptingLoss.calls == 8:  # 6 batches of epoch 1, then epoch 2, batch 2
                os.kill(os.getpid(), signal.SIGINT)
            return super().forward(logits, target)

    with pytest.raises(cs.TrainingInterrupted) as stop:
        cs.fit(tiny_model(), tiny_data(), epochs=3, lr=0.01, batch_size=16, quiet=True, loss=InterruptingLoss())
    assert (stop.value.epoch, stop.value.batch) == (2, 2)
    assert [e["epoch"] for e in stop.value.history.epochs] == [1]
    assert isinstance(stop.value, KeyboardInterrupt)  # code that catches Ctrl-C still does


@pytest.mark.parametrize("kwargs, message", [({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
                                             ({"batch_size": 2.5}, "batch_size must be an int >= 1, got 2.5"),
                                             ({"epochs": -1}, "epochs must be an int >= 0, got -1")])
def test_fit_rejects_impossible_loop_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cs.fit(tiny_model(), tiny_data(), **{"epochs": 1, **kwargs}, quiet=True)


def test_divergence_is_one_error_without_numpy_warnings():
    x, y = tiny_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would surface here first
        with pytest.raises(cs.TrainingDiverged, match=r"loss is (nan|inf) at epoch \d+, batch \d+ of 6"):
            cs.fit(tiny_model(), (x * 1e30, y), epochs=3, lr=1e30, batch_size=16, optimizer="sgd", quiet=True)


@settings(max_examples=12)
@given(batch_size=st.integers(7, 40), optimizer=st.sampled_from(list(cs.optim.OPTIMIZERS)),
       where=st.floats(0, 1, exclude_max=True))
def test_stopped_at_any_batch_and_resumed_is_uninterrupted_training_byte_for_byte(batch_size, optimizer, where,
                                                                                  tmp_path_factory):
    kw = dict(lr=0.01, batch_size=batch_size, optimizer=optimizer, seed=6, quiet=True)
    data, val = tiny_data(), tiny_data(32, 1)
    full = tiny_model()
    h_full = cs.fit(full, data, val, epochs=3, **kw)
    steps = 3 * -(-len(data[0]) // batch_size)
    ckpt = tmp_path_factory.mktemp("stop") / "run.safetensors"
    with pytest.raises(cs.TrainingInterrupted) as stop:
        cs.fit(tiny_model(), data, val, epochs=3, checkpoint=ckpt, engine=StopAfter(1 + int(where * steps)), **kw)
    assert untimed(stop.value.history) == untimed(h_full)[:stop.value.epoch - 1]
    resumed = tiny_model(seed=8)
    h = cs.fit(resumed, data, val, epochs=3, checkpoint=ckpt, resume=True, **kw)
    assert_same(weights(full), weights(resumed))
    assert untimed(h) == untimed(h_full)


FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints_2026_12"


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_checkpoints_written_by_earlier_versions_resume_to_the_uninterrupted_weights(tmp_path, optimizer):
    """Written in December 2026 by `fit(tiny_model(), tiny_data(), tiny_data(32, 1), epochs=3, lr=0.01,
    batch_size=16, seed=4)` stopped by Ctrl-C at epoch 2, batch 2 (on an AMD EPYC): today's fit must
    continue it to the weights and history it reaches without stopping. Byte for byte on the CPU kind
    that wrote it; another CPU's BLAS sums in another order, so there the continuation is the same
    bytes from run to run and the uninterrupted run's values to float32 rounding."""
    kw = dict(lr=0.01, batch_size=16, optimizer=optimizer, seed=4, quiet=True)
    full = tiny_model()
    h_full = cs.fit(full, tiny_data(), tiny_data(32, 1), epochs=3, **kw)
    runs = []
    for attempt in range(2):
        ckpt = tmp_path / f"{attempt}" / "checkpoint.safetensors"
        ckpt.parent.mkdir()
        ckpt.write_bytes((FIXTURES / f"{optimizer}_epoch2_batch2.safetensors").read_bytes())
        assert checkpoints.position(ckpt) == {"epoch": 2, "batch": 2}
        resumed = tiny_model(seed=8)
        h = cs.fit(resumed, tiny_data(), tiny_data(32, 1), epochs=3, checkpoint=ckpt, resume=True, **kw)
        runs.append((weights(resumed), untimed(h)))
    assert_same(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    for k, v in weights(full).items():
        np.testing.assert_allclose(runs[0][0][k], v, rtol=1e-4, atol=1e-6, err_msg=k)
    for ours, theirs in zip(runs[0][1], untimed(h_full)):
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_fit_refuses_a_model_with_fewer_outputs_than_classes_for_every_engine(engine):
    """Decided from shapes before any step (the PyTorch engine used to fail inside torch on the first batch)."""
    x, y = np.zeros((6, 1, 4, 4), np.float32), np.array([0, 1, 2, 3, 4, 5])
    model = cs.nn.Sequential(cs.nn.Flatten(), cs.nn.Linear(16, 3))
    kw = {}
    if engine == "torch":
        pytest.importorskip("torch")
        from convscope.scale import TorchEngine

        kw["engine"] = TorchEngine("cpu", 60.0)
    with pytest.raises(ValueError, match=r"gives outputs of shape 3 per sample but the targets have 6 classes"):
        cs.fit(model, (x, y), epochs=1, quiet=True, **kw)
