"""Files in and out: atomic, no-clobber writes (an interrupted run leaves the old file or the new one, never half of
one), always-valid JSON, and bounded reads of small files someone else wrote (sidecars, state, metadata)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from quantizer.jsonio import json_text, parse_json

from .errors import UserError


def check_output_path(path: Path, force: bool, suffix: str | None = None, probe: bool = True) -> None:
    """Refuse an output that exists (without ``force``), has the wrong suffix, or lives in a missing folder; with
    ``probe``, also one whose folder cannot be written (checked before the work, so nothing is done in vain)."""
    if suffix is not None and path.suffix.lower() != suffix:
        raise UserError(f"output {path} must end in {suffix}")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")
    if path.exists() and path.is_dir():
        raise UserError(f"{path} is a folder, not a file")
    if not path.parent.is_dir():
        raise UserError(f"folder {path.parent} does not exist")
    if not probe:
        return
    try:  # a real write, not os.access: it also catches read-only file systems, whoever runs it
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise UserError(f"cannot write into folder {path.parent}: {error.strerror or error}") from None


def _file_mode() -> int:
    """What a plain ``open(path, "w")`` would create under the current umask (mkstemp itself makes 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()  # read once, at import: changing the umask is not thread-safe


def write_files_atomically(contents: dict[Path, bytes], force: bool) -> None:
    """Write several files so that each appears whole or not at all.

    All temporary files are written and flushed first; only then are they renamed into place. Without ``force``
    an existing file is never replaced, even one that appeared while we were writing.
    """
    for path in contents:
        check_output_path(path, force, probe=False)  # the write itself reports an unwritable folder
    temporaries: list[tuple[str, Path]] = []
    try:
        for path, data in contents.items():
            handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            temporaries.append((tmp_name, path))
            os.fchmod(handle, FILE_MODE)
            with os.fdopen(handle, "wb") as tmp_file:
                tmp_file.write(data)
                tmp_file.flush()
                os.fsync(tmp_file.fileno())
        for tmp_name, path in temporaries:
            _commit(tmp_name, path, force)
    except OSError as error:  # a full disk, a folder made read-only meanwhile
        raise UserError(f"could not write {path}: {error.strerror or error}") from None
    finally:
        for tmp_name, _ in temporaries:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)


def _commit(tmp_name: str, path: Path, force: bool) -> None:
    if force:
        os.replace(tmp_name, path)
        return
    try:
        os.link(tmp_name, path)  # atomic create-if-absent
    except FileExistsError:
        raise UserError(f"{path} already exists; pass --force to overwrite it") from None
    except OSError:  # filesystems without hard links
        if path.exists():
            raise UserError(f"{path} already exists; pass --force to overwrite it") from None
        os.replace(tmp_name, path)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise arrays as an uncompressed .npz, the format numpy.load(allow_pickle=False) reads."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def json_bytes(obj: Any) -> bytes:
    """Pretty, UTF-8 JSON with a trailing newline; NaN and infinities are written as null (always valid JSON)."""
    return (json_text(obj) + "\n").encode("utf-8")


def read_regular_file(path: Path | str, limit: int) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of at most ``limit`` bytes, else None (missing, a folder, a
    FIFO, a device, larger). It is opened without blocking and checked on the open handle: a FIFO never hangs, a
    link to /dev/zero is never read, and a file that grows meanwhile is still read only to ``limit``."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError):
        return None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        data = handle.read(limit + 1)
    return data if len(data) <= limit else None


def read_json_file(path: Path | str, limit: int) -> Any:
    """A small JSON file written by someone else, read as data: ``read_regular_file``'s bounds, strict JSON (no NaN,
    no nesting deeper than the parser takes). None when it is missing, not a regular file, too large or not JSON."""
    data = read_regular_file(path, limit)
    if data is None:
        return None
    try:
        return parse_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def figure_png(figure) -> bytes:
    """A matplotlib figure as PNG bytes (100 dpi), the figure closed."""
    import io

    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
