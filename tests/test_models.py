"""The three classifiers keep the contract: float32 [N, 784] in, [N, 62] ByClass scores out."""

from __future__ import annotations

import pytest
import torch

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.tensors import NUM_PIXELS
from model_tools.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model_tools.training.networks import ARCHITECTURES, WithSoftmax, build_model

ARCHS = ("linear", "dnn", "cnn")


def test_byclass_order_is_digits_then_uppercase_then_lowercase() -> None:
    assert len(BYCLASS_LABELS) == NUM_CLASSES == 62
    assert BYCLASS_LABELS[:10] == tuple("0123456789")
    assert BYCLASS_LABELS[10] == "A" and BYCLASS_LABELS[35] == "Z"
    assert BYCLASS_LABELS[36] == "a" and BYCLASS_LABELS[61] == "z"


@pytest.mark.parametrize("arch", ARCHS)
def test_output_shape_and_softmax(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch).eval()
    images = torch.rand(5, NUM_PIXELS)
    with torch.no_grad():
        logits = model(images)
        scores = WithSoftmax(model)(images)
    assert logits.shape == (5, NUM_CLASSES)
    assert scores.shape == (5, NUM_CLASSES)
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(5))
    assert bool((scores >= 0).all())
    # Different images give different scores: the model looks at its input.
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.parametrize("arch", ARCHS)
def test_batch_of_one_matches_batch(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch).eval()
    images = torch.rand(4, NUM_PIXELS)
    with torch.no_grad():
        together = model(images)
        alone = torch.cat([model(images[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_known_parameter_counts() -> None:
    """The linear model and the blog's/reference DNN have fixed sizes (784-62 and 784-512-256-62)."""
    counts = {arch: sum(p.numel() for p in build_model(arch).parameters()) for arch in ARCHS}
    assert counts["linear"] == 784 * 62 + 62
    assert counts["dnn"] == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 62 + 62


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("transformer")
    assert set(ARCHS) == set(ARCHITECTURES)


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoint_round_trip_keeps_outputs_and_labels(arch: str, tmp_path) -> None:
    torch.manual_seed(1)
    model = build_model(arch).eval()
    path = save_checkpoint(Checkpoint(arch=arch, model=model, metrics={"val_accuracy": 0.5}),
                           tmp_path / "c.pt")
    loaded = load_checkpoint(path)
    images = torch.rand(3, NUM_PIXELS)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(images), model(images))
    assert loaded.labels == BYCLASS_LABELS
    assert loaded.arch == arch and loaded.metrics == {"val_accuracy": 0.5}
    assert not loaded.model.training
