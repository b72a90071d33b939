"""The evaluation page's figures: look-alike confusions, classes predicted, the rendered Markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.training.evaluation_page import (
    classes_predicted,
    look_alike_confusions,
    mix_lost_to_look_alikes,
    render_page,
    score_split,
    subset_accuracy,
)

ZERO, BIG_O, SMALL_O, ONE = (BYCLASS_LABELS.index(c) for c in ("0", "O", "o", "1"))


def _one_hot(predictions: list[int]) -> np.ndarray:
    scores = np.full((len(predictions), NUM_CLASSES), 0.1 / (NUM_CLASSES - 1))
    scores[np.arange(len(predictions)), predictions] = 0.9
    return scores


def test_look_alike_confusions_count_only_reads_inside_the_group() -> None:
    labels = np.array([ZERO, ZERO, BIG_O, SMALL_O, SMALL_O])
    predictions = [BIG_O, ONE, BIG_O, ZERO, SMALL_O]  # 0->O and o->0 inside; 0->1 outside the group
    matrix = np.asarray(score_split(labels, _one_hot(predictions), None).report["confusion_matrix"])
    assert look_alike_confusions(matrix, ("0", "O", "o")) == (2, 5)
    assert look_alike_confusions(matrix, ("C", "c")) == (0, 0)


def test_the_byclass_mix_lost_splits_into_look_alikes_and_the_rest(tmp_path: Path) -> None:
    a = BYCLASS_LABELS.index("a")
    labels = np.array([ZERO, ZERO, ZERO, ZERO, BIG_O, BIG_O, a, a])
    predictions = [ZERO, ZERO, BIG_O, ONE, BIG_O, SMALL_O, ZERO, a]  # 0: 1/4 in group, 1/4 out; O: 1/2 in
    prior = np.zeros(NUM_CLASSES)
    prior[[ZERO, BIG_O, a, ONE]] = [0.5, 0.2, 0.2, 0.1]  # 1 has no image: the weights are 0.5, 0.2, 0.2 / 0.9
    result = score_split(labels, _one_hot(predictions), prior)
    look_alikes, otherwise = result.mix_lost
    assert np.isclose(look_alikes, (0.5 * 0.25 + 0.2 * 0.5) / 0.9)
    assert np.isclose(otherwise, (0.5 * 0.25 + 0.2 * 0.5) / 0.9)  # 0->1 and a->0: outside any group
    assert np.isclose(look_alikes + otherwise, 1 - result.report["accuracy_byclass_mix"])
    assert score_split(labels, _one_hot(predictions), None).mix_lost is None
    assert mix_lost_to_look_alikes(np.zeros((NUM_CLASSES, NUM_CLASSES)), prior) is None
    text = render_page({"m": {"validation": result}}, {"m": "m.onnx"}, {}, tmp_path / "p.md", "tool",
                       served=None)
    assert f"| m | {result.report['accuracy_byclass_mix'] * 100:.2f} % | 25.00 | 25.00 |" in text


def test_classes_predicted_joins_validation_and_fonts_only() -> None:
    validation = score_split(np.array([ZERO, ONE]), _one_hot([ZERO, ZERO]), None)
    fonts = score_split(np.array([BIG_O]), _one_hot([SMALL_O]), None)
    test = score_split(np.array([ONE]), _one_hot([ONE]), None)
    assert classes_predicted({"validation": validation, "synthetic": fonts, "test": test}) == ["0", "o"]
    assert classes_predicted({"test": test}) is None


def test_subset_accuracy_counts_only_the_subsets_images_and_folds_case() -> None:
    big_x, small_x, small_z, cap_z = (BYCLASS_LABELS.index(c) for c in ("X", "x", "z", "Z"))
    labels = np.array([big_x, big_x, small_x, small_z, ZERO])
    predictions = [big_x, small_x, big_x, ONE, ONE]  # one exact, two in the other case, one wrong; a 0 aside
    matrix = score_split(labels, _one_hot(predictions), None).report["confusion_matrix"]
    assert subset_accuracy(matrix, ("X", "x", "z")) == (1 / 4, 3 / 4, 4)
    assert subset_accuracy(matrix, ("Z",)) is None
    assert cap_z not in labels


def test_the_font_only_letters_get_their_own_table_where_a_split_has_them(tmp_path: Path) -> None:
    big_x = BYCLASS_LABELS.index("X")
    fonts = score_split(np.array([big_x, big_x, ZERO]), _one_hot([big_x, ZERO, ZERO]), None)
    digits = score_split(np.array([ZERO]), _one_hot([ZERO]), None)
    text = render_page({"m": {"synthetic": fonts, "test": digits}}, {"m": "m.onnx"}, {}, tmp_path / "p.md",
                       "tool eval-report", served=None, font_only=("X", "x"))
    section = text[text.index("## `synthetic`"):text.index("## `test`")]
    assert "taught by fonts alone (X x)" in section and "| m | 2 | 50.00 % | 50.00 % |" in section
    assert "fonts alone" not in text[text.index("## `test`"):]


def test_page_lists_every_model_and_split_with_its_figures(tmp_path: Path) -> None:
    labels = np.array([ZERO, ZERO, BIG_O, ONE])
    good = score_split(labels, _one_hot([ZERO, ZERO, BIG_O, ONE]), None)
    poor = score_split(labels, _one_hot([BIG_O, ZERO, ZERO, ONE]), None)
    results = {"old": {"validation": poor, "test": poor}, "new": {"validation": good}}
    page = tmp_path / "docs" / "page.md"
    diagram = tmp_path / "docs" / "images" / "reliability-validation.png"
    text = render_page(results, {"old": "old.onnx", "new": "new.onnx"}, {"validation": diagram}, page,
                       "tool eval-report", served="new")
    assert "Written by `tool eval-report`" in text
    assert "| new (served) | `new.onnx` | 3 of 62 (never:" in text
    assert "](images/reliability-validation.png)" in text
    assert "| old | 4 | 50.00 % | 50.00 % | – |" in text and "| new | 4 | 100.00 % |" in text
    assert "| 0/O/o | 66.7 % (2/3) | 0.0 % (0/3) |" in text
    assert "- old: `0`->`O` 1, `O`->`0` 1" in text
    assert "| `0` | 2 | 50.00 % | 100.00 % |" in text
    assert text.index("## `validation`") < text.index("## `test`")
    test_section = text[text.index("## `test`"):]
    assert "| new |" not in test_section  # a model not scored on a split has no row there
