"""A fixed budget of fuzz cases of every family (the same cases every run): none may fail. The long
runs are `tools/fuzz.py --cases N --seed S` (docs/development.md)."""
import pytest

from . import runner

BUDGET = {"model_file": 200, "weights": 100, "onnx": 100, "cli": 100}


@pytest.mark.parametrize("family", BUDGET)
def test_no_case_fails(family):
    pytest.importorskip("onnx")
    outcomes = runner.run([family], BUDGET[family], seed=0)
    failures = [f"{o.case}\n    {o.detail[:500]}" for o in outcomes if o.verdict == "failure"]
    assert len(outcomes) == BUDGET[family]
    assert not failures, "\n".join(failures)
    assert any(o.verdict == "refused" for o in outcomes)  # the cases reach the checks


def test_the_harness_tells_the_classes_apart(tmp_path):
    from .generators import Case
    from .harness import run

    def hang(folder):
        while True:
            pass

    cases = {"returned": lambda f: None, "refused": lambda f: (_ for _ in ()).throw(ValueError("layer 'x': bad")),
             "internal": lambda f: {}[[]], "changed": lambda f: (f / "new.txt").write_text("x"),
             "crash": lambda f: __import__("os").kill(__import__("os").getpid(), 9)}
    verdicts = {}
    for name, fn in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        verdicts[name] = run("test", Case(name, fn), folder).verdict
    assert verdicts == {"returned": "returned", "refused": "refused", "internal": "failure", "changed": "failure",
                        "crash": "failure"}
