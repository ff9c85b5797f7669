"""ONNX's own backend node tests (shipped in the `onnx` package) run through cs.from_onnx.

The cases are those of every ONNX op type convscope imports, and of the op types CNNs use that it
may not import yet (`CNN_OPS`), on float32 or float64 data; inputs after the first become initializers (weights,
shapes, pads, scales), as exporters write them. Each case ends as one of:
  pass     the outputs match ONNX's expected ones within the case's own tolerances
  wrong    the model ran and gave other shapes or numbers (never acceptable)
  refused  convscope refused it with its own ValueError/TypeError (at import, or a `raise` of ours)
  raises   anything else (a crash)
`python -m tests.bridges.onnx_conformance` prints every case that does not pass.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

import convscope as cs

# op types CNNs use and every op type convscope imports (the denominator; a test checks it holds the latter)
CNN_OPS = {
    "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "Celu", "Clip", "Concat", "Conv", "ConvTranspose",
    "DepthToSpace", "Div", "Dropout", "Einsum", "Elu", "Erf", "Exp", "Expand", "Flatten", "Gather", "Gelu", "Gemm",
    "GlobalAveragePool", "GlobalMaxPool", "GroupNormalization", "HardSigmoid", "HardSwish", "Hardmax", "Identity",
    "InstanceNormalization", "LayerNormalization", "LeakyRelu", "Log", "LogSoftmax", "LpPool", "MatMul", "Max",
    "MaxPool", "Mean", "Min", "Mish", "Mul", "Neg", "Pad", "Pow", "PRelu", "Reciprocal", "ReduceMax", "ReduceMean",
    "ReduceSum", "Relu", "Reshape", "Resize", "Selu", "Shrink", "Sigmoid", "Sign", "Slice", "Softmax", "Softplus", "Softsign",
    "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "ThresholdedRelu", "Tile", "Transpose",
    "Unsqueeze", "Upsample",
}
FLOATS = {1, 11}  # onnx.TensorProto.FLOAT, DOUBLE


def imported_ops() -> set:
    """The ONNX op types convscope converts: rules, layers' ONNX imports, ops named like an ONNX op."""
    from convscope.bridges import onnx_import  # noqa: F401  (loads every rule module)
    from convscope.bridges.onnx_rules import RULES
    from convscope.nn import registry
    from convscope.ops import registry as op_registry

    layers = {imp.op for d in registry.declarations().values() for imp in d.onnx}
    ops = {op.onnx for op in op_registry.all_ops() if isinstance(op.onnx, str)}
    return set(RULES) | layers | ops


_CASES: list = []


def cases() -> list:
    """ONNX's node test cases of the covered op types with float32 or float64 inputs and outputs (collected once:
    only the modules of those op types are imported, each runs its exports on import)."""
    if _CASES:
        return _CASES
    import onnx.backend.test.case.node as node_cases

    ops = imported_ops() | CNN_OPS
    wanted = {op.lower() for op in ops}
    for info in pkgutil.iter_modules(node_cases.__path__):
        if not info.ispkg and info.name.replace("_", "").lower() in wanted:
            importlib.import_module(f"{node_cases.__name__}.{info.name}")
    seen = set()
    for case in node_cases._NodeTestCases:
        g = case.model.graph
        types = [v.type.tensor_type.elem_type for v in (g.input[0], *g.output)] if g.input else [None]
        if case.name not in seen and {n.op_type for n in g.node} <= ops and len(set(types)) == 1 \
                and set(types) <= FLOATS:
            seen.add(case.name)
            _CASES.append(case)
    return _CASES


def _with_initializers(case, computed: bool = False):
    """The case's model with every input after the first given as an initializer (`computed`: left
    graph inputs, values the graph computes at run time), and its data."""
    from onnx import numpy_helper

    model = type(case.model)()
    model.CopyFrom(case.model)
    inputs, outputs = case.data_sets[0]
    if computed:
        return model, list(inputs), outputs
    g = model.graph
    names = [v.name for v in g.input]
    for name, value in zip(names[1:], inputs[1:]):
        g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    del g.input[1:]
    return model, [inputs[0]], outputs


def _ours(err: BaseException) -> bool:
    """convscope's own refusal: a ValueError/TypeError raised by a `raise` in convscope's source."""
    if not isinstance(err, (ValueError, TypeError)):
        return False
    last = traceback.extract_tb(err.__traceback__)[-1]
    return "convscope" in Path(last.filename).parts and (last.line or "").lstrip().startswith("raise")


def run(case, folder: Path, computed: bool = False) -> tuple[str, str]:
    """(outcome, detail) of one case; `computed`: its inputs after the first are graph values."""
    import onnx

    model, xs, expected = _with_initializers(case, computed)
    path = folder / f"{case.name}{'_computed' if computed else ''}.onnx"
    onnx.save(model, str(path))
    try:
        ours = cs.from_onnx(path)
    except (ValueError, TypeError) as err:
        return "refused", str(err).splitlines()[-1].strip()
    except Exception as err:  # noqa: BLE001  (the category being measured)
        return "raises", f"{type(err).__name__}: {err}"
    try:
        with cs.no_grad():
            got = ours(*(cs.Tensor(np.asarray(x)) for x in xs))
    except Exception as err:  # noqa: BLE001
        return ("refused" if _ours(err) else "raises"), f"{type(err).__name__}: {str(err).splitlines()[0]}"
    got = got if isinstance(got, tuple) else (got,)
    for a, (mine, want) in enumerate(zip(got, expected)):
        mine = np.asarray(mine.data)
        if mine.shape != want.shape:
            return "wrong", f"output {a}: shape {mine.shape}, expected {want.shape}"
        if not np.allclose(mine, want, rtol=case.rtol, atol=case.atol, equal_nan=True):
            return "wrong", f"output {a}: max |d| {np.nanmax(np.abs(mine - want)):.3g}"
    return "pass", ""


def computed_cases() -> list:
    """The cases with inputs after the first (weights, pads, shapes, scales), to run as graph values."""
    return [case for case in cases() if len(case.model.graph.input) > 1]


def run_all(computed: bool = False) -> dict:
    """case name -> (outcome, detail)."""
    with tempfile.TemporaryDirectory() as folder:
        return {case.name: run(case, Path(folder), computed) for case in (computed_cases() if computed else cases())}


if __name__ == "__main__":
    results = run_all("computed" in sys.argv[1:])
    sys.argv = [a for a in sys.argv if a != "computed"]
    counts = {k: sum(1 for o, _ in results.values() if o == k) for k in ("pass", "wrong", "refused", "raises")}
    for name, (outcome, detail) in sorted(results.items()):
        if outcome != "pass" and (len(sys.argv) < 2 or outcome in sys.argv[1:]):
            print(f"{outcome:8} {name}: {detail}")
    print(f"{len(results)} cases: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
