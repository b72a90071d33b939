"""``import-onnx``: foreign classifiers (the shipped reference) brought to the contract, files untouched."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from model_tools.__main__ import main
from model_tools.common.hashing import file_sha256
from model_tools.export.onnx_import import import_onnx_classifier
from model_tools.export.onnx_model import ModelRefusedError, onnxruntime_scores


def _dims(value: onnx.ValueInfoProto) -> list:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def test_reference_model_is_normalized_and_unchanged_on_disk(tmp_path, reference_onnx, real_inputs):
    user_file = tmp_path / "dnn_model_pt.onnx"
    user_file.write_bytes(reference_onnx.read_bytes())
    before = file_sha256(user_file)
    images, _ = real_inputs(300, split="validation")
    imported = import_onnx_classifier(user_file, check_images=images)
    assert file_sha256(user_file) == before
    model = imported.model
    assert [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")] == [13]
    assert [v.name for v in model.graph.input] == ["images"]  # initializers no longer inputs
    assert [v.name for v in model.graph.output] == ["scores"]
    assert isinstance(_dims(model.graph.input[0])[0], str)
    meta = imported.metadata
    assert meta["original_input_name"] == "flattened_rescaled_img_28x28"
    assert meta["original_output_name"] == "softmax_probabilities"
    assert meta["original_opset"] == "6"
    assert meta["source_sha256"] == before
    assert imported.parity is not None and imported.parity.ok
    scores = onnxruntime_scores(model, images[:5])  # the original (Gemm-6, batch 1) runs in no onnxruntime
    assert scores.shape == (5, 62)
    assert np.allclose(scores.sum(1), 1.0, atol=1e-5)


def _reference_in_numpy(path, images: np.ndarray) -> np.ndarray:
    """The reference network computed from its file's weights: Gemm(transB)-ELU-Gemm-ELU-Gemm-Softmax."""
    weights = {init.name: numpy_helper.to_array(init).astype(np.float64)
               for init in onnx.load(str(path)).graph.initializer}
    x = images.astype(np.float64)
    for layer in (1, 2, 3):
        x = x @ weights[f"weight_{layer}"].T + weights[f"bias_{layer}"]
        if layer < 3:
            x = np.where(x > 0, x, np.expm1(x))
    shifted = np.exp(x - x.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def test_normalized_reference_computes_the_original_network(reference_onnx, real_inputs):
    images, _ = real_inputs(200, split="validation")
    imported = import_onnx_classifier(reference_onnx)
    scores = onnxruntime_scores(imported.model, images)
    expected = _reference_in_numpy(reference_onnx, images)
    assert np.abs(scores - expected).max() <= 1e-5
    assert np.array_equal(scores.argmax(1), expected.argmax(1))


def _gemm_model(n_in: int, n_out: int, softmax: bool, path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.normal(0, 0.1, (n_in, n_out)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(0, 0.1, n_out).astype(np.float32), "b")
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["logits" if softmax else "y"])]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["y"], axis=-1))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", n_out])], [weight, bias])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def test_a_model_that_is_not_784_to_62_is_refused(tmp_path):
    path = tmp_path / "iris.onnx"
    _gemm_model(4, 3, softmax=True, path=path)
    with pytest.raises(ModelRefusedError, match=r"784 -> 62 classifier"):
        import_onnx_classifier(path)
    path = tmp_path / "wrong_classes.onnx"
    _gemm_model(784, 10, softmax=True, path=path)
    with pytest.raises(ModelRefusedError, match=r"returns \[N, 62\]"):
        import_onnx_classifier(path)


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("not a model")
    with pytest.raises(ModelRefusedError, match="not a readable ONNX model"):
        import_onnx_classifier(path)
    assert path.read_text() == "not a model"


def test_a_logits_model_gets_a_softmax(tmp_path, real_inputs):
    path = tmp_path / "logits.onnx"
    _gemm_model(784, 62, softmax=False, path=path)
    images, _ = real_inputs(50, split="validation")
    imported = import_onnx_classifier(path, check_images=images)
    assert any("Softmax" in change for change in imported.changes)
    scores = onnxruntime_scores(imported.model, images)
    assert np.allclose(scores.sum(1), 1.0, atol=1e-5)
    assert imported.parity.ok  # against softmax(original logits)


def test_import_cli_writes_normalized_copy(tmp_path, capsys, reference_onnx):
    user_file = tmp_path / "dnn_model_pt.onnx"
    user_file.write_bytes(reference_onnx.read_bytes())
    out = tmp_path / "normalized.onnx"
    assert main(["import-onnx", str(user_file), "--out", str(out), "--limit", "200"]) == 0
    assert "'flattened_rescaled_img_28x28' -> 'images'" in capsys.readouterr().out
    assert user_file.read_bytes() == reference_onnx.read_bytes()
    assert main(["import-onnx", str(user_file), "--out", str(user_file), "--overwrite"]) == 2
    assert user_file.read_bytes() == reference_onnx.read_bytes()
