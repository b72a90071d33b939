"""``inspect`` on SavedModel folders and ONNX files."""

from __future__ import annotations

import json

import onnx
import pytest

from model_tools.__main__ import main

pytestmark = pytest.mark.slow


def test_inspect_saved_model_prints_signatures_like_saved_model_cli(translation, capsys):
    assert main(["inspect", str(translation.version_dir)]) == 0
    out = capsys.readouterr().out
    assert "MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:" in out
    assert "signature_def['classify']:" in out
    assert "    inputs['inputs'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in out
    assert "Method name is: tensorflow/serving/classify" in out
    assert "assets/labels.txt: 62 labels" in out
    assert "tf_serving_warmup_requests: 3 records" in out
    assert "input images: FLOAT ['batch', 784]" in out


def test_inspect_saved_model_json(translation, capsys):
    assert main(["inspect", str(translation.version_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    signatures = summary["meta_graphs"]["serve"]
    predict = signatures["predict_images"]
    assert predict["inputs"]["images"]["shape"] == [-1, 784]
    assert predict["outputs"]["classes"]["dtype"] == "DT_INT64"
    assert sorted(predict["outputs"]) == ["classes", "scores"]
    default = signatures["serving_default"]
    assert {key: (info["dtype"], info["shape"]) for key, info in default["outputs"].items()} == {
        "scores": ("DT_FLOAT", [-1, 62])}
    assert default["method_name"] == "tensorflow/serving/predict"
    assert summary["onnx"]["inputs"][0]["name"] == "images"


def test_inspect_onnx_summarizes_the_graph(capsys, reference_onnx):
    assert main(["inspect", str(reference_onnx), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["opsets"] == {"ai.onnx": 6}
    assert summary["op_counts"] == {"Elu": 2, "Gemm": 3, "Softmax": 1}
    weights = onnx.load(str(reference_onnx)).graph.initializer
    assert summary["parameters"] == sum(int(onnx.numpy_helper.to_array(w).size) for w in weights)
    assert summary["parameters"] == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 62 + 62
    assert summary["inputs"] == [
        {"name": "flattened_rescaled_img_28x28", "dtype": "FLOAT", "shape": [1, 784]}]
    assert summary["initializers_listed_as_inputs"] == 6


def test_inspect_of_missing_or_wrong_target_is_a_clear_error(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nothing")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("python -m model_tools: error: ") and "does not exist" in error
    assert main(["inspect", str(tmp_path)]) == 2  # a folder without saved_model.pb
    assert "not a SavedModel folder" in capsys.readouterr().err
