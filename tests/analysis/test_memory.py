"""Too big to build, run or train: one line naming the layer and the bytes, decided from shapes before
anything is allocated; the command line exits 2. The machine's memory is set small by monkeypatching."""
import numpy as np
import pytest

import convscope as cs
from convscope import cli
from convscope import train as train_module
from convscope.analysis import memory
from convscope.analysis.trace import trace
from convscope.nn import init

LENET = "examples/lenet_digits.yaml"


def small_machine(monkeypatch, nbytes):
    monkeypatch.setattr(memory, "available_memory", lambda: nbytes)


def test_the_bytes_are_the_summarys(monkeypatch):
    """The check's numbers are the summary's: weights, and what the backward keeps."""
    model = cs.load_model(LENET)
    s = cs.summary(model, (1, 8, 8), batch_size=32)
    weights = s.totals["param_bytes"]
    small_machine(monkeypatch, weights * 4 + s.totals["training_bytes"])  # exactly enough for Adam
    memory.require_fits(model, (1, 8, 8), 32, training=True, optimizer_states=2)
    small_machine(monkeypatch, weights * 4 + s.totals["training_bytes"] - 1)
    with pytest.raises(init.TooBig, match=rf"training it on a batch of 32 x \(1, 8, 8\) needs .*"
                                          rf"\({weights * 4 + s.totals['training_bytes']:,} bytes"):
        memory.require_fits(model, (1, 8, 8), 32, training=True, optimizer_states=2)


def test_fit_refuses_a_batch_that_cannot_fit_before_training(monkeypatch):
    model = cs.load_model(LENET)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    x, y = np.zeros((64, 1, 8, 8), np.float32), np.zeros(64, np.int64)
    small_machine(monkeypatch, 300_000)
    with pytest.raises(init.TooBig, match=r"model 'lenet_digits': training it on a batch of 64 .* the most at "
                                          r"layer '\d+' \(\w+\)"):
        cs.fit(model, (x, y), epochs=1, quiet=True, batch_size=64)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())  # nothing ran
    cs.fit(model, (x[:2], y[:2]), epochs=1, quiet=True, batch_size=1)  # a batch of one fits


def test_predict_names_the_layer_with_the_largest_inputs_and_output(monkeypatch):
    model = cs.load_model(LENET)
    graph = trace(model, (1, 8, 8), 256)
    worst = max(graph.nodes[1:], key=lambda n: n.nbytes + sum(graph.nodes[p].nbytes for p in n.parents))
    small_machine(monkeypatch, 100_000)
    with pytest.raises(init.TooBig, match=rf"running it on a batch of 256 .*inputs and output of layer "
                                          rf"'{graph.names[id(worst.modules[-1])]}'"):
        train_module.predict(model, np.zeros((1000, 1, 8, 8), np.float32))


def test_weights_that_fit_one_by_one_but_not_together(monkeypatch):
    """Each array is under the per-array check; the model file's total is refused before building."""
    layers = "\n".join("- {type: Linear, in_features: 1000, out_features: 1000}" for _ in range(5))
    small_machine(monkeypatch, 10_000_000)  # 10 MB: five 4 MB weight matrices do not fit
    with pytest.raises(init.TooBig, match=r"its weights need 20.0 MB \(20,020,000 bytes\)"):
        cs.load_model(layers)
    assert len(cs.load_model(layers, meta=True).parameters()) == 10  # shape-only is always allowed


def test_the_command_line_says_it_in_one_line_and_exits_2(capsys):
    """A real 1e11-parameter model file on this machine: no allocation is attempted."""
    assert cli.main(["train", "examples/huge_1e11.yaml", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "weights need 400.4 GB" in err and "shape-only" in err


# every optimizer `fit` takes by name, and SGD without momentum and with Nesterov's
OPTIMIZER_SETTINGS = [*cs.optim.OPTIMIZERS.values(), (cs.optim.SGD, {}),
                      (cs.optim.SGD, {"momentum": 0.5, "nesterov": True})]


@pytest.mark.parametrize("cls, settings", OPTIMIZER_SETTINGS)
def test_an_optimizers_kept_states_are_the_arrays_it_keeps(cls, settings):
    """What the memory check charges per parameter is what the optimizer holds after steps."""
    model = cs.load_model(LENET)
    opt = cls(model.parameters(), lr=0.01, **settings)
    x, y = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32), np.arange(4)
    for _ in range(2):
        opt.zero_grad()
        cs.nn.CrossEntropyLoss()(model(cs.Tensor(x)), y).backward()
        opt.step()
    for p, state in zip(opt.params, opt.state):
        assert len(state) == opt.kept_states() and all(v.shape == p.data.shape for v in state.values())


def test_fit_charges_the_optimizer_it_trains_with(monkeypatch):
    """Memory for plain SGD (no state) is too little for Adam (two arrays per weight)."""
    model = cs.load_model(LENET)
    s = cs.summary(model, (1, 8, 8), batch_size=32)
    x, y = np.zeros((32, 1, 8, 8), np.float32), np.zeros(32, np.int64)
    small_machine(monkeypatch, s.totals["param_bytes"] * 2 + s.totals["training_bytes"])
    cs.fit(model, (x, y), epochs=1, quiet=True, batch_size=32, optimizer=cs.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(init.TooBig, match="training it on a batch of 32"):
        cs.fit(model, (x, y), epochs=1, quiet=True, batch_size=32, optimizer="adam")
