"""What every experiment returns and how it is run and saved."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

EXPERIMENTS: dict = {}


def experiment(fn):
    EXPERIMENTS[fn.__name__] = fn
    return fn


@dataclass
class Result:
    """An experiment's evidence: a table (columns + rows), the claim checked, a figure, numbers."""
    name: str
    claim: str
    columns: list
    rows: list
    numbers: dict = field(default_factory=dict)
    figure: object = None
    seconds: float = 0.0

    TIMED = ("s/epoch",)  # measured times: they vary from run to run, everything else must not

    def repeatable(self) -> dict:
        """Everything a seed fixes: the result without its measured times (equal byte for byte across runs)."""
        keep = [i for i, c in enumerate(self.columns) if c not in self.TIMED]
        return {"name": self.name, "claim": self.claim, "columns": [self.columns[i] for i in keep],
                "rows": [[row[i] for i in keep] for row in self.rows], "numbers": self.numbers}

    def to_dict(self) -> dict:
        return {"name": self.name, "claim": self.claim, "columns": self.columns, "rows": self.rows,
                "numbers": self.numbers, "seconds": self.seconds}

    def cells(self) -> list:
        """The rows as text: accuracies in %, counts with thousands separators, measured times in s."""
        def text(column, v):
            if column in self.TIMED:
                return f"{v:.2f} s"
            if isinstance(v, float) and "acc" in column:
                return f"{v:.2%}"
            return f"{v:,}" if isinstance(v, int) else f"{v:.4g}" if isinstance(v, float) else str(v)
        return [[text(c, v) for c, v in zip(self.columns, row)] for row in self.rows]

    def table(self):
        """The rows as a rich table (what the command line prints)."""
        from rich.table import Table

        t = Table(*self.columns, title=f"{self.name}: {self.claim}")
        for row in self.cells():
            t.add_row(*row)
        return t

    def to_markdown(self) -> str:
        """The claim and the rows as a Markdown table (notebook, docs)."""
        lines = [f"**{self.name}**: {self.claim}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + " --- |" * len(self.columns)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in self.cells()])

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def save(self, out) -> list:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / f"{self.name}.json"]
        written[0].write_text(json.dumps(self.to_dict(), indent=1, default=str))
        if self.figure is not None:
            written.append(out / f"{self.name}.png")
            self.figure.savefig(written[-1])  # the figure's own resolution
        return written


def run(name: str, seed: int = 0, quick: bool = False, out=None) -> Result:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; experiments: {', '.join(EXPERIMENTS)}")
    start = time.perf_counter()
    result = EXPERIMENTS[name](seed=seed, quick=quick)
    result.seconds = time.perf_counter() - start
    if out is not None:
        result.save(out)
    return result
