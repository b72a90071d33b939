"""Figures are written whole or not at all, and never left open."""

from __future__ import annotations

import pytest

from model_tools.common.figures import pyplot, save_figure


def test_save_figure_writes_a_png_and_closes_it(tmp_path):
    plt = pyplot()
    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    path = save_figure(figure, tmp_path / "sub" / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["curve.png"]
    assert not plt.fignum_exists(figure.number)


def test_a_failing_figure_leaves_no_file_and_is_closed(tmp_path):
    plt = pyplot()
    figure, axes = plt.subplots()
    axes.text(0.5, 0.5, r"$\unknowncommand$")  # mathtext fails when the figure is drawn
    with pytest.raises(ValueError):
        save_figure(figure, tmp_path / "broken.png")
    assert list(tmp_path.iterdir()) == []
    assert not plt.fignum_exists(figure.number)
