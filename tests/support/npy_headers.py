"""Random ``.npy`` headers for the fuzz tests: random bytes, mutated real headers, and token soups."""

from __future__ import annotations

import struct

import numpy as np

NPY_MAGIC = b"\x93NUMPY"
VALID = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 784), }"
TOKENS = ["{", "}", "(", ")", "[", "]", ":", ",", "'descr'", "'shape'", "'fortran_order'", "'<f4'", "'|u1'",
          "'O'", "True", "False", "None", "-1", "784", "1e309", "10**9", "lambda: 0", "x", "'", '"', "\\",
          "\n", " ", "#", "b'\\x00'", "{'a': 1}", "...", "0x10", "((((", "))))", "'V8'", "[('a', '<f4')]"]


def _header(text: bytes, rng: np.random.Generator) -> bytes:
    """A preamble (version 1, 2 or 3, a header length that may lie) and ``text``."""
    version = int(rng.choice([1, 1, 2, 3]))
    length = len(text) if rng.random() < 0.8 else int(rng.integers(0, 300))
    field = struct.pack("<H" if version != 2 else "<I", min(length, 0xFFFF))
    return NPY_MAGIC + bytes([version, 0]) + field + text


def random_npy_files(count: int, seed: int) -> list[bytes]:
    """``count`` .npy-looking byte strings, most of them malformed in the header."""
    rng = np.random.default_rng(seed)
    files = []
    for index in range(count):
        style = index % 3
        if style == 0:
            text = rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8).tobytes()
        elif style == 1:
            chars = list(VALID)
            for _ in range(int(rng.integers(1, 6))):
                position = int(rng.integers(0, len(chars)))
                action = rng.random()
                if action < 0.4:
                    chars[position] = chr(int(rng.integers(32, 127)))
                elif action < 0.7:
                    del chars[position]
                else:
                    chars.insert(position, str(rng.choice(TOKENS)))
            text = "".join(chars).encode("utf-8", "replace")
        else:
            text = "".join(str(rng.choice(TOKENS)) for _ in range(int(rng.integers(1, 20)))).encode()
        if rng.random() < 0.5:
            text += b"\n"
        files.append(_header(text, rng) + bytes(int(rng.choice([0, 4, 3136]))))
    return files
