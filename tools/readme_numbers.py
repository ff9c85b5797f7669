"""Regenerate every number README.md and docs/*.md quote, between markers, on this machine.

    python tools/readme_numbers.py                 # everything but the benchmark table (several minutes)
    python tools/readme_numbers.py --only tour     # one or more sections (comma-separated)
    python tools/readme_numbers.py --bench         # also run `make bench`, keep its result for this CPU kind
    python tools/readme_numbers.py --models        # also the torchvision sweep (tools/model_table.py)

A quoted number lives between ``<!-- numbers:NAME -->`` and ``<!-- /numbers -->``; this script
replaces what is between them with what it measures now (a marker may appear in several pages, and
on one line or around a block). tests/test_readme.py checks that no measured number is typed
outside markers. Measurements are run in subprocesses, as a user would run them, from a temporary
folder, with seed 0.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"(<!-- numbers:(?P<name>[a-z][a-z0-9-]*) -->)(?P<body>.*?)(<!-- /numbers -->)", re.S)
BENCH = ["make", "-s", "bench"]  # bench_all.py writes its result as JSON to $BENCH_SAVE
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_results as report  # noqa: E402  (the results per CPU kind, and their tables)
FASHION = ["train", "cnn_fashion", "--data", "fashion-mnist", "--epochs", "5", "--lr", "1e-3", "--seed", "0"]
TRAINING = [("lenet_digits", "digits", "CNN"), ("fc_digits", "digits", "dense"), ("cnn1d_mnist1d", "mnist1d", "1-D CNN")]


def _python(*args, cwd) -> tuple[str, float]:
    """Run `python -m convscope ...` (or a script) the way a user does; return its output and wall time."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), COLUMNS="200")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"readme_numbers: {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout, seconds


def machine(tmp) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numpy

    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    load = os.getloadavg()[0]  # other work on the machine slows every timing: say how busy it was
    return (f"measured {day} on {cpu}, {os.cpu_count()} cores, Linux {platform.release().split('-')[0]}, "
            f"Python {platform.python_version()}, NumPy {numpy.__version__}; load average {load:.1f} when started")


def tour(tmp) -> str:
    out, seconds = _python("-m", "convscope", "tour", "--out", str(Path(tmp) / "tour"), cwd=tmp)
    lenet, dense = re.findall(r"test accuracy (\d+\.\d+%)", out)[:2]
    return f"{seconds:.0f} s for the whole command (LeNet {lenet} test accuracy, dense net {dense})"


def training(tmp) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from convscope import load_model
    from convscope.tour import example_model

    rows = ["| model | data | parameters | test accuracy | wall time (whole command) |",
            "| --- | --- | ---: | ---: | ---: |"]
    for name, data, kind in TRAINING:
        runs = Path(tmp) / "runs"
        _, seconds = _python("-m", "convscope", "train", str(example_model(name)), "--data", data, "--epochs", "20",
                             "--seed", "0", "--out", str(runs), "--quiet", cwd=tmp)
        history = json.loads(next(runs.glob(f"*{name}*/history.json")).read_text())
        accuracy = history["epochs"][-1]["val_accuracy"]  # the test set, after the last epoch
        params = sum(p.data.size for p in load_model(example_model(name)).parameters())
        rows.append(f"| `{name}.yaml` ({kind}) | {data} | {params:,} | {accuracy:.2%} | {seconds:.1f} s |")
    return "\n" + "\n".join(rows) + "\n"


def fashion(tmp) -> str:
    """The real Fashion-MNIST (downloaded once, or from Debian's dataset-fashion-mnist) with a small CNN."""
    runs = Path(tmp) / "runs"
    _, seconds = _python("-m", "convscope", *FASHION, "--out", str(runs), "--quiet", cwd=tmp)
    epochs = json.loads(next(runs.glob("*cnn_fashion*/history.json")).read_text())["epochs"]
    per_epoch = sum(e["seconds"] for e in epochs) / len(epochs)
    return (f"`convscope {' '.join(FASHION)}` reaches {epochs[-1]['val_accuracy']:.2%} test accuracy after "
            f"{len(epochs)} epochs in {seconds / 60:.1f} minutes for the whole command ({per_epoch:.0f} s of training "
            f"per epoch; {machine(tmp)})")


def experiments(tmp) -> str:
    code = ("import convscope as cs\nfor name in cs.experiments.EXPERIMENTS:\n"
            "    print(cs.experiments.run(name, seed=0, quick=True).to_markdown(), end='\\n\\n')")
    out, _ = _python("-c", code, cwd=tmp)
    return "\n" + out.strip() + "\n"


def analysis(tmp) -> str:
    code = ("import time, convscope as cs\nnn = cs.nn\nchain = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(1000)])\n"
            "for model, shape in ((cs.zoo.load('resnet50'), (3, 224, 224)), (chain, (1, 32, 32))):\n"
            "    cs.summary(model, shape)\n    t = time.perf_counter(); cs.summary(model, shape)\n"
            "    print(f'{time.perf_counter() - t:.2f}')")
    resnet, chain = _python("-c", code, cwd=tmp)[0].split()
    return f"ResNet-50 in {resnet} s, a 1000-layer chain in {chain} s"


def _errata():
    sys.path.insert(0, str(ROOT / "src"))
    from convscope import lecture

    return lecture.errata()


def errata(tmp) -> str:
    rows = ["| section | the lecture writes | and states | the true value | why |", "| --- | --- | --- | --- | --- |"]
    rows += [f"| {e.section} | {e.writes} | {e.states} | {e.true} | {e.why} |" for e in _errata()]
    return "\n" + "\n".join(rows) + "\n"


def errata_short(tmp) -> str:
    return "\n" + "\n".join(f"- {e.sentence()}" for e in _errata()) + "\n"


def bench(tmp, run=None) -> str:
    """Run `make bench` (or `run`, which returns its result), keep the result as this CPU kind's
    record in benchmarks/results/ (replacing an older one of the same kind, keeping other kinds),
    and return the README's tables: one dated table per kind of CPU measured."""
    result = (run or _run_bench)(tmp)
    result["machine"] = machine(tmp)
    report.save(result)
    return report.readme_body(report.load_all())


def _run_bench(tmp) -> dict:
    out = Path(tmp) / "bench.json"
    env = dict(os.environ, BENCH_SAVE=str(out))
    subprocess.run(BENCH, cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    if not out.exists():
        raise SystemExit(f"readme_numbers: `{' '.join(BENCH)}` wrote no result to $BENCH_SAVE")
    return json.loads(out.read_text())


def bench_full(tmp) -> str:
    """Every kept result in full (times, targets, the other environments), one table per CPU kind."""
    return report.docs_body(report.load_all())


def models(tmp) -> str:
    out, _ = _python(str(ROOT / "tools" / "model_table.py"), cwd=tmp)
    return f"\n{machine(tmp)}, `python tools/model_table.py`:\n\n{out.strip()}\n"


SECTIONS = {"machine": machine, "errata": errata, "errata-short": errata_short, "analysis": analysis,
            "experiments": experiments, "training": training, "tour": tour, "bench": bench,
            "bench-full": bench_full, "models": models, "fashion": fashion}  # bench-full after bench
SLOW = {"fashion": "train a CNN on the real Fashion-MNIST (minutes) for its numbers",
        "bench": "run `make bench` (long) and keep its result for this kind of CPU",
        "models": "run tools/model_table.py (the full-size "
        "torchvision sweep, minutes) for its table"}


def onnx_conformance(tmp) -> str:
    def counts(*args):
        out, _ = _python(str(ROOT / "tests" / "bridges" / "onnx_conformance.py"), "none", *args, cwd=tmp)
        return dict((k, int(v)) for v, k in re.findall(r"(\d+) (pass|wrong|refused|raises)", out.splitlines()[-1]))

    given, computed = counts(), counts("computed")
    total, total_c = sum(given.values()), sum(computed.values())
    return (f"On {datetime.now(timezone.utc).strftime('%Y-%m-%d')}, with onnx {_onnx_version()}: {given['pass']} of "
            f"{total} cases pass ({100 * given['pass'] / total:.1f}%), {given['wrong']} give other numbers, "
            f"{given['refused']} are refused and {given['raises']} crash; with their settings computed in the graph, "
            f"{computed['pass']} of {total_c} pass ({100 * computed['pass'] / total_c:.1f}%), {computed['wrong']} give "
            f"other numbers, {computed['refused']} are refused and {computed['raises']} crash.")


def _onnx_version() -> str:
    import onnx

    return onnx.__version__


SECTIONS["onnx-conformance"] = onnx_conformance


def library_sweep(tmp) -> str:
    out, _ = _python(str(ROOT / "tools" / "library_sweep.py"), cwd=tmp)
    return out.strip().splitlines()[-1]


SECTIONS["library-sweep"] = library_sweep
SLOW["library-sweep"] = "run tools/library_sweep.py (timm and other libraries through from_torch, long) for its line"


def fill(text: str, values: dict) -> str:
    """Replace the body of every marker whose name has a value; leave the others as they are."""
    return MARKER.sub(lambda m: m.group(1) + values[m["name"]] + m.group(4) if m["name"] in values else m.group(0), text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated sections: " + ", ".join(SECTIONS))
    for name, text in SLOW.items():
        parser.add_argument(f"--{name}", action="store_true", help=f"also {text}")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else [n for n in SECTIONS if n not in SLOW or getattr(args, n.replace("-", "_"))]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; sections: {', '.join(SECTIONS)}")
    values = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            start = time.perf_counter()
            values[name] = SECTIONS[name](tmp)
            print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    for page in PAGES:
        text = page.read_text()
        new = fill(text, values)
        if new != text:
            page.write_text(new)
            print(f"updated {page.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
