"""ONNX export of checkpoints and import of foreign classifiers (the shipped reference model)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.__main__ import main
from model_tools.common.hashing import file_sha256
from model_tools.export.onnx_export import export_checkpoint
from model_tools.export.onnx_import import import_onnx_classifier
from model_tools.export.onnx_model import ModelRefusedError, onnxruntime_scores
from tests.translation_fixtures import REFERENCE_ONNX, build, real_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built():
    return build()


def _dims(value: onnx.ValueInfoProto) -> list:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def test_export_has_the_contract_interface_and_metadata(built):
    model = onnx.load(str(built.onnx))
    onnx.checker.check_model(model, full_check=True)
    opset = [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")][0]
    assert opset >= 13
    assert [v.name for v in model.graph.input] == ["images"]
    assert [v.name for v in model.graph.output] == ["scores"]
    assert _dims(model.graph.input[0])[1] == 784 and isinstance(_dims(model.graph.input[0])[0], str)
    assert _dims(model.graph.output[0])[1] == 62 and isinstance(_dims(model.graph.output[0])[0], str)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["labels"]) == list(BYCLASS_LABELS)
    assert "pixels/255" in meta["preprocessing"]
    assert meta["source_checkpoint_sha256"] == file_sha256(built.checkpoint)
    assert 0.05 < float(meta["validation_accuracy"]) <= 1.0  # 300 steps beat chance (1/62) clearly


def test_export_runs_any_batch_size_and_matches_pytorch(built):
    import torch

    from model_tools.training.checkpoint import load_checkpoint
    from model_tools.training.networks import WithSoftmax

    model = WithSoftmax(load_checkpoint(built.checkpoint).model).eval()
    images, _ = real_images(37)
    for batch in (1, 7, 37):
        scores = onnxruntime_scores(built.onnx, images[:batch])
        with torch.no_grad():
            expected = model(torch.from_numpy(images[:batch])).numpy()
        assert scores.shape == (batch, 62)
        assert np.abs(scores - expected).max() <= 1e-5
        assert np.array_equal(scores.argmax(1), expected.argmax(1))


def test_export_failing_parity_writes_nothing(built, tmp_path, monkeypatch):
    import model_tools.export.onnx_export as onnx_io

    real = onnx_io.onnxruntime_scores
    monkeypatch.setattr(onnx_io, "onnxruntime_scores", lambda model, images: real(model, images) + 1e-3)
    out = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError, match="does not match PyTorch"):
        export_checkpoint(built.checkpoint, out, limit=200)
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_to_overwrite(built, capsys):
    assert main(["export-onnx", str(built.checkpoint), "--out", str(built.onnx)]) == 2
    assert file_sha256(built.onnx) == built.onnx_sha_before


def test_export_of_missing_checkpoint_is_a_clear_error(tmp_path, caplog):
    assert main(["export-onnx", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "no checkpoint at" in caplog.text
    assert not (tmp_path / "m.onnx").exists()


def test_reference_model_is_normalized_and_unchanged_on_disk(tmp_path):
    user_file = tmp_path / "dnn_model_pt.onnx"
    user_file.write_bytes(REFERENCE_ONNX.read_bytes())
    before = file_sha256(user_file)
    images, _ = real_images(300, split="validation")
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


def test_a_logits_model_gets_a_softmax(tmp_path):
    path = tmp_path / "logits.onnx"
    _gemm_model(784, 62, softmax=False, path=path)
    images, _ = real_images(50, split="validation")
    imported = import_onnx_classifier(path, check_images=images)
    assert any("Softmax" in change for change in imported.changes)
    scores = onnxruntime_scores(imported.model, images)
    assert np.allclose(scores.sum(1), 1.0, atol=1e-5)
    assert imported.parity.ok  # against softmax(original logits)


def test_import_cli_writes_normalized_copy(tmp_path, capsys):
    user_file = tmp_path / "dnn_model_pt.onnx"
    user_file.write_bytes(REFERENCE_ONNX.read_bytes())
    out = tmp_path / "normalized.onnx"
    assert main(["import-onnx", str(user_file), "--out", str(out), "--limit", "200"]) == 0
    assert "'flattened_rescaled_img_28x28' -> 'images'" in capsys.readouterr().out
    assert user_file.read_bytes() == REFERENCE_ONNX.read_bytes()
    assert main(["import-onnx", str(user_file), "--out", str(user_file), "--overwrite"]) == 2
    assert user_file.read_bytes() == REFERENCE_ONNX.read_bytes()
