"""import-data: the layouts community datasets use, checked and converted into our dataset format.

- bark-data-gen: ``{n}.wav`` (24 kHz; ``{n}_wav.wav`` too) with ``{n}_semantic.npy``;
- the prepared form: ``{n}_semantic.npy`` with ``{n}_semantic_features.npy`` (HuBERT layer-9 features, 50 Hz).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.sound import load_audio
from ..constants import CODEC_SAMPLE_RATE, DEFAULT_HUBERT, HUBERT_FRAME_RATE_HZ, HUBERT_LAYER, SEMANTIC_RATE_HZ
from ..datasets import HELD_OUT_FRACTION, check_lengths, check_tokens, create_dataset, flac_bytes, is_dataset_folder
from ..errors import UserError
from ..files import check_folder_output, staging_folder, swap_in
from ..progress import progress_bar
from .features import FeatureCache, cache_key

SEMANTIC_SUFFIX = "_semantic.npy"
FEATURES_SUFFIX = "_semantic_features.npy"
IMPORT_SHARD_SIZE = 256


def _natural(stem: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", stem)]


def find_pairs(source: Path) -> tuple[str, list[tuple[str, Path, Path]]]:
    """The layout and its (stem, tokens file, audio-or-features file) pairs; refuses a pair with a missing half."""
    if not source.is_dir():
        raise UserError(f"{source} is not a folder")
    names = {path.name: path for path in source.iterdir() if path.is_file()}
    semantic = {name[: -len(SEMANTIC_SUFFIX)]: path for name, path in names.items()
                if name.endswith(SEMANTIC_SUFFIX)}
    features = {name[: -len(FEATURES_SUFFIX)]: path for name, path in names.items() if name.endswith(FEATURES_SUFFIX)}
    audio = {}
    for name, path in names.items():
        if name.lower().endswith(".wav"):
            stem = name[:-4]
            audio[stem[:-4] if stem.endswith("_wav") else stem] = path
    layout, partners, kind = ("prepared", features, "_semantic_features.npy") if features else \
        ("bark-data-gen", audio, ".wav")
    if not semantic and not partners:
        raise UserError(f"{source} holds neither {{n}}.wav + {{n}}_semantic.npy nor {{n}}_semantic.npy + "
                        "{n}_semantic_features.npy files")
    lonely_tokens = sorted(set(semantic) - set(partners), key=_natural)
    lonely_partners = sorted(set(partners) - set(semantic), key=_natural)
    if lonely_tokens:
        raise UserError(f"{semantic[lonely_tokens[0]]} has no matching {lonely_tokens[0]}{kind} "
                        f"({len(lonely_tokens)} such file(s))")
    if lonely_partners:
        raise UserError(f"{partners[lonely_partners[0]]} has no matching {lonely_partners[0]}{SEMANTIC_SUFFIX} "
                        f"({len(lonely_partners)} such file(s))")
    stems = sorted(semantic, key=_natural)
    return layout, [(stem, semantic[stem], partners[stem]) for stem in stems]


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise UserError(f"{path} is not a plain .npy array ({error})") from None


def read_pair(stem: str, tokens_path: Path, other: Path, layout: str) -> tuple[dict[str, Any], np.ndarray | None]:
    """One checked row (and, for the prepared form, its (T, D) features)."""
    tokens = check_tokens(_load_npy(tokens_path), str(tokens_path))
    token_seconds = len(tokens) / SEMANTIC_RATE_HZ
    row: dict[str, Any] = {"id": stem, "semantic": tokens.astype(np.int32).tolist(), "voice": ""}
    if layout == "prepared":
        features = _load_npy(other)
        if features.ndim != 2 or features.shape[0] == 0 or not np.issubdtype(features.dtype, np.floating):
            raise UserError(f"{other}: features must be a non-empty (frames, dim) float array, got "
                            f"{features.shape} {features.dtype}")
        if not np.isfinite(features).all():
            raise UserError(f"{other}: the features contain NaN or infinite values")
        check_lengths(token_seconds, len(features) / HUBERT_FRAME_RATE_HZ, "features", str(other))
        row.update(seconds=len(features) / HUBERT_FRAME_RATE_HZ)
        return row, features.astype(np.float16)
    samples = load_audio(other, CODEC_SAMPLE_RATE).samples
    check_lengths(token_seconds, len(samples) / CODEC_SAMPLE_RATE, "audio", str(other))
    row.update(audio=flac_bytes(samples), sample_rate=CODEC_SAMPLE_RATE, seconds=len(samples) / CODEC_SAMPLE_RATE)
    return row, None


def import_data(source: Path, out: Path, features_hubert: str = DEFAULT_HUBERT, force: bool = False,
                progress: bool = True, held_out: float = HELD_OUT_FRACTION) -> dict[str, Any]:
    """Check every pair, then build the dataset in a staging folder and move it into place in one step."""
    source, out = Path(source), Path(out)
    check_folder_output(out, force, is_dataset_folder, "dataset")
    layout, pairs = find_pairs(source)
    features_info = None
    if layout == "prepared":
        features_info = {"hubert": features_hubert, "layer": HUBERT_LAYER,
                         "key": cache_key(features_hubert, None, HUBERT_LAYER), "imported_from": str(source)}
    staging = staging_folder(out)
    try:
        settings = {"kind": "imported", "layout": layout, "source": str(source.resolve()), "samples": len(pairs)}
        n_shards = -(-len(pairs) // IMPORT_SHARD_SIZE)
        dataset = create_dataset(staging / "dataset", settings, n_shards, False, features_info, held_out)
        cache = FeatureCache.create(dataset, features_info["key"], features_info) if features_info else None
        seconds = 0.0
        with progress_bar(total=len(pairs), unit="clip", desc="import-data", disable=not progress) as bar:
            for shard in range(n_shards):
                rows, arrays = [], []
                for stem, tokens_path, other in pairs[shard * IMPORT_SHARD_SIZE:(shard + 1) * IMPORT_SHARD_SIZE]:
                    row, features = read_pair(stem, tokens_path, other, layout)
                    rows.append(row)
                    arrays.append(features)
                    seconds += row["seconds"]
                    bar.update(1)
                dataset.write_shard(shard, rows)
                if cache is not None:
                    cache.write_shard(shard, [row["id"] for row in rows], arrays)
        check_folder_output(out, force, is_dataset_folder, "dataset")  # again: it may have changed meanwhile
        swap_in(staging / "dataset", out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"layout": layout, "clips": len(pairs), "seconds": round(seconds, 2)}
