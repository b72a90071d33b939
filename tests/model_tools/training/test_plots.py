"""Training figures: learning curves of runs (``plot-runs``) and the confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from model_tools.__main__ import main
from model_tools.training.plots import plot_confusion_matrix, plot_learning_curves


def test_plot_runs_draws_the_bundled_runs(tmp_path, runs) -> None:
    folders = [str(runs / name) for name in ("linear", "dnn", "cnn")]
    out = tmp_path / "curves.png"
    assert main(["plot-runs", *folders, "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot-runs", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_confusion_matrix_figure_and_its_refusals(tmp_path) -> None:
    matrix = np.eye(62, dtype=int) * 5
    matrix[0, 24] = 3  # '0' read as 'O'
    path = plot_confusion_matrix(matrix.tolist(), tmp_path / "sub" / "confusion.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["confusion.png"]  # no temporary left
    with pytest.raises(ValueError, match="62x62"):
        plot_confusion_matrix(np.eye(10).tolist(), tmp_path / "small.png")
    with pytest.raises(ValueError, match="no runs"):
        plot_learning_curves({}, tmp_path / "none.png")
    assert not (tmp_path / "small.png").exists() and not (tmp_path / "none.png").exists()
