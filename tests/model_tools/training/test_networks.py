"""The four classifiers keep the contract: float32 [N, 784] in, [N, 62] ByClass scores out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_tools.training.networks import ARCHITECTURES, WithSoftmax, build_model, softmax_scores

ARCHS = ("linear", "dnn", "cnn", "resnet")


@pytest.mark.parametrize("arch", ARCHS)
def test_output_shape_and_softmax(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch).eval()
    images = torch.rand(5, 784)
    with torch.no_grad():
        logits = model(images)
        scores = WithSoftmax(model)(images)
    assert logits.shape == (5, 62)
    assert scores.shape == (5, 62)
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(5))
    assert bool((scores >= 0).all())
    # Different images give different scores: the model looks at its input.
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.parametrize("arch", ARCHS)
def test_batch_of_one_matches_batch(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch).eval()
    images = torch.rand(4, 784)
    with torch.no_grad():
        together = model(images)
        alone = torch.cat([model(images[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_convolutional_nets_read_the_flat_row_as_an_upright_image(arch: str) -> None:
    """[N, 784] is each image read row by row: the net must see the same 28x28 picture, not its transpose."""
    torch.manual_seed(0)
    model = build_model(arch).eval()
    upright = torch.rand(2, 1, 28, 28)
    flat = torch.tensor([[upright[n, 0, row, col].item() for row in range(28) for col in range(28)]
                         for n in range(2)])
    with torch.no_grad():
        torch.testing.assert_close(model(flat), model.head(model.features(upright)))
        assert not torch.allclose(model(flat), model.head(model.features(upright.transpose(2, 3))))


def test_softmax_scores_are_the_softmax_of_the_logits_in_any_batching() -> None:
    torch.manual_seed(2)
    model = build_model("dnn").eval()
    images = np.random.default_rng(0).random((37, 784), dtype=np.float32)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(images)), dim=1).numpy()
    for batch_size in (1, 8, 4096):
        scores = softmax_scores(model, images, batch_size)
        assert scores.dtype == np.float32 and scores.shape == (37, 62)
        np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert softmax_scores(model, images[:0]).shape == (0, 62)


def test_known_parameter_counts() -> None:
    """The linear model and the blog's/reference DNN have fixed sizes (784-62 and 784-512-256-62)."""
    counts = {arch: sum(p.numel() for p in build_model(arch).parameters()) for arch in ARCHS}
    assert counts["linear"] == 784 * 62 + 62
    assert counts["dnn"] == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 62 + 62
    assert counts["resnet"] < counts["cnn"] / 2  # no 3,136 x 256 dense layer


def test_resnet_blocks_add_their_shortcut() -> None:
    from model_tools.training.networks import BasicBlock

    torch.manual_seed(0)
    same, wider = BasicBlock(8, 8).eval(), BasicBlock(8, 16, stride=2).eval()
    x = torch.rand(2, 8, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(same(x), torch.relu(same.body(x) + x))
        assert wider(x).shape == (2, 16, 7, 7)
        torch.testing.assert_close(wider(x), torch.relu(wider.body(x) + wider.shortcut(x)))


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("transformer")
    assert set(ARCHS) == set(ARCHITECTURES)
