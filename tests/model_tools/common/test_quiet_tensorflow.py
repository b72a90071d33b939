"""The quiet TensorFlow import: what C++ writes to stderr while it loads is captured and filtered."""

from __future__ import annotations

import os

from model_tools.common.quiet_tensorflow import LOADING_NOISE, captured_stderr_fd


def test_file_descriptor_2_is_captured_and_restored(capfd):
    lines: list[str] = []
    with captured_stderr_fd(lines):
        os.write(2, b"I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\nE0000 real trouble\n")
    os.write(2, b"after\n")
    assert lines == ["I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.", "E0000 real trouble"]
    assert capfd.readouterr().err == "after\n"


def test_only_the_loading_noise_is_dropped():
    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             "I0000 00:00:1796114874.383546   11399 cudart_stub.cc:31] Could not find cuda drivers",
             "W0000 00:00:1.0 1 x.cc:1] a warning",
             "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow"]
    kept = ["E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit", "F0000 fatal", "Traceback"]
    assert all(LOADING_NOISE.match(line) for line in noise)
    assert not any(LOADING_NOISE.match(line) for line in kept)
