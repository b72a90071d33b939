"""``eval-report``: the shipped versions scored on a few images of two splits, as `evaluate` scores them."""

from __future__ import annotations

from pathlib import Path

from model_tools.__main__ import main
from model_tools.data.image_sources import LabelledImages, load_images
from model_tools.export.eval_report import parse_models, shipped_models
from model_tools.export.model_forms import load_predictor
from model_tools.training.evaluate import evaluate_predictor

LIMIT = 300


def test_default_models_are_the_reference_and_every_shipped_version(repo: Path) -> None:
    models = shipped_models()
    versions = sorted(int(p.name) for p in (repo / "models" / "emnist").iterdir() if p.name.isdigit())
    assert list(models) == ["reference", *(f"v{v}" for v in versions)]
    assert all(path.is_file() for path in models.values())
    assert parse_models(["models/emnist/2/model.onnx", "mine=/x/y.onnx", "/x/z.pt"]) == {
        "v2": Path("models/emnist/2/model.onnx"), "mine": Path("/x/y.onnx"), "z": Path("/x/z.pt")}


def test_page_figures_are_the_evaluate_figures(tmp_path: Path, repo: Path) -> None:
    v1, v3 = (repo / "models" / "emnist" / v / "model.onnx" for v in ("1", "3"))
    page, images = tmp_path / "page.md", tmp_path / "images"
    code = main(["eval-report", "--models", f"v1={v1}", f"v3={v3}", "--splits", "validation,test",
                 "--limit", str(LIMIT), "--out", str(page), "--images", str(images)])
    assert code == 0
    text = page.read_text(encoding="utf-8")
    assert sorted(p.name for p in images.iterdir()) == ["reliability-test.png", "reliability-validation.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in images.iterdir())
    assert "| v3 (served) |" in text and "## `validation`" in text and "## `test`" in text
    assert "## `mnist`" not in text
    for name, path in (("v1", v1), ("v3", v3)):
        for split in ("validation", "test"):
            data = load_images(split)
            first = LabelledImages(data.images[:LIMIT], data.labels[:LIMIT], data.description)
            report = evaluate_predictor(load_predictor(path), first)
            row = (f"| {name} | {LIMIT} | {report['accuracy'] * 100:.2f} % | "
                   f"{report['accuracy_case_insensitive'] * 100:.2f} % | "
                   f"{report['accuracy_byclass_mix'] * 100:.2f} % |")
            section = text[text.index(f"## `{split}`"):]
            assert row in section.split("\n\n")[1]


def test_refusals_exit_2_and_write_nothing(tmp_path: Path, repo: Path, capsys) -> None:
    page = tmp_path / "page.md"
    v1 = str(repo / "models" / "emnist" / "1" / "model.onnx")
    assert main(["eval-report", "--models", v1, "--splits", "validation,nope", "--out", str(page)]) == 2
    assert "unknown split(s) nope" in capsys.readouterr().err
    assert main(["eval-report", "--models", str(tmp_path / "missing.onnx"), "--splits", "test",
                 "--out", str(page), "--images", str(tmp_path)]) == 2
    assert main(["eval-report", "--models", f"a={v1}", f"a={v1}", "--out", str(page)]) == 2
    assert "two models named 'a'" in capsys.readouterr().err
    assert main(["eval-report", "--models", v1, "--limit", "0", "--out", str(page)]) == 2
    assert not page.exists()
