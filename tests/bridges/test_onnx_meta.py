"""Shape-only ONNX import (meta=True, what the analysis entry points use): no weight becomes an
array (tracemalloc's peak stays far below the weights' bytes), yet the summary equals the one of
the model imported with its weights; a shape-only model refuses to run."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import convscope as cs
from convscope import cli
from convscope.nn.init import is_meta
from tests.nn.test_meta import peak_bytes

WEIGHT_BYTES = 4 * (128 * 64 * 9 + 2048 * 128 + 4096 * 2048 + 4096)  # 35 MB


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    """Conv -> Relu -> Conv -> GlobalAveragePool -> Flatten -> Gemm (2048 x 4096): 35 MB of weights."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((128, 64, 3, 3)).astype(np.float32), "conv.weight"),
             numpy_helper.from_array(np.full((4096, 2048), 0.01, np.float32), "fc.weight"),
             numpy_helper.from_array(np.zeros(4096, np.float32), "fc.bias")]
    nodes = [helper.make_node("Conv", ["input", "conv.weight"], ["c"], name="/features/conv.0/Conv", pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["r"], name="/features/relu/Relu"),
             helper.make_node("Conv", ["r", "conv.weight2"], ["c2"], name="/features/conv.1/Conv", strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["c2"], ["p"], name="/pool/GlobalAveragePool"),
             helper.make_node("Flatten", ["p"], ["f"], name="/Flatten"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["out"], name="/fc/Gemm", transB=1)]
    inits.append(numpy_helper.from_array(rng.standard_normal((2048, 128, 1, 1)).astype(np.float32) * 0.1,
                                         "conv.weight2"))
    graph = helper.make_graph(nodes, "medium", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 64, 16, 16])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4096])], inits)
    path = tmp_path_factory.mktemp("meta") / "medium.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_shape_only_import_allocates_no_weights(medium):
    weights = WEIGHT_BYTES
    summary, peak = peak_bytes(lambda: cs.summary(cs.from_onnx(medium, meta=True), (64, 16, 16)))
    assert peak < weights / 20, f"peak {peak:,} bytes for {weights:,} bytes of weights"
    full = cs.summary(cs.from_onnx(medium), (64, 16, 16))
    assert summary.totals["params"] == full.totals["params"] == weights // 4
    assert summary.totals["macs"] == full.totals["macs"]
    assert [(r.name, r.output_shape) for r in summary.rows] == [(r.name, r.output_shape) for r in full.rows]


def test_the_analysis_entry_points_read_onnx_shape_only(medium, capsys):
    model = cs.resolve_model(str(medium), meta=True)
    assert all(is_meta(p.data) for p in model.parameters())
    assert not any(is_meta(p.data) for p in cs.resolve_model(str(medium)).parameters())
    command = ["summary", str(medium), "--input", "64x16x16"]
    assert cli.main(command) == 0  # once to import what the command uses
    assert "/fc/Gemm" in capsys.readouterr().out
    _, peak = peak_bytes(lambda: cli.main(command))
    assert peak < WEIGHT_BYTES / 20, f"peak {peak:,} bytes for {WEIGHT_BYTES:,} bytes of weights"


def test_a_shape_only_model_refuses_to_run(medium):
    model = cs.from_onnx(medium, meta=True)
    x = np.zeros((1, 64, 16, 16), np.float32)
    with pytest.raises(ValueError, match="Conv2d '/features/conv.0/Conv'.*shape-only"):
        model(cs.Tensor(x))


def test_weights_are_the_files_and_writable(medium):
    """Layers are built without random draws, then hold the file's weights as their own arrays."""
    model = cs.from_onnx(medium)
    g = onnx.load(str(medium)).graph
    stored = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    conv = model.get("features_conv_0_Conv")
    np.testing.assert_array_equal(conv.weight.data, stored["conv.weight"])
    np.testing.assert_array_equal(model.get("fc_Gemm").weight.data, stored["fc.weight"])
    assert all(p.data.flags.writeable for p in model.parameters())
