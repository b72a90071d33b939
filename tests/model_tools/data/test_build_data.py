"""``build-data`` and ``data-info``: the recipe's pieces, a byte-for-byte rebuild, the hash check."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from model_tools.__main__ import main
from model_tools.data.build_data import build, deduplicate_pool, stratified_split
from model_tools.data.datasets import DEFAULT_DATA_DIR, SYNTHETIC_FILE

SHARED = DEFAULT_DATA_DIR.parent.parent / "shared"


def test_stratified_split_is_seeded_and_proportional():
    labels = np.repeat(np.arange(5), [100, 40, 7, 1, 0])
    first = stratified_split(labels, 0.15, seed=3)
    again = stratified_split(labels, 0.15, seed=3)
    other = stratified_split(labels, 0.15, seed=4)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    assert np.bincount(labels[first[1]], minlength=5).tolist() == [15, 6, 1, 0, 0]
    assert np.intersect1d(*first).size == 0 and len(first[0]) + len(first[1]) == len(labels)


def test_deduplicate_pool_drops_test_images_and_repeats():
    a = np.zeros((3, 28, 28), np.uint8)
    a[1, 0, 0], a[2, 0, 1] = 1, 2
    b = a[[2, 0]].copy()
    pool, dropped = deduplicate_pool([(a, np.array([5, 6, 7])), (b, np.array([7, 5]))],
                                     excluded={a[1].tobytes()})
    assert dropped == {"in_test": 1, "repeated": 2}
    assert pool.labels.tolist() == [5, 7] and pool.source.tolist() == [0, 0]
    with pytest.raises(ValueError, match="labelled '7' and '8'"):
        deduplicate_pool([(a[2:], np.array([7])), (a[2:], np.array([8]))], excluded=set())


def test_data_info_checks_every_file_against_the_readme(tmp_path, capsys):
    assert main(["data-info"]) == 0
    out = capsys.readouterr().out
    assert "13/13 files match data/README.md" in out
    assert "validation    4,119     923   1,288   1,908      52" in out
    # A copy of data/ with one file changed: the command names it and fails.
    copy = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, copy)
    (copy / "nist" / "emnist-mnist-mapping.txt").write_text("0 48\n")
    assert main(["data-info", "--data-dir", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH nist/emnist-mnist-mapping.txt" in out and "12/13 files match" in out


@pytest.mark.skipif(not (SHARED / "data" / "emnist").is_dir(), reason="../shared is not available")
def test_build_data_reproduces_the_shipped_files_byte_for_byte(tmp_path):
    """Provenance is executable: rebuilding from ../shared gives exactly the committed data/."""
    summary = build(SHARED, tmp_path / "data", synthetic=DEFAULT_DATA_DIR / SYNTHETIC_FILE)
    shipped = sorted(p.relative_to(DEFAULT_DATA_DIR) for p in DEFAULT_DATA_DIR.rglob("*") if p.is_file())
    rebuilt = sorted(p.relative_to(tmp_path / "data") for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert rebuilt == shipped
    for name in shipped:
        assert (tmp_path / "data" / name).read_bytes() == (DEFAULT_DATA_DIR / name).read_bytes(), name
    assert summary["total_bytes"] < 15 * 1024 * 1024
