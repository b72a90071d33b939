"""The one atomic writer every model_tools command uses."""

from __future__ import annotations

import pytest

from model_tools.common.atomic_io import atomic_output, write_json_atomic, write_text_atomic


def test_success_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "report.md"
    write_text_atomic(target, "old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"complete")
    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_temporary_is_hidden_beside_the_target(tmp_path):
    # Beside it: the rename stays on one file system. Hidden: watchers and globs of *.png skip it.
    with atomic_output(tmp_path / "plot.png") as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".")
        assert not temporary.name.endswith(".png")
        temporary.write_bytes(b"png")
    assert (tmp_path / "plot.png").read_bytes() == b"png"


def test_json_document_has_a_final_newline_and_reads_back(tmp_path):
    target = tmp_path / "metrics.json"
    assert write_json_atomic(target, {"accuracy": 0.5, "labels": ["0", "A"]}) == target
    assert target.read_text() == '{\n "accuracy": 0.5,\n "labels": [\n  "0",\n  "A"\n ]\n}\n'
