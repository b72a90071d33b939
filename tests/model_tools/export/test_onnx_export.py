"""``export-onnx``: a checkpoint as an ONNX file with the contract's interface, proven against PyTorch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.__main__ import main
from model_tools.common.hashing import file_sha256
from model_tools.export.onnx_export import export_checkpoint
from model_tools.export.onnx_model import onnxruntime_scores
from model_tools.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def _dims(value: onnx.ValueInfoProto) -> list:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def test_export_has_the_contract_interface_and_metadata(translation):
    model = onnx.load(str(translation.onnx))
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
    assert meta["source_checkpoint_sha256"] == file_sha256(translation.checkpoint)
    assert 0.05 < float(meta["validation_accuracy"]) <= 1.0  # 300 steps beat chance (1/62) clearly
    assert meta["validation_images"] == str(translation.check_images)


def test_export_runs_any_batch_size_and_matches_pytorch(translation, real_inputs):
    import torch

    model = load_checkpoint(translation.checkpoint).model.eval()
    images, _ = real_inputs(37)
    for batch in (1, 7, 37):
        scores = onnxruntime_scores(translation.onnx, images[:batch])
        with torch.no_grad():
            expected = torch.softmax(model(torch.from_numpy(images[:batch])), dim=1).numpy()
        assert scores.shape == (batch, 62)
        assert np.abs(scores - expected).max() <= 1e-5
        assert np.array_equal(scores.argmax(1), expected.argmax(1))


def test_export_failing_parity_writes_nothing(translation, tmp_path, monkeypatch):
    import model_tools.export.onnx_export as onnx_export

    real = onnx_export.onnxruntime_scores
    monkeypatch.setattr(onnx_export, "onnxruntime_scores", lambda model, images: real(model, images) + 1e-3)
    out = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError, match="does not match PyTorch"):
        export_checkpoint(translation.checkpoint, out, limit=200)
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_to_overwrite(translation, capsys):
    assert main(["export-onnx", str(translation.checkpoint), "--out", str(translation.onnx)]) == 2
    assert file_sha256(translation.onnx) == translation.onnx_sha_before


def test_export_of_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["export-onnx", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
