"""Model files are text from anyone: they are bounded before anything is built. Each case is one
clear ValueError naming the file, in well under a second, with a message of bounded length."""
import signal

import pytest

import convscope as cs


def _bomb(depth: int, width: int = 9) -> str:
    """Anchors each standing for `width` copies of the one before: width**depth layers in ~2 kB."""
    text = "a: &a [" + ", ".join(["{type: ReLU}"] * width) + "]\n"
    names = "abcdefghij"
    for prev, name in zip(names, names[1:depth]):
        text += f"{name}: &{name} [" + ", ".join([f"{{type: Sequential, layers: *{prev}}}"] * width) + "]\n"
    return text + f"layers: *{names[depth - 1]}\n"


def _laughs() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi"):
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    return text + "layers: [{type: Bogus, x: *i}]\n"


GRAPH = """name: g
modules: {fc: {type: Linear, in_features: 2, out_features: 2}}
steps: STEPS
output: {ref: x}
"""

CASES = {
    "alias bomb": (_bomb(7), r"line \d stands for more than 200,000 values once its aliases \(\*name\) are written out"),
    "billion laughs": (_laughs(), r"more than 200,000 values"),
    "graph tuple aliases": (GRAPH.replace("STEPS", "[[x, input]]\nv: &v [1, 2, 3, 4, 5, 6, 7, 8]\n"
                                          + "".join(f"w{i}: &w{i} {{tuple: [*{'v' if i == 0 else f'w{i - 1}'}, "
                                                    f"*{'v' if i == 0 else f'w{i - 1}'}]}}\n" for i in range(20))
                                          + "extra: *w19"), r"more than 200,000 values"),
    "deep nesting": ("layers: " + "[" * 500 + "1" + "]" * 500, r"nested more than 100 levels deep"),
    "name not text": ("layers:\n - {type: ReLU, name: 1.5}", r"line 2, layer 0: 'type' and 'name' are text"),
    "name a list": ("layers:\n - {type: ReLU, name: [-1]}", r"'type' and 'name' are text, got type 'ReLU' and name \[-1\]"),
    "steps a number": (GRAPH.replace("STEPS", "-0.5"), r"'steps' is a list of \[name, kind, target, args, kwargs\], got -0.5"),
    "parameter shape": (GRAPH.replace("modules:", "parameters: {p: oops}\nmodules:").replace("STEPS", "[[x, input]]"),
                        r"parameter 'p' shape 'oops' must be positive sizes"),
    "long unknown type": ("layers:\n - {type: " + "X" * 100_000 + "}", r"unknown layer type 'XXXX"),
}


def _in_time(fn, seconds=20):
    def stop(*_):
        raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        return fn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name", CASES)
def test_a_hostile_model_file_is_one_clear_line(name, tmp_path):
    text, message = CASES[name]
    path = tmp_path / "model.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        _in_time(lambda: cs.load_model(path))
    assert str(err.value).startswith(str(path)) and len(str(err.value)) < 1500


def test_a_model_file_that_is_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_bytes(b"layers:\n - {type: ReLU}\n# \xff\xfe")
    with pytest.raises(ValueError, match=r"model.yaml: not UTF-8 text \(byte 26: b'\\xff'\)"):
        cs.load_model(path)


def test_aliases_within_the_bounds_still_work():
    model = cs.load_model("block: &b {type: ReLU}\nlayers: [*b, {type: Tanh}, *b]\n")
    assert [type(m).__name__ for m in model] == ["ReLU", "Tanh", "ReLU"]


@pytest.mark.parametrize("value, message", [("{tuple: 5}", r"\{tuple: ...\} holds a list, got 5"),
                                            ("{slice: [1, 2, 3, 4]}", r"\{slice: ...\} holds a list of 1 to 3 values"),
                                            ("{ref: [1]}", r"\{ref: ...\} holds a step's name, got \[1\]"),
                                            ("{dict: []}", r"\{dict: ...\} holds a mapping, got \[\]")])
def test_a_graph_value_of_the_wrong_form_is_named(value, message, tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(GRAPH.replace("STEPS", f"[[x, input], [y, function, getitem, [{{ref: x}}, {value}]]]"))
    with pytest.raises(ValueError, match=message):
        cs.load_model(path)


def test_a_huge_argument_value_is_shown_as_an_excerpt(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("layers:\n - {type: Conv2d, in_channels: 1, out_channels: 2, kernel_size: " + "X" * 100_000 + "}")
    with pytest.raises(ValueError, match="kernel_size must be an int, got 'XXXX") as err:
        cs.load_model(path)
    assert len(str(err.value)) < 400


def test_a_step_given_what_it_cannot_take_is_named(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(GRAPH.replace("STEPS", "[[x, input], [y, function, flatten, [7, 1]]]").replace("{ref: x}", "{ref: y}"))
    with pytest.raises(ValueError, match=r"step 'y' \(function 'flatten'\) cannot take its arguments \(int, int\): "
                                         r"it raised AttributeError"):
        cs.summary(path, (2, 3))


def test_a_layer_name_with_a_dot_is_refused(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("layers:\n - {type: ReLU, name: ../../etc/passwd}\n")
    with pytest.raises(ValueError, match=r"layer name '../../etc/passwd' must be a non-empty name without '\.'"):
        cs.load_model(path)


def test_memory_checks_respect_an_address_space_limit():
    """A process limited with `ulimit -v` is refused what it could not map, before allocating."""
    import subprocess
    import sys

    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
            "import convscope as cs\n"
            "try:\n"
            "    cs.load_model('layers:\\n - {type: BatchNorm2d, num_features: 1000000000}')\n"
            "except ValueError as err:\n"
            "    print('refused:', err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "refused:" in out.stdout, out.stderr[-500:]


def test_concat_branches_that_are_not_a_list_are_named(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("layers:\n - {type: Concat, branches: true}\n")
    with pytest.raises(ValueError, match=r"layer 0 \(Concat\): branches is a list \(of layers or layer lists\), got True"):
        cs.load_model(path)
