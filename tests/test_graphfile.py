"""The graph form of model files: a converted network written as data reopens without PyTorch, trains
from the command line, and a malformed file is refused naming the step. (Every torchvision family's
round trip is in tests/bridges/test_torchvision.py.)"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import convscope as cs
from convscope import cli

ROOT = Path(__file__).resolve().parents[1]


class Small(torch.nn.Module):
    """A digits classifier with what a Sequential cannot hold: a shared layer called twice, a
    functional residual add, a channel split and a concatenation."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.mix = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.act = torch.nn.ReLU()
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        y = self.act(self.conv(x))
        y = self.act(self.mix(y) + y)  # self.act twice
        a, b = torch.chunk(y, 2, dim=1)
        y = torch.nn.functional.max_pool2d(torch.cat([b, a], 1), 2)
        return self.fc(torch.flatten(y, 1))


def written(tmp_path):
    torch.manual_seed(0)
    module = Small().eval()
    model = cs.from_torch(module, (1, 8, 8))
    path = tmp_path / "small.yaml"
    path.write_text(cs.to_yaml(model, name="small", input_shape=(1, 8, 8)))
    cs.save(model, tmp_path / "small.safetensors")
    return module, path


def test_reopens_without_torch(tmp_path):
    module, path = written(tmp_path)
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = (f"import sys; sys.modules['torch'] = None\n"  # importing torch now fails
            "import numpy as np, convscope as cs\n"
            f"m = cs.load_model({str(path)!r}); m.load_state_dict(cs.load({str(tmp_path / 'small.safetensors')!r}))\n"
            f"np.save({str(tmp_path / 'y.npy')!r}, m.eval()(cs.Tensor(np.load({str(tmp_path / 'x.npy')!r}))).data)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)


def test_the_shared_layer_stays_one_layer(tmp_path):
    _, path = written(tmp_path)
    model = cs.load_model(path)
    assert sum(p.data.size for p in model.parameters()) == sum(p.numel() for p in Small().parameters())
    steps = [s for s in model.steps if s[1] == "module" and s[2] == "act"]
    assert len(steps) == 2


def test_trains_from_the_command_line(tmp_path, capsys):
    _, path = written(tmp_path)
    assert cli.main(["train", str(path), "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]) == 0
    run = cs.load_run(tmp_path / "run" / "small")
    assert type(run.model).__name__ == "GraphModel"
    before = cs.load(tmp_path / "small.safetensors")
    assert any(not np.allclose(before[k], v) for k, v in run.model.state_dict().items())  # it trained


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace("[act_1, module, act,", "[act_1, module, nothing,"),
     r"step \d+ \('act_1'\): module 'nothing' is not in the file's modules"),
    (lambda t: t.replace("function, chunk", "function, chunky"), r"no graph function 'chunky'; known: .*chunk"),
    (lambda t: t.replace("[{ref: x}]", "[{ref: later}]", 1), r"step 'conv' reads 'later', which no earlier step makes"),
    (lambda t: t.replace("[x, input]", "[x, inputs]"), r"step 0: expected \[name, kind, target, args, kwargs\]"),
    (lambda t: t.replace("\nsteps:", "\nstep:"), r"a model file is a mapping with a 'layers' list .* or a graph"),
])
def test_a_malformed_graph_is_refused_naming_the_step(tmp_path, edit, message):
    _, path = written(tmp_path)
    with pytest.raises(ValueError, match=message):
        cs.load_model(edit(path.read_text()))


def test_a_graph_holding_a_python_callable_is_not_written():
    model = cs.from_torch(Small().eval())
    model.steps.insert(1, ("odd", "call", print, (), {}))
    with pytest.raises(TypeError, match="step 'odd' calls .* directly; a model file holds registered"):
        cs.to_yaml(model)
