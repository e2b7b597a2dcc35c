"""Content-addressed file store under ``$SITEWATCH_DATA/files``: a file's name is its sha256."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bim.errors import FileTooLarge

__all__ = ["StoredFile", "file_path", "store_file", "store_bytes"]

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: Path
    size: int


def file_path(data_dir: Path, sha256: str, suffix: str = ".ifc") -> Path:
    """Where the file with this hash lives (``files/ab/abcdef….ifc``)."""
    return Path(data_dir) / "files" / sha256[:2] / f"{sha256}{suffix}"


def _tmp(data_dir: Path) -> Path:
    folder = Path(data_dir) / "files" / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / uuid.uuid4().hex


def _commit(tmp: Path, data_dir: Path, digest: str, size: int, suffix: str) -> StoredFile:
    final = file_path(data_dir, digest, suffix)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and final.stat().st_size == size:
        tmp.unlink(missing_ok=True)       # same bytes already stored
    else:
        os.replace(tmp, final)
    return StoredFile(digest, final, size)


def store_file(source: IO[bytes] | Path | str, *, data_dir: Path, max_bytes: int | None = None,
               suffix: str = ".ifc", check=None) -> StoredFile:
    """Copy ``source`` (a stream or a path) into the store, hashing as it goes.

    Raises :class:`~bim.errors.FileTooLarge` past ``max_bytes`` (nothing is kept).  ``check``,
    if given, is called with the temporary path before the file is committed and may raise.
    """
    tmp = _tmp(data_dir)
    digest = hashlib.sha256()
    size = 0
    try:
        stream = open(source, "rb") if isinstance(source, (str, Path)) else source
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise FileTooLarge(size, max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
        finally:
            if isinstance(source, (str, Path)):
                stream.close()
        if check is not None:
            check(tmp)
        return _commit(tmp, data_dir, digest.hexdigest(), size, suffix)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def store_bytes(data: bytes, *, data_dir: Path, suffix: str) -> StoredFile:
    """Store bytes already in memory (the GLB a parse wrote)."""
    tmp = _tmp(data_dir)
    tmp.write_bytes(data)
    return _commit(tmp, data_dir, hashlib.sha256(data).hexdigest(), len(data), suffix)


def copy_with_header(source: Path, target: Path, old: bytes, new: bytes) -> None:
    """Copy a STEP file, replacing ``old`` by ``new`` once in its header (schema aliasing)."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        head = src.read(64 * 1024)
        dst.write(head.replace(old, new, 1))
        shutil.copyfileobj(src, dst, _CHUNK)
