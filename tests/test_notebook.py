"""The lecture notebook: committed with current outputs, runs from any folder, teaches in tables and sentences."""
import pathlib
import re
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_notebook  # noqa: E402

TIMES = re.compile(r"\d+\.\d+ s\b")  # measured times: the only outputs allowed to change


def _texts(nb) -> list:
    """Every code cell's text outputs (streams, Markdown, plain text of non-figures), times masked."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for o in cell.outputs:
            data = o.get("data", {})
            text = o.get("text") or data.get("text/markdown") or ("" if "image/png" in data else data.get("text/plain", ""))
            texts.append(TIMES.sub("<time> s", text))
        out.append(texts)
    return out


@pytest.fixture(scope="module")
def committed():
    return nbformat.read(ROOT / "examples" / "lecture.ipynb", as_version=4)


def test_committed_cells_are_what_the_generator_writes(committed):
    assert [(c.cell_type, c.source) for c in committed.cells] == \
        [(c.cell_type, c.source) for c in make_notebook.build().cells], "run: python tools/make_notebook.py"


def test_committed_outputs_are_current_and_render_without_running(committed, tmp_path):
    fresh = make_notebook.execute(make_notebook.build(), cwd=tmp_path)  # another folder than examples/
    errors = [o for c in fresh.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[0]
    assert _texts(fresh) == _texts(committed), "outputs changed: run python tools/make_notebook.py"
    images = [o for c in committed.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 11  # the figures are stored in the file, so a code host shows them


def test_results_read_as_tables_and_sentences(committed):
    text = "\n".join(t for texts in _texts(committed) for t in texts)
    for raw in ("Fraction(", "slice(", "np.float", "array("):
        assert raw not in text
    from convscope import lecture

    assert all(e.true in text for e in lecture.errata())  # every erratum noted, in the one voice
    assert "| 3 | 7x7 |" in text and "25/18 = 1.39" in text and "49/27 = 1.81" in text
    markdown = [c for c in committed.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 20 and all(len(c.source) > 40 for c in markdown)  # prose around every result


def test_the_lecture_topics_come_with_their_numbers(committed):
    """Each claim the notebook makes in words has convscope's numbers beside it."""
    text = "\n".join(t for texts in _texts(committed) for t in texts)
    assert "costs the FC net -" not in text and "points (training noise" in text  # a signed change, read as one
    assert "| FC | " in text and "| CNN | " in text  # where the permuted digits went: why below chance
    assert "map of the digit, moved: True" in text and "the two are equal:" in text  # translation, both steps
    assert "(359 images)" in text and "shift 4: 359" in text  # every point of the curve on the whole test set
    assert f"| {512 * 7 * 7:,} | {512 * 7 * 7 * 4096 + 4096:,} |" in text  # VGG-16's head, flattened
    assert f"| 512 | {512 * 4096 + 4096:,} |" in text  # and after global average pooling
    fc6 = 512 * 7 * 7 * 4096 + 4096  # of VGG-16's 138,357,544 (the count PyTorch's VGG-16 holds)
    assert f"| fc6 | 4096 | {fc6:,} | {fc6 / 138_357_544:.1%} |" in text and "| conv1_2 | 64x224x224 |" in text
    assert "| vgg16 | 138,357,544 | 15.47 G | 212x212 |" in text  # fields beside parameters and MACs
    assert "16 x 5^2 = 400 weights" in text  # the lecture's n x f slip, flagged


def test_real_mnist_and_grad_cam_are_the_tour_s(committed):
    """The committed notebook ran without MNIST (an empty data cache): it prints the tour's instructions,
    and it calls the same functions as the tour for LeNet-5 on MNIST and for the saliency and Grad-CAM figure."""
    from convscope import tour

    text = "\n".join(t for texts in _texts(committed) for t in texts)
    assert "\n".join(tour.mnist_instructions()) in text
    sources = [c.source for c in committed.cells if c.cell_type == "code"]
    assert any("real_mnist(" in s for s in sources) and any("viz.saliency_and_cam(lenet" in s for s in sources)
    markdown = "\n".join(c.source for c in committed.cells if c.cell_type == "markdown")
    assert "Grad-CAM" in markdown and "`conv2`" in markdown and tour.CAM_LAYER["lenet_digits"] == "conv2"


def test_stacking_is_shown_with_one_channel_count():
    from convscope import lecture

    source = pathlib.Path(make_notebook.__file__).read_text()
    assert "channels=lecture.STACKING_CHANNELS" in source and "channels=64" not in source
    assert lecture.STACKING_CHANNELS == 16  # the erratum's "16 x 5^2" above and the experiment's 6,400 weights
