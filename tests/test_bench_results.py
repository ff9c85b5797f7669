"""`make bench`'s results are kept per kind of CPU, and tools/readme_numbers.py renders one dated table
per kind into the README (the latest kinds) and docs/performance.md (all of them): measuring on one kind
replaces that kind's table and keeps the others. Checked on made-up results, never by running a benchmark."""
import copy
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools"))
import bench_results  # noqa: E402
import common  # noqa: E402
import readme_numbers  # noqa: E402


@pytest.fixture
def results(tmp_path, monkeypatch):
    """The kept results copied into a scratch folder, and a fixed machine line."""
    for path in bench_results.RESULTS.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    monkeypatch.setattr(bench_results, "RESULTS", tmp_path)
    monkeypatch.setattr(readme_numbers, "machine", lambda tmp: "measured 2099-01-02 on a made-up CPU")
    return tmp_path


def made_up(kind: str, date: str, scale: float) -> dict:
    """A result shaped like bench_all.py's, every time scaled from the kept AMD EPYC record."""
    base = next(r for r in bench_results.load_all() if r["kind"] == "AMD EPYC")
    result = copy.deepcopy(base)
    result.update(kind=kind, cpu=f"{kind} Processor", isa="avx2 avx512f amx", date=date, gemm_gflops=300.0,
                  peak=dict(peak_model="ResNet-18 b8", gflop=29.0, ours_gflops=150.0, torch_gflops=200.0))
    for row in result["rows"]:
        row["ours"] *= scale
        row["ratio"] = row["ratio"] * scale
    return result


def test_a_new_kind_of_cpu_adds_a_table_and_the_same_kind_replaces_its_own(results):
    others = {r["kind"]: r for r in bench_results.load_all()}
    amd = others["AMD EPYC"]
    for kind in ("Made-up CPU", "Intel Xeon"):  # a kind not kept yet, and (maybe) one that is
        readme_numbers.bench("tmp", run=lambda tmp: made_up(kind, "2099-01-02", 2.0))
        readme_numbers.bench("tmp", run=lambda tmp: made_up(kind, "2099-01-03", 3.0))
        kept = bench_results.load_all()
        assert kept[0]["kind"] == kind and kept[0]["date"] == "2099-01-03"  # newest first
        assert sorted(r["kind"] for r in kept) == sorted({*others, kind})  # one record per kind
        assert next(r for r in kept if r["kind"] == "AMD EPYC") == amd
        assert kept[0]["rows"][0]["ratio"] == pytest.approx(amd["rows"][0]["ratio"] * 3.0)
        others = {r["kind"]: r for r in kept}


def test_the_readme_shows_one_dated_table_per_kind_and_stays_under_its_line_budget(results):
    body = readme_numbers.bench("tmp", run=lambda tmp: made_up("Intel Xeon", "2099-01-02", 2.0))
    amd = next(r for r in bench_results.load_all() if r["kind"] == "AMD EPYC")
    assert body.count("| layer | forward |") == 2  # the two latest kinds
    assert "**Intel Xeon** (vector ISA avx2 avx512f amx), measured 2099-01-02" in body
    assert "ResNet-18 b8 (29.0 GFLOP) at 0.50 of it in convscope, 0.67 in PyTorch" in body
    assert f"**AMD EPYC** (vector ISA not recorded), {amd['machine']}" in body
    depthwise = [line for line in body.splitlines() if line.startswith("| depthwise |")]
    assert depthwise[0].startswith("| depthwise | 5.06x | 3.94x |")  # Intel's, scaled from AMD's 2.53x, 1.97x
    assert depthwise[1].startswith("| depthwise | 2.53x | 1.97x |")
    readme = readme_numbers.fill((ROOT / "README.md").read_text(), {"bench": body})
    assert len(readme.splitlines()) < 210
    full = readme_numbers.bench_full("tmp")
    assert full.count("| section | case |") == 2 and "| 5.06x |" in full


def test_the_kept_amd_table_is_the_one_the_readme_printed():
    """The README's full table for AMD EPYC (now in docs/performance.md) renders from the record."""
    text = (ROOT / "docs" / "performance.md").read_text()
    body = next(m["body"] for m in readme_numbers.MARKER.finditer(text) if m["name"] == "bench-full")
    amd = next(r for r in bench_results.load_all() if r["kind"] == "AMD EPYC")
    assert "\n".join(bench_results.full_table(amd)) in body
    assert "| layer forward | depthwise (N8, 128x56x56 -> 128, k3 p1 groups 128) | 8.54 ms | 3.38 ms | 2.53x |" in body


@pytest.mark.parametrize("model, kind", [("Intel(R) Xeon(R) Processor", "Intel Xeon"), ("AMD EPYC", "AMD EPYC"),
                                         ("AMD EPYC 7B13 64-Core Processor", "AMD EPYC 7B13"),
                                         ("Intel(R) Core(TM) i7-9750H CPU @ 2.60GHz", "Intel Core i7-9750H")])
def test_cpu_kind_drops_trademarks_clock_and_processor(model, kind):
    assert common.cpu_kind(model) == kind


def test_every_table_names_the_cpu_and_its_vector_isa():
    header = common.machine_header()
    assert header.startswith(f"CPU: {common.cpu_model()}; vector ISA: {common.vector_isa()}")
    assert set(common.vector_isa().split()) <= set(common.ISA_FLAGS.values()) or "none of" in common.vector_isa() \
        or common.vector_isa() == "unknown"
