"""The one file digest: the sha256 of the whole file, however many chunks it is read in."""

from __future__ import annotations

import hashlib

from model_tools.common.hashing import CHUNK_BYTES, file_sha256


def test_digest_of_a_file_longer_than_a_chunk(tmp_path):
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)  # two chunks and a bit
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
