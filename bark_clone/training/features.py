"""HuBERT features of a dataset's clips, computed by make-speaker's own code and cached as float16 safetensors.

The cache lives in ``data/NAME/features/<key>/``, one file per shard, keyed by HuBERT id, revision and layer, so a
later run (or another architecture) never recomputes them, and a different HuBERT never reuses them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quantizer import distributed
from quantizer.data import Clip

from ..audio.sound import normalize_level, resample
from ..constants import HUBERT_FRAME_RATE_HZ, HUBERT_SAMPLE_RATE, SEMANTIC_RATE_HZ
from ..datasets import FEATURES, Dataset, check_lengths, check_tokens, decode_flac
from ..errors import UserError
from ..files import json_bytes, json_text, parse_json, write_files_atomically
from ..models.codecs import hubert_features
from ..models.loading import Loaded
from ..progress import progress_bar

INFO = "info.json"


def cache_key(hubert_source: str, revision: str | None, layer: int) -> str:
    """A folder name that differs whenever the HuBERT weights or the layer differ."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", str(hubert_source).strip("/"))[-40:]
    digest = hashlib.sha1(f"{hubert_source}|{revision}|{layer}".encode()).hexdigest()[:10]
    return f"{readable}-L{layer}-{digest}"


@dataclass
class FeatureCache:
    """One HuBERT's features for one dataset."""

    dataset: Dataset
    folder: Path
    info: dict[str, Any]

    @classmethod
    def create(cls, dataset: Dataset, key: str, info: dict[str, Any]) -> FeatureCache:
        folder = dataset.root / FEATURES / key
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / INFO).exists():
            write_files_atomically({folder / INFO: json_bytes(info)}, force=True)
        return cls(dataset, folder, info)

    def shard_path(self, index: int) -> Path:
        return self.folder / f"{index:05d}.safetensors"

    def write_shard(self, index: int, ids: list[str], features: list[np.ndarray]) -> None:
        """All clips of a shard as one (sum T, D) float16 array plus offsets; ids in the metadata."""
        from safetensors.numpy import save

        offsets = np.cumsum([0] + [len(array) for array in features]).astype(np.int64)
        blob = save({"features": np.concatenate(features).astype(np.float16), "offsets": offsets},
                    metadata={"ids": json_text(ids, indent=None)})
        write_files_atomically({self.shard_path(index): blob}, force=True)

    def read_shard(self, index: int) -> dict[str, np.ndarray]:
        """{clip id: (T, D) float16 features}."""
        from safetensors import safe_open

        path = self.shard_path(index)
        try:
            with safe_open(str(path), framework="numpy") as handle:
                ids = parse_json(handle.metadata()["ids"])
                features, offsets = handle.get_tensor("features"), handle.get_tensor("offsets")
        except Exception as error:  # safetensors raises its own types for damaged files
            raise UserError(f"{path} is damaged ({error}); delete it to have it recomputed") from None
        return {clip_id: features[offsets[i]: offsets[i + 1]] for i, clip_id in enumerate(ids)}


def clip_features(hubert: Loaded, samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """What make-speaker computes for a window: 16 kHz, levelled, HuBERT layer ``layer`` -> (T, D) float16."""
    samples_16k, _ = normalize_level(resample(samples, sample_rate, HUBERT_SAMPLE_RATE))
    return hubert_features(hubert, samples_16k).astype(np.float16)


def ensure_features(dataset: Dataset, hubert: Loaded, progress: bool = True) -> FeatureCache:
    """Compute the missing shards' features (this process's share, under torchrun) and return the cache."""
    place = distributed.position()
    info = {"hubert": hubert.source, "revision": hubert.revision, "layer": hubert.model.layer,
            "frame_rate_hz": HUBERT_FRAME_RATE_HZ, "dim": hubert.model.config.hidden_size}
    cache = FeatureCache.create(dataset, cache_key(hubert.source, hubert.revision, hubert.model.layer), info)
    todo = [index for index in dataset.present_shards() if index % place.world == place.rank
            and not cache.shard_path(index).exists()]
    if not todo:
        return cache
    total = sum(dataset.shard_rows(index) for index in todo)  # from the parquet footers: no audio read yet
    with progress_bar(total=total, unit="clip", desc="HuBERT features", disable=not progress) as bar:
        for index in todo:  # one shard's audio in memory at a time
            table = dataset.read_shard(index, ["id", "audio", "sample_rate"])
            ids, arrays = [], []
            for clip_id, blob in zip(table.column("id").to_pylist(), table.column("audio").to_pylist()):
                if blob is None:
                    raise UserError(f"clip {clip_id} of {dataset.root} has no audio to compute features from")
                samples, rate = decode_flac(blob)
                ids.append(clip_id)
                arrays.append(clip_features(hubert, samples, rate))
                bar.update(1)
            cache.write_shard(index, ids, arrays)
    return cache


def load_clips(dataset: Dataset, cache: FeatureCache) -> list[Clip]:
    """Every finished shard's clips, with their cached features; refuses NaN features and mismatched lengths."""
    clips = []
    for index in dataset.present_shards():
        table = dataset.read_shard(index, ["id", "semantic"])
        if not cache.shard_path(index).exists():
            raise UserError(f"features for shard {index} of {dataset.root} are missing from {cache.folder}")
        features = cache.read_shard(index)
        for clip_id, tokens in zip(table.column("id").to_pylist(), table.column("semantic").to_pylist()):
            where = f"{dataset.root} clip {clip_id}"
            tokens = check_tokens(np.asarray(tokens), where)
            array = features.get(clip_id)
            if array is None:
                raise UserError(f"{where} has no cached features; delete {cache.folder} to recompute them")
            if not np.isfinite(array).all():
                raise UserError(f"{where}: its features contain NaN or infinite values")
            check_lengths(len(tokens) / SEMANTIC_RATE_HZ, len(array) / HUBERT_FRAME_RATE_HZ, "features", where)
            clips.append(Clip(clip_id, array, tokens))
    if not clips:
        raise UserError(f"{dataset.root} has no finished shard yet")
    return clips
