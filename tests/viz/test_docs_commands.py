"""The draw commands in docs/figures.md and the README's command table run as written."""
import pathlib
import re
import shlex

import pytest
from PIL import Image

from convscope import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _commands():
    docs = (ROOT / "docs" / "figures.md").read_text()
    block = re.search(r"```bash\n(.*?)```", docs, flags=re.S).group(1)
    table = re.findall(r"^\| `(convscope draw (?:conv|rf|matrix) [^`]*)`", (ROOT / "README.md").read_text(), flags=re.M)
    lines = [line for line in block.splitlines() if line.startswith("convscope draw")]
    table = [re.sub(r"\s*\[[^\]]*\]", "", line) for line in table]  # the table's [optional] parts left out
    return list(dict.fromkeys(lines + table))


@pytest.mark.parametrize("command", _commands())
def test_documented_draw_command_runs(command, tmp_path):
    args = shlex.split(command)[1:]
    out = tmp_path / pathlib.Path(args[args.index("-o") + 1]).name
    args[args.index("-o") + 1] = str(out)
    assert cli.main(args) == 0
    if out.suffix in (".png", ".gif"):
        assert 100 < max(Image.open(out).size) <= 4000
    else:
        assert out.read_text().lstrip().startswith("<?xml")
