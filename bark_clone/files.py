"""Files in and out: atomic, no-clobber writes (an interrupted run leaves the old file or the new one, never half of
one), always-valid JSON, and bounded reads of small files someone else wrote (sidecars, state, metadata)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

# The application's JSON layer is this module (strict parsing, non-finite numbers written as null); its rules live in
# quantizer.jsonio because the pure-ML quantizer package writes JSON too and never imports the application.
from quantizer.jsonio import json_text, parse_json

from .errors import UserError

MAX_OWN_JSON_BYTES = 64 * 1024 * 1024  # a report of ours is at most this: a larger JSON file is not one


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
    if path.exists() and not written_by_us(path):
        raise UserError(f"{path} exists and is not a file bark-clone writes (a prompt, a sidecar or report, audio): "
                        "--force replaces only those; move it away or choose another name")
    try:  # a real write, not os.access: it also catches read-only file systems, whoever runs it
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise UserError(f"cannot write into folder {path.parent}: {error.strerror or error}") from None


def written_by_us(path: Path) -> bool:
    """Whether an existing output is of a kind we write, so ``--force`` may replace it: an npz archive of arrays,
    a JSON object (sidecars, reports), or audio soundfile can read (raw .pcm: an even number of bytes). Only the
    file's header or directory is read, bounded; anything else (a text file named notes.npz) is someone's own."""
    import zipfile

    if path.is_symlink() or not path.is_file():
        return False
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return False
        return bool(names) and all(name.endswith(".npy") for name in names)
    if suffix == ".json":
        return isinstance(read_json_file(path, MAX_OWN_JSON_BYTES), dict)
    if suffix == ".pcm":
        return path.stat().st_size % 2 == 0
    import soundfile

    try:
        soundfile.info(str(path))
    except (RuntimeError, OSError):  # soundfile's LibsndfileError is a RuntimeError
        return False
    return True


def check_folder_output(folder: Path, force: bool, ours: Callable[[Path], bool], what: str,
                        parents: bool = False) -> None:
    """Refuse an output folder we may not (re)place, before any work: a symbolic link, the current folder or one
    above it, a file, a missing (unless ``parents``: it will be made) or unwritable parent; an existing folder with
    anything in it unless ``force`` is given and ``ours(folder)`` says it holds only what bark-clone writes as
    ``what`` (a voice, a dataset...)."""
    folder = Path(folder)
    if folder.is_symlink():
        raise UserError(f"{folder} is a symbolic link; give the {what}'s real folder, or a new name")
    resolved, here = folder.resolve(), Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise UserError(f"{folder} is the current folder or one above it; give the {what} a folder of its own")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file; the {what} is a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not ours(folder):
            raise UserError(f"{folder} holds files bark-clone did not write as a {what}; refusing to replace it"
                            + (" even with --force" if force else ": choose another folder"))
        if not force:
            raise UserError(f"{folder} already exists; pass --force to replace it")
    parent = folder.parent
    while parents and not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the nearest folder that exists is where the new ones will be made
    check_output_path(parent / f".{resolved.name}.probe", force=False, probe=True)


def holds_only(folder: Path, marker: str, names: Iterable[str]) -> bool:
    """True when ``folder`` has ``marker`` and nothing beside ``names`` (and our own hidden temporaries)."""
    allowed = {marker, *names}
    return (folder / marker).is_file() and all(
        entry.name in allowed or (entry.name.startswith(".") and entry.name.endswith(".tmp"))
        for entry in folder.iterdir())


def staging_folder(folder: Path) -> Path:
    """A new private folder beside ``folder``, where its replacement is assembled (same file system: it renames)."""
    folder = Path(folder)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.resolve().name}.", suffix=".new", dir=folder.parent))
    staging.chmod(FOLDER_MODE)  # mkdtemp's 0700 would outlive the rename
    return staging


def swap_in(staging: Path, folder: Path) -> None:
    """Put the finished ``staging`` folder in ``folder``'s place: the old one (checked by ``check_folder_output``)
    is renamed aside first and removed only once the new one is in place."""
    folder = Path(folder)
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.resolve().name}.", suffix=".old", dir=folder.parent))
        os.rename(folder, old / "folder")
    os.rename(staging, folder)
    if old is not None:
        shutil.rmtree(old)


def _umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


UMASK = _umask()  # read once, at import: changing the umask is not thread-safe
FILE_MODE = 0o666 & ~UMASK  # what a plain open(path, "w") creates (mkstemp itself makes 0600)
FOLDER_MODE = 0o777 & ~UMASK  # what a plain mkdir creates (mkdtemp makes 0700)


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


def regular_file_sha256(path: Path | str, limit: int) -> str | None:
    """SHA-256 of ``path`` when it is a regular file of at most ``limit`` bytes (checked on the open handle, as
    ``read_regular_file`` does), read 1 MiB at a time; else None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError):
        return None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(descriptor)
        return None
    digest = hashlib.sha256()
    with os.fdopen(descriptor, "rb") as handle:
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
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:  # before fdopen, which refuses a folder's descriptor
        os.close(descriptor)
        return None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError:
            return None
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
