"""The lecture notebook runs top to bottom (nbclient, a kernel of this interpreter)."""
import pathlib

import nbformat
from nbclient import NotebookClient

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_lecture_notebook_executes(tmp_path):
    nb = nbformat.read(EXAMPLES / "lecture.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 10  # the figures are shown, not only created
    text = "".join(o.get("text", "") for o in outputs)
    assert "true ratio 25/18" in text and "layer 3: receptive field 7x7" in text
