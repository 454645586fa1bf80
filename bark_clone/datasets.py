"""The dataset format: data/NAME/manifest.json plus parquet shards of (text, semantic tokens, 24 kHz audio, settings).

Every shard and the manifest are written atomically, so a shard that exists is complete: a rerun skips it.
"""

from __future__ import annotations

import datetime
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .constants import (
    CODEBOOK_SIZE,
    CODEC_SAMPLE_RATE,
    N_FINE_CODEBOOKS,
    SEMANTIC_RATE_HZ,
    SEMANTIC_VOCAB_SIZE,
    VERSION,
)
from .errors import UserError
from .files import check_folder_output, holds_only, json_bytes, json_text, read_json_file, write_files_atomically

FORMAT = "bark-clone-dataset"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 2**20  # a manifest lists settings and shard counts: kilobytes
SHARDS = "shards"
FEATURES = "features"
HELD_OUT_FRACTION = 0.05
MAX_SHARDS = 100_000  # 50 million clips at generate-data's 500 a shard
SHARD_NAME = re.compile(r"(\d{5})\.parquet")
COLUMNS = ("id", "text", "semantic", "audio", "sample_rate", "seconds", "semantic_temperature",
           "coarse_temperature", "fine_temperature", "voice", "seed", "codes")


def _schema():
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()), ("text", pa.string()), ("semantic", pa.list_(pa.int32())),
        ("audio", pa.binary()),  # FLAC, mono, 16-bit; null for feature-only imports
        ("sample_rate", pa.int32()), ("seconds", pa.float32()), ("semantic_temperature", pa.float32()),
        ("coarse_temperature", pa.float32()), ("fine_temperature", pa.float32()), ("voice", pa.string()),
        ("seed", pa.int64()),
        ("codes", pa.list_(pa.int16())),  # Bark's 8 codebooks, (8, T) row by row; null where not kept (older data)
    ])


def flac_bytes(samples: np.ndarray, sample_rate: int = CODEC_SAMPLE_RATE) -> bytes:
    """Lossless FLAC of (n,) float audio."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1, 1), sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def decode_flac(blob: bytes) -> tuple[np.ndarray, int]:
    """(n,) float32 samples and their rate."""
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(blob), dtype="float32")
    return samples, int(rate)


@dataclass
class Dataset:
    """An opened dataset folder."""

    root: Path
    manifest: dict[str, Any]

    @property
    def n_shards(self) -> int:
        return int(self.manifest["n_shards"])

    def shard_path(self, index: int) -> Path:
        return self.root / SHARDS / f"{index:05d}.parquet"

    def present_shards(self) -> list[int]:
        """The finished shards, found in the folder (never by trying every index the manifest claims); anything in
        it that is not one of this dataset's parquet shards is named."""
        found = []
        folder = self.root / SHARDS
        for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                continue  # a shard being written
            match = SHARD_NAME.fullmatch(entry.name)
            if match is None or int(match[1]) >= self.n_shards or not entry.is_file() or entry.is_symlink():
                raise UserError(f"{entry} is not one of this dataset's parquet shards (00000.parquet .. "
                                f"{self.n_shards - 1:05d}.parquet, regular files); move it out of {folder}")
            found.append(int(match[1]))
        return found

    @property
    def identity(self) -> str:
        """A short id of this dataset (its settings and creation time): a quantizer's run records it, so evaluation
        can tell whether the quantizer has seen these clips."""
        import hashlib

        basis = json_text([self.manifest.get("settings"), self.manifest.get("n_shards"), self.manifest.get("created")],
                          indent=None, sort_keys=True)
        return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]

    @property
    def held_out_fraction(self) -> float:
        return float(self.manifest.get("held_out_fraction", HELD_OUT_FRACTION))

    @property
    def imported_features(self) -> dict[str, Any] | None:
        """For feature-only imports: which HuBERT made the stored features (they cannot be recomputed)."""
        return self.manifest.get("features")

    def write_shard(self, index: int, rows: list[dict[str, Any]]) -> None:
        """Write one shard atomically (replacing an older copy)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{column: row.get(column) for column in COLUMNS} for row in rows],
                                     schema=_schema())
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        write_files_atomically({self.shard_path(index): buffer.getvalue()}, force=True)

    def shard_rows(self, index: int) -> int:
        """Rows in a shard, from its footer; refuses an empty or unreadable shard."""
        import pyarrow.parquet as pq

        path = self.shard_path(index)
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as error:  # pyarrow raises several types for damaged files
            raise UserError(f"{path} is not a readable parquet shard: {error}") from None
        if rows == 0:
            raise UserError(f"{path} is an empty shard: delete it and rerun generate-data to remake it")
        return rows

    def has_column(self, index: int, column: str) -> bool:
        """Whether shard ``index`` was written with ``column`` (datasets grow columns; older shards lack them)."""
        import pyarrow.parquet as pq

        return column in pq.read_schema(self.shard_path(index)).names

    def read_shard(self, index: int, columns: list[str] | None = None):
        """The shard as a pyarrow Table; refuses an empty or unreadable shard."""
        import pyarrow.parquet as pq

        self.shard_rows(index)  # the footer's checks first: empty or damaged shards get their own message
        try:
            return pq.read_table(self.shard_path(index), columns=columns)
        except Exception as error:  # pyarrow raises several types for damaged files
            raise UserError(f"{self.shard_path(index)} is not a readable parquet shard: {error}") from None


def open_dataset(root: Path | str) -> Dataset:
    """Open ``data/NAME``; ``UserError`` if it is not a dataset or has no finished shard."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise UserError(f"{root} is not a dataset: it has no {MANIFEST} (make one with generate-data or import-data)")
    manifest = read_json_file(path, MAX_MANIFEST_BYTES)
    if manifest is None:
        raise UserError(f"{path} is not valid JSON in a regular file of at most {MAX_MANIFEST_BYTES // 2**20} MB")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{path} is not a bark-clone dataset manifest")
    version = manifest.get("format_version", 0)
    if not isinstance(version, int) or version < 0:
        raise UserError(f"{path} is not a bark-clone dataset manifest (its format_version is {version!r})")
    if version > FORMAT_VERSION:
        raise UserError(f"{root} was written by a newer bark-clone")
    check_manifest(manifest, path)
    return Dataset(root, manifest)


def check_manifest(manifest: dict[str, Any], path: Path) -> None:
    """The fields the code reads, typed and bounded: a manifest is someone else's file."""
    shards, held_out = manifest.get("n_shards"), manifest.get("held_out_fraction", HELD_OUT_FRACTION)
    if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= MAX_SHARDS:
        raise UserError(f"{path}: n_shards must be an integer in 1..{MAX_SHARDS}, got {str(shards)[:40]}")
    if not isinstance(held_out, (int, float)) or isinstance(held_out, bool) or not 0 < held_out < 0.5:
        raise UserError(f"{path}: held_out_fraction must lie between 0 and 0.5, got {str(held_out)[:40]}")
    if not isinstance(manifest.get("settings", {}), dict) or not isinstance(manifest.get("features"),
                                                                            (dict, type(None))):
        raise UserError(f"{path}: settings and features must be JSON objects")
    if manifest.get("sample_rate", CODEC_SAMPLE_RATE) != CODEC_SAMPLE_RATE:
        raise UserError(f"{path}: sample_rate must be {CODEC_SAMPLE_RATE}, got {str(manifest['sample_rate'])[:40]}")


def is_dataset_folder(folder: Path) -> bool:
    """A folder generate-data or import-data wrote, and nothing else: --force may replace it."""
    return holds_only(folder, MANIFEST, (SHARDS, FEATURES))


def create_dataset(root: Path, settings: dict[str, Any], n_shards: int, force: bool,
                   features: dict[str, Any] | None = None, held_out: float = HELD_OUT_FRACTION) -> Dataset:
    """Create ``root`` or resume it: an existing dataset must have been made with exactly the same settings.

    ``held_out`` is the fraction of clips (chosen by a hash of their id) that training never sees.
    """
    if not 0 < held_out < 0.5:
        raise UserError(f"--held-out must lie between 0 and 0.5, got {held_out}")
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "settings": settings, "n_shards": n_shards,
                "held_out_fraction": held_out, "sample_rate": CODEC_SAMPLE_RATE,
                "semantic_rate_hz": SEMANTIC_RATE_HZ, "features": features,
                "tool_version": VERSION}
    check_folder_output(root, True, is_dataset_folder, "dataset")  # never ".", a link, or a folder of other files;
    # (a dataset of ours without --force is resumed below, if its settings match)
    if root.exists() and force:
        shutil.rmtree(root)
    if (root / MANIFEST).exists():
        dataset = open_dataset(root)
        if (dataset.manifest.get("settings") != settings or dataset.n_shards != n_shards
                or dataset.held_out_fraction != held_out):
            raise UserError(f"{root} holds a dataset made with other settings; use another --out, or --force to "
                            "delete it and start again")
        return dataset
    if root.exists() and any(root.iterdir()):
        raise UserError(f"{root} exists and is not a dataset; choose another --out")
    if not root.parent.is_dir():
        raise UserError(f"folder {root.parent} does not exist")
    (root / SHARDS).mkdir(parents=True, exist_ok=True)
    manifest["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    write_files_atomically({root / MANIFEST: json_bytes(manifest)}, force=True)
    return Dataset(root, manifest)


def join_dataset(root: Path, settings: dict[str, Any], n_shards: int, held_out: float,
                 timeout: float = 300.0) -> Dataset:
    """For ranks other than 0: wait for rank 0's manifest, then check it describes the same dataset."""
    import time

    deadline = time.time() + timeout
    while not (root / MANIFEST).exists():
        if time.time() > deadline:
            raise UserError(f"{root}/{MANIFEST} did not appear: did rank 0 fail?")
        time.sleep(0.2)
    dataset = open_dataset(root)
    if (dataset.manifest.get("settings") != settings or dataset.n_shards != n_shards
            or dataset.held_out_fraction != held_out):
        raise UserError(f"{root} holds a dataset made with other settings than this process's")
    return dataset


def check_tokens(tokens: np.ndarray, where: str) -> np.ndarray:
    """(N,) semantic tokens: non-empty, 1-D, integer, within 0..9999."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or tokens.size == 0:
        raise UserError(f"{where}: the semantic tokens are empty or not 1-D (shape {tokens.shape})")
    if not np.issubdtype(tokens.dtype, np.integer):
        raise UserError(f"{where}: the semantic tokens are {tokens.dtype}, not integers")
    if tokens.min() < 0 or tokens.max() >= SEMANTIC_VOCAB_SIZE:
        raise UserError(f"{where}: semantic tokens must lie in 0..{SEMANTIC_VOCAB_SIZE - 1}")
    return tokens.astype(np.int64)


def check_codes(codes: Any, where: str) -> np.ndarray:
    """(8, T) EnCodec codes from a flat list: integers within 0..1023, a whole number of frames, T >= 1."""
    codes = np.asarray(codes)
    if codes.ndim != 1 or codes.size == 0 or codes.size % N_FINE_CODEBOOKS or not np.issubdtype(codes.dtype,
                                                                                               np.integer):
        raise UserError(f"{where}: the codes are not {N_FINE_CODEBOOKS} whole codebooks of integers")
    if codes.min() < 0 or codes.max() >= CODEBOOK_SIZE:
        raise UserError(f"{where}: codes must lie in 0..{CODEBOOK_SIZE - 1}")
    return codes.astype(np.int64).reshape(N_FINE_CODEBOOKS, -1)


def check_lengths(seconds_of_tokens: float, seconds_of_other: float, what: str, where: str) -> None:
    """Tokens and audio (or features) of one clip must cover about the same time."""
    tolerance = 0.25 + 0.03 * seconds_of_tokens
    if abs(seconds_of_tokens - seconds_of_other) > tolerance:
        raise UserError(f"{where}: {seconds_of_tokens:.2f} s of semantic tokens but {seconds_of_other:.2f} s of "
                        f"{what}; they cannot belong together")
