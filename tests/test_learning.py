"""The lecture's move, for real: learn the kernels. PyTorch twins and the accuracy targets."""
import pathlib

import numpy as np
import torch

import convscope as cs
from convscope import cli

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def torch_lenet():
    t = torch.nn
    return t.Sequential(t.Conv2d(1, 16, 3, padding=1), t.ReLU(), t.MaxPool2d(2), t.Conv2d(16, 32, 3, padding=1),
                        t.ReLU(), t.MaxPool2d(2), t.Flatten(), t.Linear(128, 64), t.ReLU(), t.Linear(64, 10))


def rename(state, ours):
    """PyTorch indices -> the model file's layer names (same order)."""
    return dict(zip(ours.state_dict(), state.values()))


def test_lenet_logits_and_one_training_step_equal_pytorch():
    ours = cs.load_model(EXAMPLES / "lenet_digits.yaml")
    theirs = torch_lenet()
    ours.load_state_dict(rename({k: v.detach().numpy() for k, v in theirs.state_dict().items()}, ours))
    x, y, _, _ = cs.data.digits()
    xb, yb = x[:64], y[:64]
    logits = ours(cs.Tensor(xb))
    ref = theirs(torch.tensor(xb))
    assert np.abs(logits.data - ref.detach().numpy()).max() < 1e-4
    opt_a = cs.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_b = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        opt_a.zero_grad()
        opt_b.zero_grad()
        cs.nn.CrossEntropyLoss()(ours(cs.Tensor(xb)), yb).backward()
        torch.nn.CrossEntropyLoss()(theirs(torch.tensor(xb)), torch.tensor(yb)).backward()
        opt_a.step()
        opt_b.step()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_lenet_reaches_98_percent_on_digits():
    cs.manual_seed(0)
    model = cs.load_model(EXAMPLES / "lenet_digits.yaml")
    x_train, y_train, x_test, y_test = cs.data.digits()
    h = cs.fit(model, (x_train, y_train), (x_test, y_test), epochs=20, lr=3e-3, batch_size=64, quiet=True)
    assert h["val_accuracy"][-1] >= 0.98


def test_1d_cnn_reaches_90_percent_on_mnist1d():
    cs.manual_seed(0)
    model = cs.load_model(EXAMPLES / "cnn1d_mnist1d.yaml")
    x_train, y_train, x_test, y_test = cs.data.mnist1d()
    h = cs.fit(model, (x_train, y_train), (x_test, y_test), epochs=15, lr=3e-3, batch_size=64, quiet=True)
    assert h["val_accuracy"][-1] >= 0.90


def test_cli_train_writes_weights_and_history(tmp_path, capsys):
    code = cli.main(["train", str(EXAMPLES / "fc_digits.yaml"), "--epochs", "2", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    run = tmp_path / "fc_digits"
    assert (run / "history.json").exists() and (run / "checkpoint.safetensors").exists()
    model = cs.load_model(EXAMPLES / "fc_digits.yaml")
    model.load_state_dict(cs.load(run / "model.safetensors"))
    assert "test accuracy" in capsys.readouterr().out
    assert cli.main(["train", str(tmp_path / "missing.yaml"), "--quiet"]) == 2
