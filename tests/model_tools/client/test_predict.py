"""``predict``: image files and folders read with a model version, as text or JSON, errors as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.layout import MODEL_INFO_FILE
from model_tools.__main__ import main

IMAGES = Path(__file__).resolve().parents[3] / "test_images"


def labelled(count: int = 6) -> list[tuple[Path, str]]:
    """Shipped test images (``A_upper_0.png`` shows an "A") the bundled model reads right."""
    return [(path, path.name.split("_")[0]) for path in sorted(IMAGES.glob("*_*_*.png"))[:count]]


@pytest.fixture(scope="module")
def reference_scores(served_version_dir):
    """onnxruntime straight on the version's model.onnx, fed a 28x28 test image's pixels/255 (ink high)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(served_version_dir / "model.onnx"))

    def scores(path: Path) -> np.ndarray:
        pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float32).reshape(1, -1) / 255.0
        return session.run(None, {session.get_inputs()[0].name: pixels})[0][0]

    return scores


def test_text_lines_per_file(capsys, reference_scores):
    files = labelled()
    assert main(["predict", *map(str, (path for path, _ in files))]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("model ") and "(onnxruntime)" in lines[0]
    assert len(lines) == 1 + len(files) and err == ""
    for line, (path, label) in zip(lines[1:], files, strict=True):
        scores = reference_scores(path)
        assert line.startswith(f"{path}: {label} {scores.max() * 100:.1f} %"), line
        assert "(top 3: " in line


def test_json_answer_with_the_model_info(capsys, repo, reference_scores, served_version_dir):
    (path, label), = labelled(1)
    assert main(["predict", str(path), "--json", "--top", "5"]) == 0
    document = json.loads(capsys.readouterr().out)
    # The served version records the training run it came from; that run's metrics.json is the truth.
    source = json.loads((served_version_dir / MODEL_INFO_FILE).read_text())["source"]
    run_metrics = json.loads((repo / source).read_text())
    untrained = run_metrics["classes_without_training_images"]
    assert document["model"]["classes_without_training_images"] == untrained
    (result,) = document["results"]
    scores = reference_scores(path)
    assert result["label"] == label and result["file"] == str(path)
    assert result["probability"] == pytest.approx(float(scores.max()), abs=1e-6)
    assert [entry["label"] for entry in result["top"]] == [BYCLASS_LABELS[i] for i in np.argsort(-scores)[:5]]
    untrained = set(untrained)
    assert all(entry["learned"] == (entry["label"] not in untrained) for entry in result["top"])
    assert result["uncertain"] == (scores.max() < 0.5 or np.sort(scores)[-1] - np.sort(scores)[-2] < 0.3)
    assert document["errors"] == []


def test_a_folder_is_read_in_name_order_and_bad_files_are_reported(capsys, tmp_path):
    for path, label in labelled(3):
        (tmp_path / f"{label}.png").write_bytes(path.read_bytes())
    (tmp_path / "notes.txt").write_text("not read: no image suffix")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    assert main(["predict", str(tmp_path), "--json"]) == 1  # one file could not be read
    out, err = capsys.readouterr()
    document = json.loads(out)
    names = sorted(f"{label}.png" for _, label in labelled(3))
    assert [Path(r["file"]).name for r in document["results"]] == names
    assert [Path(e["file"]).name for e in document["errors"]] == ["broken.png"]
    assert err == (f"python -m model_tools: {tmp_path / 'broken.png'}: the PNG file is damaged or "
                   "truncated: it cannot be decoded\n")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["predict", "/no/such/file.png"], "/no/such/file.png: no such file or folder"),
        (["predict", str(IMAGES / "A_upper_0.png"), "--model", "nope"], "no model 'nope'"),
        (["model-info", "/no/such/version", "--untrained-classes", "none"], "not a model version"),
    ],
)
def test_errors_are_one_plain_line_with_exit_code_2(capsys, arguments, message):
    assert main(arguments) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("python -m model_tools: error: ") and message in err


def test_an_empty_folder_is_an_error(capsys, tmp_path):
    assert main(["predict", str(tmp_path)]) == 2
    assert "no image files" in capsys.readouterr().err


def test_runs_from_any_directory_and_names_itself_as_called(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no models/ or data/ here: the defaults are the project's
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/emnist-tools"])
    assert main(["predict", str(IMAGES / "A_upper_0.png")]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(f"{IMAGES / 'A_upper_0.png'}: A ")
    assert main(["predict", "missing.png"]) == 2
    assert capsys.readouterr().err.startswith("emnist-tools: error: missing.png")


def test_the_console_script_is_this_main(repo):
    import tomllib

    scripts = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["emnist-tools"] == "model_tools.__main__:main"


def run_cli(repo: Path, cwd: Path, *arguments: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    env["PYTHONPATH"] = str(repo)
    return subprocess.run([sys.executable, "-m", "model_tools", *arguments], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_tensorflow_stays_quiet_unless_verbose(repo, tmp_path):
    image = str(IMAGES / "A_upper_0.png")
    quiet = run_cli(repo, tmp_path, "predict", image, "--engine", "tensorflow")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""  # no oneDNN, CUDA or absl lines
    assert quiet.stdout.splitlines()[1].startswith(f"{image}: A ")
    verbose = run_cli(repo, tmp_path, "predict", image, "--engine", "tensorflow", "--verbose")
    assert verbose.returncode == 0
    assert "cuda" in verbose.stderr.lower() or "oneDNN" in verbose.stderr
