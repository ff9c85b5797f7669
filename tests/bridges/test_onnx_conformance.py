"""ONNX's own backend node tests through cs.from_onnx (see tests/bridges/onnx_conformance.py): for every
case of the op types convscope imports and those CNNs use, the outputs are ONNX's within the case's
tolerances, or convscope refuses the file with its own one-line ValueError/TypeError; never other
numbers, never a crash. The number passing may only grow."""
import pytest

from tests.bridges import onnx_conformance as conformance

PASS_FLOOR = 350  # cases passing today (`python -m tests.bridges.onnx_conformance` lists the others)
CASES = {case.name: case for case in conformance.cases()}
OUTCOMES: dict = {}


@pytest.mark.parametrize("name", list(CASES))
def test_a_backend_node_test_passes_or_is_refused(name, tmp_path):
    outcome, detail = OUTCOMES[name] = conformance.run(CASES[name], tmp_path)
    assert outcome in ("pass", "refused"), f"{name}: {outcome}: {detail}"


def test_the_cases_cover_the_imported_op_types_and_enough_of_them_pass(tmp_path):
    covered = {n.op_type for case in CASES.values() for n in case.model.graph.node}
    assert conformance.imported_ops() & conformance.CNN_OPS <= covered  # every CNN op imported has cases
    for name in set(CASES) - set(OUTCOMES):  # when run alone
        OUTCOMES[name] = conformance.run(CASES[name], tmp_path)
    passed = sum(outcome == "pass" for outcome, _ in OUTCOMES.values())
    assert passed >= PASS_FLOOR, f"{passed} of {len(CASES)} ONNX backend node tests pass, fewer than {PASS_FLOOR}"
