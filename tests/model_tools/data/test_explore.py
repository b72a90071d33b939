"""``explore`` writes its report from NIST's label files and the shipped images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emnist_contract.labels import NUM_CLASSES
from model_tools.data.datasets import DEFAULT_DATA_DIR
from model_tools.data.emnist_io import read_idx_labels
from model_tools.data.explore import FIGURES, group_shares, letter_imbalance, lookalike_uppercase_shares


def test_report_files_are_written(explore_report):
    out, _ = explore_report
    for name in FIGURES.values():
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000, name
    assert not list(out.glob("*.tmp"))
    summary = (out / "summary.md").read_text()
    for name in FIGURES.values():
        assert f"]({name})" in summary


def test_report_figures_come_from_nist_label_files(explore_report):
    out, figures = explore_report
    train = np.bincount(read_idx_labels(DEFAULT_DATA_DIR / "nist/emnist-byclass-train-labels-idx1-ubyte.gz"),
                        minlength=NUM_CLASSES)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["byclass_train_images"] == 697_932 and stats["byclass_test_images"] == 116_323
    assert stats["byclass_train_counts"]["0"] == int(train[0])
    shares = stats["group_shares_train"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["digits"] == pytest.approx(train[:10].sum() / train.sum())
    assert stats["shipped_classes_without_examples"] == list("JQXYZjqxyz")
    summary = (out / "summary.md").read_text()
    assert "697,932 train, 116,323 test" in summary
    assert f"{shares['digits']:.1%}" in summary


def test_group_shares_and_letter_imbalance_on_known_counts():
    counts = np.ones(NUM_CLASSES, dtype=np.int64)
    counts[:10] = 10
    counts[10] = 40  # 'A'
    counts[61] = 2  # 'z'
    shares = group_shares(counts)
    assert shares["digits"] == pytest.approx(100 / counts.sum())
    imbalance = letter_imbalance(counts)
    assert imbalance["max_min_ratio"] == 40.0
    assert imbalance["most_frequent"][0] == ("A", 40)
    assert imbalance["uppercase_max_min_ratio"] == 40.0 and imbalance["lowercase_max_min_ratio"] == 2.0
    counts[12], counts[38] = 30, 10  # 'C' vs 'c'
    assert lookalike_uppercase_shares(counts, ["C"]) == {"c": 0.75}
