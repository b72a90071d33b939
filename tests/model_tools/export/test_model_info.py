"""The version's model info: from a run's metrics.json or an option, written atomically, read by the
serving engines; the ``model-info`` command changes no other file of a version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model_tools.__main__ import main
from model_tools.common.hashing import file_sha256
from model_tools.export.model_info import (
    ModelInfo,
    class_prior_of,
    info_from_option,
    info_from_run,
    resolve_model_info,
    write_model_info,
)
from serving_core.engines import EngineOptions, load_engine

INFO = Path("assets.extra") / "model_info.json"


@pytest.fixture
def version(repo, tmp_path) -> Path:
    """A copy of the bundled version without its model info."""
    target = tmp_path / "emnist" / "1"
    shutil.copytree(repo / "models" / "emnist" / "1", target)
    (target / INFO).unlink(missing_ok=True)
    return target


def test_the_shipped_versions_carry_their_model_info(repo):
    run = json.loads((repo / "runs" / "cnn" / "metrics.json").read_text())
    emnist = json.loads((repo / "models" / "emnist" / "1" / INFO).read_text())
    assert emnist["classes_without_training_images"] == run["classes_without_training_images"]
    assert emnist["classes_without_training_images"] == list("JQXYZjqxyz")
    reference = json.loads((repo / "models" / "reference" / "1" / INFO).read_text())
    assert reference["classes_without_training_images"] == []


def test_from_a_run_folder_or_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"")
    (run / "metrics.json").write_text(json.dumps({"classes_without_training_images": ["Q", "J"]}))
    assert info_from_run(run).untrained_classes == ("Q", "J")
    assert info_from_run(run / "checkpoint.pt").source.endswith("run/metrics.json")
    (run / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match="no classes_without_training_images"):
        info_from_run(run)
    with pytest.raises(FileNotFoundError, match="--untrained-classes"):
        info_from_run(tmp_path / "elsewhere" / "checkpoint.pt")


def test_from_the_option():
    assert info_from_option("none").untrained_classes == ()
    assert info_from_option("J, Q,z").untrained_classes == ("J", "Q", "z")
    for bad in ("", "J,,Q", ","):
        with pytest.raises(ValueError, match="separated by commas"):
            info_from_option(bad)
    assert resolve_model_info("none", "ignored/run").untrained_classes == ()
    assert resolve_model_info(None, None) is None


def test_written_then_read_by_both_engines(version):
    path = write_model_info(version, ModelInfo(("z", "J"), "test"))
    document = json.loads(path.read_text())
    assert document == {"classes_without_training_images": ["J", "z"], "source": "test"}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    options = EngineOptions(onnx_intra_op_threads=1, tf_intra_op_threads=1, tf_inter_op_threads=-1)
    engine = load_engine("onnxruntime", version, options)
    assert engine.untrained_classes == ("J", "z")
    engine.close()
    with pytest.raises(ValueError, match="not one of the labels"):
        write_model_info(version, ModelInfo(("??",), "test"))
    assert json.loads(path.read_text())["classes_without_training_images"] == ["J", "z"]  # unchanged


def test_the_command_changes_only_the_model_info(version, repo, capsys):
    before = {p: file_sha256(p) for p in version.rglob("*") if p.is_file()}
    assert main(["model-info", str(version), "--run", str(repo / "runs" / "cnn")]) == 0
    assert "J Q X Y Z j q x y z (from runs/cnn/metrics.json)" in capsys.readouterr().out
    after = {p: file_sha256(p) for p in version.rglob("*") if p.is_file()}
    assert set(after) - set(before) == {version / INFO}
    assert all(after[p] == digest for p, digest in before.items())
    assert main(["model-info", str(version)]) == 2
    assert "exactly one of --run and --untrained-classes" in capsys.readouterr().err
    assert main(["model-info", str(version), "--untrained-classes", "none", "--source", "by hand"]) == 0
    assert json.loads((version / INFO).read_text()) == {"classes_without_training_images": [],
                                                          "source": "by hand"}


def test_the_class_prior_a_run_serves(repo):
    assert info_from_run(repo / "runs" / "cnn").class_prior == {
        "prior": "byclass", "how": "the training loss's class weights (--class-weights byclass-mix)"}
    offsets = info_from_run(repo / "runs" / "cnn62-offsets").class_prior
    assert offsets["prior"] == "byclass" and offsets["class_offsets"] == {"c": 0.75, "o": 1.5, "s": 1.25}
    assert class_prior_of({"config": {"class_weights": "none", "class_weight_power": 0.5}}) == {
        "prior": "train", "how": "the training loss's class weights (--class-weights none), tempered to the "
                                 "power 0.5"}
    adjusted = {"config": {"class_weights": "byclass-mix"}, "logit_adjustment": {
        "prior": "uniform", "tau": 0.9, "from_run": "runs/x", "chosen_on": "validation"}}
    assert class_prior_of(adjusted) == {
        "prior": "uniform", "tau": 0.9,
        "how": "logit adjustment (Menon et al. 2021) of runs/x, tau chosen on the validation images"}
    adjusted["logit_adjustment"]["tau_rule"] = "keep-byclass"
    assert class_prior_of(adjusted)["how"].endswith(
        "tau chosen on the validation images (the largest keeping their ByClass-mix accuracy)")
    adjusted["class_offsets"] = {"offsets": {"o": 1.5}, "from_run": "runs/x-adjusted"}  # offsets on top
    assert class_prior_of(adjusted)["class_offsets"] == {"o": 1.5}
    assert class_prior_of(adjusted)["prior"] == "uniform"
    assert class_prior_of({}) is None


def test_the_class_prior_is_written_beside_the_untrained_classes(version):
    prior = {"prior": "uniform", "tau": 1.0, "how": "given"}
    path = write_model_info(version, ModelInfo((), "test", prior))
    assert json.loads(path.read_text()) == {"classes_without_training_images": [], "source": "test",
                                            "class_prior": prior}
    options = EngineOptions(onnx_intra_op_threads=1, tf_intra_op_threads=1, tf_inter_op_threads=-1)
    engine = load_engine("onnxruntime", version, options)  # readers skip the keys they do not know
    assert engine.untrained_classes == ()
    engine.close()
