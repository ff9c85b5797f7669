"""ONNX's own backend node tests through cs.from_onnx (see tests/bridges/onnx_conformance.py): for every
case of the op types convscope imports and those CNNs use, the outputs are ONNX's within the case's
tolerances, or convscope refuses the file with its own one-line ValueError/TypeError; never other
numbers, never a crash. Each case runs with its inputs after the first as initializers (as exporters
write weights, pads and shapes), and again as values the graph computes at run time. The number
passing may only grow."""
import pytest

from tests.bridges import onnx_conformance as conformance

PASS_FLOOR = {False: 386, True: 224}  # cases passing today, by `computed` (`python -m tests.bridges.onnx_conformance
# [computed]` lists the others)
CASES = {case.name: case for case in conformance.cases()}
COMPUTED = {case.name: case for case in conformance.computed_cases()}
RUNS = [(name, False) for name in CASES] + [(name, True) for name in COMPUTED]
OUTCOMES: dict = {}


@pytest.mark.parametrize("name,computed", RUNS, ids=[f"{n}{'-computed' if c else ''}" for n, c in RUNS])
def test_a_backend_node_test_passes_or_is_refused(name, computed, tmp_path):
    outcome, detail = OUTCOMES[name, computed] = conformance.run(CASES[name], tmp_path, computed)
    assert outcome in ("pass", "refused"), f"{name}: {outcome}: {detail}"


def test_the_cases_cover_the_imported_op_types_and_enough_of_them_pass(tmp_path):
    covered = {n.op_type for case in CASES.values() for n in case.model.graph.node}
    assert conformance.imported_ops() <= conformance.CNN_OPS  # the denominator names every op type imported
    assert conformance.imported_ops() - {"Cast"} <= covered  # and ONNX has float cases of each (Cast's change types)
    for name, computed in set(RUNS) - set(OUTCOMES):  # when run alone
        OUTCOMES[name, computed] = conformance.run(CASES[name], tmp_path, computed)
    for computed, floor in PASS_FLOOR.items():
        runs = [outcome for (name, c), (outcome, _) in OUTCOMES.items() if c == computed]
        passed = sum(outcome == "pass" for outcome in runs)
        assert passed >= floor, f"{passed} of {len(runs)} ONNX backend node tests pass (computed={computed}), " \
                                f"fewer than {floor}"
        assert passed >= 0.95 * len(runs), f"{passed} of {len(runs)}: under 95%"
