"""`make bench`'s results, one record per CPU kind, and the Markdown tables made from them.

A result is a dict: the CPU (`cpu`, `kind`, `isa`), when and where (`date`, `machine`), NumPy's
float32 GEMM peak in the same run (`gemm_gflops`), a model's nominal FLOPs against it (`peak`) and
the rows (`section`, `case`, `ours`, `theirs`, `unit`, `ratio`, `target`, and the ratios in the `default`
environment and with a `busy` core). `benchmarks/results/<kind>.json` keeps the latest result per
CPU kind: measuring on one kind of CPU replaces that kind's record and keeps the others, so the
README shows a dated table for each kind of machine the project was measured on.
"""
from __future__ import annotations

import json
import math
import pathlib
import re

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
README_KINDS = 2  # the README (< 210 lines) shows the latest kinds; docs/performance.md shows all
RATIO_NOTE = ("Ratio = convscope / PyTorch 2.13, lower is better; each side's fast time, interleaved in one "
              "process, 2 threads, float32")


def slug(kind: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")


def save(result: dict, folder: pathlib.Path | None = None) -> pathlib.Path:
    """Keep `result` as its CPU kind's record, replacing an older one of the same kind."""
    folder = folder or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug(result['kind'])}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def load_all(folder: pathlib.Path | None = None) -> list[dict]:
    """Every kind's record, the most recently measured first."""
    results = [json.loads(p.read_text()) for p in sorted((folder or RESULTS).glob("*.json"))]
    return sorted(results, key=lambda r: r["date"], reverse=True)


def ratio(row: dict) -> str:
    """The row's ratio, as measured (from unrounded times), or '-' when the case did not run."""
    r = row.get("ratio")
    if r is None and row["theirs"]:
        r = row["ours"] / row["theirs"]
    return "-" if r is None or not math.isfinite(r) else f"{r:.2f}x"


def _value(v: float, unit: str) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:.2f} {unit}"


def _other(v) -> str:
    return "" if v is None else ("-" if not math.isfinite(v) else f"{v:.2f}x")


def peak_line(result: dict) -> str:
    """NumPy's GEMM peak and the model's fraction of it, or '' when the run did not measure them."""
    gemm, peak = result.get("gemm_gflops"), result.get("peak")
    if not gemm:
        return ""
    line = f"NumPy float32 GEMM peak {gemm:.0f} GFLOP/s (2048^3, 2 threads)"
    if peak:
        line += (f"; {peak['peak_model']} ({peak['gflop']:.1f} GFLOP) at {peak['ours_gflops'] / gemm:.2f} of it "
                 f"in convscope, {peak['torch_gflops'] / gemm:.2f} in PyTorch")
    return line


def caption(result: dict) -> str:
    isa = f"vector ISA {result['isa']}" if result.get("isa") else "vector ISA not recorded"
    extra = peak_line(result) or "GEMM peak not recorded"
    return f"**{result['kind']}** ({isa}), {result['machine']}. {extra}."


def full_table(result: dict) -> list[str]:
    lines = ["| section | case | convscope | PyTorch | ratio | target | ratio, default env | ratio, one core busy |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in result["rows"]:
        lines.append(f"| {r['section']} | {r['case']} | {_value(r['ours'], r['unit'])} | "
                     f"{_value(r['theirs'], r['unit'])} | {ratio(r)} | {r['target']} | "
                     f"{_other(r.get('default'))} | {_other(r.get('busy'))} |")
    return lines


def _short(target: str) -> str:
    return target.replace("<= ", "").split(" (")[0]


def summary_table(result: dict) -> list[str]:
    """Ratios only, layers on the left and whole models, training and memory on the right."""
    layers: dict[str, list[str]] = {}
    for r in result["rows"]:
        if r["section"].startswith("layer"):
            cell = layers.setdefault(r["case"].split(" (")[0], ["", "", "", ""])
            i = 1 if r["section"].endswith("backward") else 0
            cell[i], cell[2 + i] = ratio(r), _short(r["target"])
    left = [[name, c[0], c[1], f"{c[2]} / {c[3]}"] for name, c in layers.items()]
    right = [[r["case"], ratio(r), _short(r["target"])]
             for r in result["rows"] if not r["section"].startswith("layer")]
    lines = ["| layer | forward | fwd+bwd | target | model (eval), training, memory | ratio | target |",
             "| --- | ---: | ---: | --- | --- | ---: | --- |"]
    for i in range(max(len(left), len(right))):
        cells = (left[i] if i < len(left) else [""] * 4) + (right[i] if i < len(right) else [""] * 3)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def readme_body(results: list[dict]) -> str:
    parts = [f"{RATIO_NOTE}; every row, in ms, in [performance](docs/performance.md#todays-tables):"]
    for result in results[:README_KINDS]:
        parts += [caption(result), "\n".join(summary_table(result))]
    return "\n" + "\n\n".join(parts) + "\n"


def docs_body(results: list[dict]) -> str:
    parts = [f"`make -s bench` (benchmarks/bench_all.py), one table per kind of CPU. {RATIO_NOTE}; the main "
             "columns in the tuned thread environment (both libraries wait passively), then the default "
             "environment, then tuned with one core kept busy by a CPU loop."]
    for result in results:
        parts += [caption(result), "\n".join(full_table(result))]
    return "\n" + "\n\n".join(parts) + "\n"
