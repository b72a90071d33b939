"""``download``: fetch NIST's EMNIST archive, verify it, extract only the requested split's files.

Everything is written to a temporary name first and renamed once complete and verified, so an
interrupted or failed run (offline, wrong checksum, broken archive) leaves no partial files behind.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from model_tools.common.atomic_io import atomic_output
from model_tools.common.paths import DOWNLOADS_DIR
from model_tools.data.emnist_io import (
    PARTS,
    SPLITS,
    idx_file_name,
    load_idx_split,
    mapping_file_name,
)

log = logging.getLogger(__name__)

#: NIST's official archive of the gzip idx files (Cohen et al. 2017).
NIST_GZIP_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
#: MD5 of NIST's gzip.zip as published with torchvision's EMNIST dataset (the only digest known for it).
NIST_GZIP_MD5 = "58c8d27c78d21e728a6bc7b3cc06412e"
#: Folder inside the archive that holds the files.
ARCHIVE_FOLDER = "gzip"
CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """The archive could not be fetched or verified; nothing was left on disk."""


def split_members(split: str) -> list[str]:
    """Archive members a split needs: 4 idx files and its mapping file."""
    names = [idx_file_name(split, part, kind) for part in PARTS for kind in ("images", "labels")]
    return [f"{ARCHIVE_FOLDER}/{name}" for name in [*names, mapping_file_name(split)]]


def _stream(url: str, connect_timeout: float, read_timeout: float) -> tuple[Iterator[bytes], int | None]:
    """Chunks of the resource at ``url`` (http, https or file) and its size if known."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise DownloadError(f"{url}: no such file")

        def read_file() -> Iterator[bytes]:
            with open(path, "rb") as handle:
                yield from iter(lambda: handle.read(CHUNK_BYTES), b"")

        return read_file(), path.stat().st_size
    if parsed.scheme not in ("http", "https"):
        raise DownloadError(f"{url}: unsupported URL scheme {parsed.scheme!r} (use https, http or file)")

    import requests

    try:
        response = requests.get(url, stream=True, timeout=(connect_timeout, read_timeout))
        response.raise_for_status()
    except requests.ConnectionError as exc:
        raise DownloadError(f"cannot reach {parsed.netloc} (offline or blocked?): {exc.__class__.__name__}. "
                            "Nothing was written; retry when online, or pass --url file:///path/to/gzip.zip "
                            "for a copy of the archive you already have") from None
    except requests.Timeout:
        raise DownloadError(f"{parsed.netloc} did not answer within {connect_timeout:g} s (offline?). "
                            "Nothing was written") from None
    except requests.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.response.status_code}") from None
    size = response.headers.get("Content-Length")

    def read_response() -> Iterator[bytes]:
        try:
            yield from response.iter_content(CHUNK_BYTES)
        except requests.RequestException as exc:
            raise DownloadError(f"{url}: connection lost while downloading "
                                f"({exc.__class__.__name__})") from None
        finally:
            response.close()

    return read_response(), int(size) if size and size.isdigit() else None


def fetch(url: str, destination: Path, md5: str | None, split: str | None = None,
          connect_timeout: float = 5.0, read_timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` via a temporary file, checking the MD5 when given and that
    the zip holds NIST's files (``split``'s, or every split's)."""
    from tqdm import tqdm

    chunks, size = _stream(url, connect_timeout, read_timeout)  # fails before anything is written
    digest = hashlib.md5(usedforsecurity=False)
    with atomic_output(destination) as tmp:
        progress = tqdm(total=size, unit="B", unit_scale=True, desc=destination.name)
        with open(tmp, "wb") as handle, progress as bar:
            for chunk in chunks:
                handle.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        if size is not None and tmp.stat().st_size != size:
            raise DownloadError(f"{url}: got {tmp.stat().st_size} of {size} bytes")
        if md5 and digest.hexdigest() != md5.lower():
            raise DownloadError(f"{url}: MD5 {digest.hexdigest()} does not match the expected {md5}; "
                                "the file is not NIST's archive (or is damaged)")
        verify_archive(tmp, source=url, split=split)
    log.info("archive %s (md5 %s)", destination, digest.hexdigest())
    return destination


def verify_archive(path: Path, source: str | None = None, split: str | None = None) -> None:
    """Check ``path`` is a sound zip holding NIST's files (all splits, or ``split``'s)."""
    source = source or str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            wanted = split_members(split) if split else [m for s in SPLITS for m in split_members(s)]
            missing = [m for m in wanted if m not in names]
            if missing:
                more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
                raise DownloadError(f"{source}: not NIST's EMNIST gzip archive; missing "
                                    f"{', '.join(missing[:4])}{more}")
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{source}: not a zip archive or truncated ({exc})") from None


def extract_split(archive_path: Path, split: str, out: Path) -> list[Path]:
    """Extract only ``split``'s files into ``out`` (each via a temporary name) and check they load."""
    verify_archive(archive_path, split=split)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".extract-"))
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for member in split_members(split):
                target = staging / Path(member).name
                with archive.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, CHUNK_BYTES)
        for part in PARTS:  # headers, sizes, labels vs mapping; raises ValueError if broken
            loaded = load_idx_split(staging, split, part)
            log.info("%s %s: %d images, %d classes", split, part, len(loaded), len(loaded.mapping))
        for member in split_members(split):
            final = out / Path(member).name
            os.replace(staging / final.name, final)
            written.append(final)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive_path}: damaged member ({exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _remove_if_empty(folder: Path, existed_before: bool) -> None:
    """Leave no trace of a failed run: drop the output folder if this run created it and it is empty."""
    if not existed_before and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out_existed = out.exists()
    archive = Path(args.archive) if args.archive else out / "gzip.zip"
    md5 = None if args.md5.lower() == "none" else args.md5
    downloaded = False
    if args.archive and not archive.is_file():
        log.error("%s: no such archive (--archive takes a gzip.zip already on disk)", archive)
        return 3
    if archive.exists():
        log.info("using the archive already at %s", archive)
    else:
        downloaded = True
        try:
            fetch(args.url, archive, md5, split=args.split, connect_timeout=args.connect_timeout)
        except DownloadError as exc:
            log.error("%s", exc)
            _remove_if_empty(out, out_existed)
            return 3
    try:
        written = extract_split(archive, args.split, out)
    except (DownloadError, ValueError) as exc:
        log.error("%s", exc)
        return 3
    finally:
        if downloaded and not args.keep_archive:
            archive.unlink(missing_ok=True)
        _remove_if_empty(out, out_existed)
    for path in written:
        print(path)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "download",
        help="fetch NIST's EMNIST gzip archive and extract one split's idx + mapping files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--split", choices=sorted(SPLITS), default="byclass", help="split to extract")
    parser.add_argument("--out", default=str(DOWNLOADS_DIR / "emnist"),
                        help="folder for the extracted files (default: the project's downloads/emnist)")
    parser.add_argument("--url", default=NIST_GZIP_URL, help="archive URL (https, http or file://)")
    parser.add_argument("--md5", default=NIST_GZIP_MD5,
                        help="expected MD5 of the archive ('none' to only check it is NIST's zip layout)")
    parser.add_argument("--archive", help="an archive already on disk to extract from (kept)")
    parser.add_argument("--keep-archive", action="store_true",
                        help="keep the downloaded gzip.zip in --out (over 500 MB) for other splits")
    parser.add_argument("--connect-timeout", type=float, default=5.0,
                        help="seconds to wait for the server before giving up (offline fails fast)")
    parser.set_defaults(func=run)
