"""``verify``: a version passes only with the contract's signatures and its sources' scores."""

from __future__ import annotations

import pytest

from model_tools.__main__ import main

pytestmark = pytest.mark.slow


def test_verify_refuses_a_default_signature_with_extra_outputs(translation, tmp_path):
    """The old contract (serving_default also giving ``classes``) is not ours: TF Serving would answer
    objects per row instead of rows of 62 scores."""
    import shutil

    from model_tools.export.signatures import read_saved_model_proto
    from model_tools.export.verify import check_interface

    assert check_interface(translation.version_dir) == []
    version_dir = tmp_path / "1"
    shutil.copytree(translation.version_dir, version_dir)
    saved_model = read_saved_model_proto(version_dir)
    signatures = saved_model.meta_graphs[0].signature_def
    signatures["serving_default"].outputs["classes"].CopyFrom(signatures["predict_images"].outputs["classes"])
    (version_dir / "saved_model.pb").write_bytes(saved_model.SerializeToString())
    (failure,) = check_interface(version_dir)
    assert failure.startswith("signature 'serving_default' outputs:")
    assert "'classes': ('DT_INT64', [-1])" in failure


def test_verify_cli_passes_and_fails_honestly(translation, capsys):
    assert main(["verify", str(translation.version_dir), "--checkpoint", str(translation.checkpoint),
                 "--limit", "300"]) == 0
    assert "OK on 300 validation images" in capsys.readouterr().out
    # against another model's ONNX the same SavedModel must fail
    other_onnx = translation.reference_version_dir / "model.onnx"
    assert main(["verify", str(translation.version_dir), "--onnx", str(other_onnx), "--limit", "300"]) == 1
    assert "FAILED: parity" in capsys.readouterr().out
