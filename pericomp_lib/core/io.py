"""Atomic writes: a crash never leaves a half-written cohort, table or prediction file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike, binary: bool = False) -> Iterator:
    """Write path atomically: readers see the old file or the complete new one, never half.

    The one writer of every output (tables, predictions, figures): the file gets the mode open() would
    give (umask applied), so outputs are shared like any other file of the group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode open() would (0644 under umask 022)
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_lines(path: str | os.PathLike) -> Iterator:
    """Stream UTF-8 text into path atomically (atomic_file in text mode)."""
    return atomic_file(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_file(path) as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows))


def read_text(path: str | os.PathLike, error: type[Exception] = ValueError) -> str:
    """A UTF-8 text file with any leading byte-order mark (Excel, Notepad) removed.

    Bytes that are not UTF-8 raise `error` naming the file, line and column, and what to do.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise error(
            f"{path}:{line}: byte {data[e.start : e.start + 1]!r} at column {column} is not UTF-8; save the file "
            "as UTF-8 (for example 'CSV UTF-8' in Excel, or iconv -f GB18030 -t UTF-8)"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None


def what_to_do(e: OSError, option: str = "the output folder option") -> str:
    """One line for an OSError met writing outputs: what went wrong, where, and what to do about it."""
    import errno

    where = f"{e.filename}: " if getattr(e, "filename", None) else ""
    what = e.strerror or str(e)
    blocked = "a file stands where a folder must be: move that file away or choose another folder with"
    todo = {
        errno.EACCES: f"you may not write there: choose a folder you own with {option}, or fix its permissions "
        "(ls -ld; chmod u+w, or ask its owner)",
        errno.EPERM: f"you may not write there: choose a folder you own with {option}, or fix its permissions",
        errno.EROFS: f"that file system is read-only: choose a writable folder with {option}",
        errno.ENOSPC: f"the disk is full: free space there (df -h) or choose a folder on another disk with {option}",
        errno.EDQUOT: f"your disk quota is used up: free space (quota -s) or choose another folder with {option}",
        errno.ENOTDIR: f"{blocked} {option}",
        errno.EEXIST: f"{blocked} {option}",
        errno.ENOENT: f"the folder vanished or its parent does not exist: create it, or choose another with {option}",
    }.get(e.errno, f"check that the folder exists, is writable and has space, or choose another with {option}")
    return f"{where}{what}; {todo}"


def check_writable(folder: str | os.PathLike, option: str = "the output folder option") -> str | None:
    """None when `folder` can be created and written (a test file is made and removed); else what_to_do's line."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        return what_to_do(e, option)
    return None
