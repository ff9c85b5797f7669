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
