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


def test_an_ensemble_is_the_mean_of_its_members_softmax(tmp_path: Path, repo: Path, capsys) -> None:
    import numpy as np

    from model_tools.data.datasets import to_model_input

    v1, v3 = (repo / "models" / "emnist" / v / "model.onnx" for v in ("1", "3"))
    inputs = to_model_input(load_images("validation").images[:200])
    ensemble = load_predictor(f"{v1}+{v3}")
    assert ensemble.kind == "ensemble" and [m.source for m in ensemble.members] == [v1, v3]
    expected = (load_predictor(v1).predict(inputs).astype(np.float64)
                + load_predictor(v3).predict(inputs).astype(np.float64)) / 2
    scores = ensemble.predict(inputs)
    np.testing.assert_allclose(scores, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    assert parse_models([f"ens={v1}+{v3}"]) == {"ens": Path(f"{v1}+{v3}")}

    page = tmp_path / "page.md"
    assert main(["eval-report", "--models", f"v1={v1}", f"ens={v1}+{v3}", "--splits", "test", "--limit", "50",
                 "--out", str(page), "--images", str(tmp_path / "img")]) == 0
    assert "| ens | 50 |" in page.read_text(encoding="utf-8")
    assert main(["eval-report", "--models", f"ens={v1}+{tmp_path / 'missing.onnx'}", "--splits", "test",
                 "--out", str(tmp_path / "other.md"), "--images", str(tmp_path / "img")]) == 2
    assert "missing.onnx" in capsys.readouterr().err
    assert main(["evaluate", f"{v1}+", "--split", "test"]) == 2
    assert "two or more models" in capsys.readouterr().err


def test_the_font_only_letters_are_the_ten_without_real_training_images() -> None:
    from model_tools.export.eval_report import font_only_classes

    assert font_only_classes() == ["J", "Q", "X", "Y", "Z", "j", "q", "x", "y", "z"]
