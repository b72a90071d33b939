"""Readers for EMNIST in the two formats NIST distributes: gzip (or plain) idx files and Matlab ``.mat``.

Both return the SAME arrays: images uint8 [N, 28, 28] upright (NIST stores each idx image transposed and
each ``.mat`` image as a row of 784 pixels in column-major order), labels int64 [N] in the split's own
label numbering, and the split's mapping (label -> character) from its mapping file.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS, PIXEL_MAX

#: idx dtype codes (third byte of the magic number) -> numpy big-endian dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True)
class SplitInfo:
    """What NIST publishes for one EMNIST split: class count and image counts."""

    name: str
    num_classes: int
    train_size: int
    test_size: int
    first_label: int = 0  # 'letters' numbers its classes 1-26


#: The six EMNIST splits (Cohen et al. 2017, table II).
SPLITS: dict[str, SplitInfo] = {
    "byclass": SplitInfo("byclass", NUM_CLASSES, 697_932, 116_323),
    "bymerge": SplitInfo("bymerge", 47, 697_932, 116_323),
    "balanced": SplitInfo("balanced", 47, 112_800, 18_800),
    "letters": SplitInfo("letters", 26, 124_800, 20_800, first_label=1),
    "digits": SplitInfo("digits", 10, 240_000, 40_000),
    "mnist": SplitInfo("mnist", 10, 60_000, 10_000),
}
PARTS = ("train", "test")


@dataclass
class EmnistPart:
    """One part (train or test) of an EMNIST split, upright, with the split's mapping."""

    images: np.ndarray  # uint8 [N, 28, 28], upright
    labels: np.ndarray  # int64 [N], the split's own label numbers
    mapping: dict[int, str]

    def __len__(self) -> int:
        return len(self.labels)


def _check_split(split: str) -> SplitInfo:
    try:
        return SPLITS[split]
    except KeyError:
        raise ValueError(f"unknown EMNIST split {split!r}; expected one of {', '.join(SPLITS)}") from None


def _check_part(part: str) -> None:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected 'train' or 'test'")


def idx_file_name(split: str, part: str, kind: str, gz: bool = True) -> str:
    """NIST's file name, e.g. ``emnist-mnist-test-images-idx3-ubyte.gz`` (kind: 'images' or 'labels')."""
    _check_split(split)
    _check_part(part)
    suffix = {"images": "images-idx3-ubyte", "labels": "labels-idx1-ubyte"}[kind]
    return f"emnist-{split}-{part}-{suffix}" + (".gz" if gz else "")


def mapping_file_name(split: str) -> str:
    _check_split(split)
    return f"emnist-{split}-mapping.txt"


def mat_file_name(split: str) -> str:
    _check_split(split)
    return f"emnist-{split}.mat"


# ----------------------------------------------------------------------------------------------- idx


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped if it is gzip (by its magic bytes, not its name)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
            handle.seek(0)
            if head == b"\x1f\x8b":
                try:
                    return gzip.decompress(handle.read())
                except (EOFError, OSError, zlib.error) as exc:
                    raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from None
            return handle.read()
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not an idx file") from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file (gzip or plain) after validating its magic number, dims and size."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such idx file")
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: {len(data)} bytes, too short for an idx header (foreign or truncated)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code not in IDX_DTYPES or not 1 <= ndim <= 4:
        raise ValueError(
            f"{path}: not an idx file (magic number {data[:4].hex()}; expected 0000 + dtype code "
            f"{'/'.join(f'{c:02x}' for c in IDX_DTYPES)} + number of dims 1-4)"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated idx header ({len(data)} of {header_size} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = IDX_DTYPES[dtype_code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_size
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: {problem}: header says {'x'.join(map(str, dims))} {dtype} = {expected} bytes of data, "
            f"file has {actual}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx_images(path: str | Path) -> np.ndarray:
    """NIST idx images as uint8 [N, 28, 28] UPRIGHT (the file stores each image transposed)."""
    array = read_idx(path)
    if array.ndim != 3 or array.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or array.dtype != np.uint8:
        raise ValueError(
            f"{path}: expected uint8 images N x {IMAGE_SIZE} x {IMAGE_SIZE} (idx3), "
            f"found {array.dtype} {array.shape}"
        )
    return np.ascontiguousarray(array.transpose(0, 2, 1))


def read_idx_labels(path: str | Path) -> np.ndarray:
    """NIST idx labels as int64 [N]."""
    array = read_idx(path)
    if array.ndim != 1 or array.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 labels N (idx1), found {array.dtype} {array.shape}")
    return array.astype(np.int64)


def write_idx(path: str | Path, array: np.ndarray, gz: bool = True) -> None:
    """Write an array in idx format (used for tests and fixtures; images must already be transposed)."""
    array = np.asarray(array)
    codes = {v: k for k, v in IDX_DTYPES.items()}
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = codes[np.dtype(big)]
    payload = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.astype(big).tobytes()
    Path(path).write_bytes(gzip.compress(payload, mtime=0) if gz else payload)


# ------------------------------------------------------------------------------------------- mapping


def read_split_mapping(path: str | Path, split: str | None = None) -> dict[int, str]:
    """Parse a NIST mapping file into label -> character.

    Lines are ``<label> <ascii code>``; the 'letters' file lists both cases (``<label> <upper> <lower>``),
    read as the two characters (e.g. 'Aa').
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such mapping file")
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a NIST mapping file (not ASCII text)") from None
    mapping: dict[int, str] = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ValueError(f"{path}:{line_number}: expected '<label> <ascii code> [<ascii code>]', "
                             f"got {line[:60]!r}")
        label = int(parts[0])
        if label in mapping:
            raise ValueError(f"{path}:{line_number}: label {label} listed twice")
        codes = [int(p) for p in parts[1:]]
        if not all(32 < code < 127 for code in codes):
            raise ValueError(f"{path}:{line_number}: ascii code out of the printable range: {line!r}")
        mapping[label] = "".join(chr(code) for code in codes)
    if not mapping:
        raise ValueError(f"{path}: empty mapping file")
    if split is not None:
        info = _check_split(split)
        expected = set(range(info.first_label, info.first_label + info.num_classes))
        if set(mapping) != expected:
            raise ValueError(f"{path}: labels {min(mapping)}-{max(mapping)} ({len(mapping)} classes) do not "
                             f"match split {split!r} ({info.num_classes} classes from {info.first_label})")
    return mapping


def mapping_from_array(array: np.ndarray, source: str) -> dict[int, str]:
    """The mapping stored in a ``.mat`` file (K x 2, or K x 3 for 'letters')."""
    array = np.asarray(array)
    if array.ndim != 2 or array.shape[1] not in (2, 3):
        raise ValueError(f"{source}: mapping must be K x 2 (label, ascii), found shape {array.shape}")
    mapping: dict[int, str] = {}
    for row in array.astype(np.int64):
        mapping[int(row[0])] = "".join(chr(int(code)) for code in row[1:])
    return mapping


def _check_labels(labels: np.ndarray, mapping: dict[int, str], source: str) -> None:
    unknown = np.setdiff1d(np.unique(labels), np.fromiter(mapping, dtype=np.int64))
    if unknown.size:
        raise ValueError(f"{source}: labels {unknown[:10].tolist()} are not in the split's mapping "
                         f"({min(mapping)}-{max(mapping)})")


# ------------------------------------------------------------------------------------------ splits


def load_idx_split(directory: str | Path, split: str, part: str) -> EmnistPart:
    """One part of a split from NIST's idx files in ``directory`` (``.gz`` or plain)."""
    _check_split(split)
    _check_part(part)
    directory = Path(directory)

    def find(kind: str) -> Path:
        for gz in (True, False):
            candidate = directory / idx_file_name(split, part, kind, gz=gz)
            if candidate.exists():
                return candidate
        raise FileNotFoundError(f"{directory}: missing {idx_file_name(split, part, kind)} "
                                f"(run `python -m model_tools download --split {split}`)")

    images_path, labels_path = find("images"), find("labels")
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise ValueError(f"{images_path.name} has {len(images)} images but {labels_path.name} has "
                         f"{len(labels)} labels")
    mapping = read_split_mapping(directory / mapping_file_name(split), split)
    _check_labels(labels, mapping, str(labels_path))
    return EmnistPart(images, labels, mapping)


def mat_rows_to_images(rows: np.ndarray, source: str, view: bool = False) -> np.ndarray:
    """NIST ``.mat`` image rows (N x 784, column-major per image) -> uint8 [N, 28, 28] upright.

    ``view=True`` returns an upright view of the rows instead of a contiguous copy (no second copy of
    a large file's images)."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != NUM_PIXELS:
        raise ValueError(f"{source}: images must be N x {NUM_PIXELS}, found shape {rows.shape}")
    if rows.dtype != np.uint8:
        if rows.size and (rows.min() < 0 or rows.max() > PIXEL_MAX):
            raise ValueError(f"{source}: pixel values outside 0-255")
        rows = rows.astype(np.uint8)
    # Each row holds the same byte sequence as an idx record (the image transposed), so a
    # column-major reshape gives the upright image.
    upright = rows.reshape(-1, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 1)
    return upright if view else np.ascontiguousarray(upright)


def images_to_mat_rows(images: np.ndarray) -> np.ndarray:
    """The inverse of :func:`mat_rows_to_images` (upright [N,28,28] -> NIST ``.mat`` rows)."""
    return np.ascontiguousarray(np.asarray(images, dtype=np.uint8).transpose(0, 2, 1).reshape(-1, NUM_PIXELS))


def _field(struct_array: np.ndarray, name: str, source: str) -> np.ndarray:
    names = struct_array.dtype.names or ()
    if name not in names:
        raise ValueError(f"{source}: field {name!r} missing (found {', '.join(names) or 'no fields'})")
    value = struct_array[name]
    while value.dtype == object and value.size == 1:
        value = value.flat[0]
    while value.dtype.names is None and value.dtype != object and value.ndim > 2:
        value = value[0]
    return value


def load_mat_split(path: str | Path, part: str, split: str | None = None, view: bool = False) -> EmnistPart:
    """One part of a split from NIST's ``emnist-<split>.mat`` (struct ``dataset``: train, test, mapping).

    ``view=True``: the images are an upright view of the file's rows, not a copy."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    _check_part(part)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such .mat file")
    if split is None and path.name.startswith("emnist-") and path.stem[len("emnist-"):] in SPLITS:
        split = path.stem[len("emnist-"):]
    try:
        content = loadmat(path)
    except NotImplementedError:
        raise ValueError(f"{path}: Matlab v7.3 (HDF5) file; NIST's EMNIST files are v5") from None
    except (MatReadError, ValueError, TypeError, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable Matlab file (foreign or truncated): {exc}") from None
    if "dataset" not in content:
        found = ", ".join(k for k in content if not k.startswith("__")) or "nothing"
        raise ValueError(f"{path}: no 'dataset' struct (found {found}); not a NIST EMNIST .mat file")
    dataset = content["dataset"]
    if dataset.dtype.names is None:
        raise ValueError(f"{path}: 'dataset' is not a struct")
    dataset = dataset.reshape(-1)[0]
    source = f"{path}: dataset.{part}"
    part_struct = _field(dataset, part, str(path))
    if part_struct.dtype.names is None:
        raise ValueError(f"{source} is not a struct with images and labels")
    images = mat_rows_to_images(_field(part_struct, "images", source), source + ".images", view=view)
    labels = np.asarray(_field(part_struct, "labels", source)).reshape(-1)
    if labels.size and (np.any(labels < 0) or np.any(labels != np.round(labels))):
        raise ValueError(f"{source}.labels: labels must be non-negative integers")
    labels = labels.astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{source}: {len(images)} images but {len(labels)} labels")
    mapping = mapping_from_array(_field(dataset, "mapping", str(path)), f"{path}: dataset.mapping")
    del content, dataset, part_struct  # the other part's images go with them
    if split is not None:
        info = _check_split(split)
        if len(mapping) != info.num_classes:
            raise ValueError(f"{path}: mapping has {len(mapping)} classes, split {split!r} has "
                             f"{info.num_classes}")
    _check_labels(labels, mapping, source + ".labels")
    return EmnistPart(images, labels, mapping)


def write_mat_split(path: str | Path, train: EmnistPart, test: EmnistPart) -> None:
    """Write a ``.mat`` file in NIST's structure (for tests, fixtures and round trips)."""
    from scipy.io import savemat

    def part_struct(part: EmnistPart) -> dict[str, np.ndarray]:
        return {
            "images": images_to_mat_rows(part.images),
            "labels": part.labels.astype(np.float64).reshape(-1, 1),
            "writers": np.zeros((len(part), 1), dtype=np.float64),
        }

    mapping = np.array([[label, ord(chars[0])] for label, chars in sorted(train.mapping.items())],
                       dtype=np.float64)
    savemat(path, {"dataset": {"train": part_struct(train), "test": part_struct(test), "mapping": mapping}})
