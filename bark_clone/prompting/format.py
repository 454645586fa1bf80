"""The speaker prompt: Bark's .npz of semantic tokens and codec codes, its checks, and what Bark really reads of it."""

from __future__ import annotations

import hashlib
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import (
    BARK_COARSE_RATIO,
    BARK_FINE_HISTORY_FRAMES,
    BARK_MAX_COARSE_HISTORY,
    BARK_SEMANTIC_HISTORY,
    CODEBOOK_SIZE,
    CODEC_FRAME_RATE_HZ,
    MIN_SPEECH_SECONDS,
    N_COARSE_CODEBOOKS,
    N_FINE_CODEBOOKS,
    SEMANTIC_RATE_HZ,
    SEMANTIC_TO_COARSE_RATIO,
    SEMANTIC_VOCAB_SIZE,
    semantic_length_for_frames,
)
from ..errors import UserError
from ..files import npz_bytes, write_files_atomically

KEYS = ("semantic_prompt", "coarse_prompt", "fine_prompt")


@dataclass(frozen=True)
class Check:
    """One verdict on a prompt: ``ok`` False on a hard check fails the prompt; warnings never do."""

    name: str
    ok: bool
    detail: str
    hard: bool = True


@dataclass(frozen=True)
class SpeakerPrompt:
    """A Bark history prompt.

    ``semantic_tokens``: (S,) int64 in 0..9999 at 49.9 Hz. ``fine_codes``: (8, T) int64 in 0..1023 at 75 Hz.
    ``coarse_codes``: (2, T), always ``fine_codes[:2]``. Both streams cover the same audio: S == round(T * 49.9 / 75).
    """

    semantic_tokens: np.ndarray
    coarse_codes: np.ndarray
    fine_codes: np.ndarray

    def __post_init__(self) -> None:
        # C order wherever a prompt comes from (Bark's presets arrive Fortran-ordered): its file and its id are
        # then the same however the arrays were made.
        for name in ("semantic_tokens", "coarse_codes", "fine_codes"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name)))

    @classmethod
    def from_streams(cls, semantic_tokens: np.ndarray, fine_codes: np.ndarray) -> SpeakerPrompt:
        """Build a prompt from (S,) tokens and (8, T) codes; coarse codes are the first two codebooks."""
        fine = np.ascontiguousarray(fine_codes, dtype=np.int64)
        return cls(np.ascontiguousarray(semantic_tokens, dtype=np.int64), fine[:N_COARSE_CODEBOOKS].copy(), fine)

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The three arrays under Bark's key names."""
        return dict(zip(KEYS, (self.semantic_tokens, self.coarse_codes, self.fine_codes)))

    @property
    def seconds(self) -> float:
        """How much audio the codes cover."""
        return self.fine_codes.shape[1] / CODEC_FRAME_RATE_HZ

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first problem, in the user's terms, if Bark could not use this prompt."""
        for check in check_arrays(self.arrays):
            if check.hard and not check.ok:
                raise ValueError(check.detail)
        if self.seconds < MIN_SPEECH_SECONDS:
            raise ValueError(
                f"the prompt covers {self.seconds:.1f} s; Bark needs at least about {MIN_SPEECH_SECONDS:g} s"
            )

    def content_id(self) -> str:
        """A 16-hex-digit address of the prompt's values: each stream's shape and its int64 values in C order, so
        the same prompt has the same id whatever its memory layout, dtype or file."""
        digest = hashlib.sha256()
        for array in (self.semantic_tokens, self.coarse_codes, self.fine_codes):
            values = np.ascontiguousarray(array, dtype=np.int64)
            digest.update(repr(values.shape).encode("ascii") + values.tobytes())
        return digest.hexdigest()[:16]

    def npz_bytes(self) -> bytes:
        """The .npz file: exactly the three int64 arrays (transformers turns every entry into a tensor)."""
        return npz_bytes({key: np.asarray(value, dtype=np.int64) for key, value in self.arrays.items()})

    def save(self, path: Path, force: bool = False) -> None:
        """Validate, then write atomically; an existing file is kept unless ``force``."""
        self.validate()
        write_files_atomically({Path(path): self.npz_bytes()}, force=force)

    @classmethod
    def load(cls, path: Path | str) -> SpeakerPrompt:
        """Read and validate a prompt. Raises ``UserError`` for a file that is not a usable prompt."""
        arrays = read_prompt_arrays(path)
        prompt = cls(*(arrays[key] for key in KEYS))
        try:
            prompt.validate()
        except ValueError as error:
            raise UserError(f"{path}: {error}") from None
        return prompt


MAX_PROMPT_ENTRIES = 16  # a prompt holds 3 arrays; a few extra entries are tolerated (and warned about)
MAX_ENTRY_VALUES = N_FINE_CODEBOOKS * 3600 * 75  # an hour of fine codes: far more than Bark ever reads


def read_prompt_arrays(path: Path | str) -> dict[str, np.ndarray]:
    """The arrays of an .npz, read without unpickling anything and with each entry's size bounded by what its
    header declares; ``UserError`` if it is not a prompt file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such prompt file: {path}" if not path.exists() else f"{path} is a folder, not a prompt")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not an .npz file (a Bark prompt holds {', '.join(KEYS)})")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_PROMPT_ENTRIES:
                raise UserError(f"{path} holds {len(members)} entries; a Bark prompt holds {len(KEYS)}")
            arrays = {member.filename.removesuffix(".npy"): _read_entry(archive, member, path) for member in members}
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as error:
        raise UserError(f"{path} is truncated or damaged: {error}") from None
    missing = [key for key in KEYS if key not in arrays]
    if missing:
        raise UserError(f"{path} is not a Bark prompt: it lacks {', '.join(missing)}")
    return arrays


def _read_entry(archive: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path) -> np.ndarray:
    """One .npy entry: its header first, then exactly the bytes it declares (at most ``MAX_ENTRY_VALUES``)."""
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise UserError(f"{path}: entry {member.filename} uses .npy format {version}; prompts use 1.0 or 2.0")
        shape, fortran_order, dtype = readers[version](stream)
        if dtype.hasobject:
            raise UserError(f"{path} holds Python objects in {member.filename}; prompts are plain arrays, so it is "
                            "refused")
        count = math.prod(shape)
        if count > MAX_ENTRY_VALUES:
            raise UserError(f"{path}: entry {member.filename} declares {count} values; a prompt holds at most "
                            f"{MAX_ENTRY_VALUES}")
        data = stream.read(count * dtype.itemsize)
        if len(data) < count * dtype.itemsize:
            raise UserError(f"{path} is truncated: entry {member.filename} declares {count * dtype.itemsize} bytes "
                            f"but holds {len(data)}")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C").copy()


def _values_check(name: str, array: np.ndarray, rows: int | None, upper: int) -> Check:
    expected_ndim = 1 if rows is None else 2
    if array.ndim != expected_ndim:
        return Check(name, False, f"{name} must be {expected_ndim}-D, got shape {array.shape}")
    if rows is not None and array.shape[0] != rows:
        return Check(name, False, f"{name} must have {rows} rows (codebooks), got {array.shape[0]}")
    if array.size == 0:
        return Check(name, False, f"{name} is empty")
    if not np.issubdtype(array.dtype, np.integer):
        return Check(name, False, f"{name} must hold integers, got {array.dtype}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > upper:
        return Check(name, False, f"{name} values must lie in 0..{upper}, got {low}..{high}")
    return Check(name, True, f"shape {tuple(array.shape)}, {array.dtype}, values {low}..{high}")


def check_arrays(arrays: dict[str, np.ndarray]) -> list[Check]:
    """Every check Bark (suno's generate_* asserts) makes before generating, plus stream consistency and warnings."""
    semantic, coarse, fine = (np.asarray(arrays[key]) for key in KEYS)
    checks = [
        _values_check("semantic_prompt", semantic, None, SEMANTIC_VOCAB_SIZE - 1),
        _values_check("coarse_prompt", coarse, N_COARSE_CODEBOOKS, CODEBOOK_SIZE - 1),
        _values_check("fine_prompt", fine, N_FINE_CODEBOOKS, CODEBOOK_SIZE - 1),
    ]
    if not all(check.ok for check in checks):
        return checks
    return checks + _stream_checks(semantic, coarse, fine) + _format_warnings(arrays, fine.shape[1])


def _stream_checks(semantic: np.ndarray, coarse: np.ndarray, fine: np.ndarray) -> list[Check]:
    """Bark's ratio assert (hard), that coarse is fine[:2] (hard), and that the streams cover the same audio."""
    ratio = round(coarse.shape[1] / len(semantic), 1)
    same_codes = coarse.shape == fine[:N_COARSE_CODEBOOKS].shape and bool(np.array_equal(coarse, fine[:2]))
    expected = semantic_length_for_frames(fine.shape[1])
    return [
        Check("coarse/semantic ratio", ratio == BARK_COARSE_RATIO,
              f"round({coarse.shape[1]} / {len(semantic)}, 1) = {ratio}; Bark requires {BARK_COARSE_RATIO}"),
        Check("coarse == fine[:2]", same_codes,
              "the coarse codes are the fine codes' first two codebooks" if same_codes
              else "coarse_prompt is not fine_prompt[:2]: the two code streams describe different audio"),
        Check("same audio", abs(len(semantic) - expected) <= 1,
              f"{len(semantic)} semantic tokens for {fine.shape[1]} frames (round(T x 49.9 / 75) = {expected})",
              hard=False),
    ]


def _format_warnings(arrays: dict[str, np.ndarray], n_frames: int) -> list[Check]:
    """What Bark tolerates but transformers or the voice may not: dtypes, extra entries, a very short prompt."""
    wrong_types = [key for key in KEYS if np.asarray(arrays[key]).dtype != np.int64]
    extra = sorted(set(arrays) - set(KEYS))
    seconds = n_frames / CODEC_FRAME_RATE_HZ
    return [
        Check("int64", not wrong_types, "all int64" if not wrong_types
              else f"{', '.join(wrong_types)} not int64: transformers' Bark rejects uint16 and some other types",
              hard=False),
        Check("only prompt keys", not extra, "exactly the three prompt arrays" if not extra
              else f"extra entries {', '.join(extra)}: transformers turns every entry into a tensor", hard=False),
        Check("length", seconds >= MIN_SPEECH_SECONDS,
              f"covers {seconds:.2f} s" + ("" if seconds >= MIN_SPEECH_SECONDS else "; Bark needs at least about 1 s"),
              hard=False),
    ]


def coarse_history_lengths(n_semantic: int, n_flat: int) -> tuple[int, int]:
    """What the coarse model keeps of a prompt (``BarkCoarseModel.preprocess_histories``, suno's trim): its last
    semantic tokens (an even number, at most 630 flattened codes' worth) and the flattened coarse codes that cover
    them, before the last frame (2 codes) is dropped. The one place this arithmetic is written."""
    most = int(math.floor(BARK_MAX_COARSE_HISTORY / SEMANTIC_TO_COARSE_RATIO))  # 209
    kept = min(most, n_semantic - n_semantic % 2, int(math.floor(n_flat / SEMANTIC_TO_COARSE_RATIO)))
    return kept, int(round(kept * SEMANTIC_TO_COARSE_RATIO))


def bark_usage(n_semantic: int, n_frames: int) -> dict[str, Any]:
    """How much of a prompt Bark's three models actually read (the rest is ignored), in tokens, frames and seconds."""
    coarse_semantic, coarse_flat = coarse_history_lengths(n_semantic, n_frames * N_COARSE_CODEBOOKS)
    coarse_flat = max(coarse_flat - N_COARSE_CODEBOOKS, 0)  # Bark drops the last frame for alignment
    text_tokens = min(n_semantic, BARK_SEMANTIC_HISTORY)
    fine_frames = min(n_frames, BARK_FINE_HISTORY_FRAMES)
    return {
        "text_model_semantic_tokens": text_tokens,
        "text_model_seconds": round(text_tokens / SEMANTIC_RATE_HZ, 2),
        "coarse_model_semantic_tokens": coarse_semantic,
        "coarse_model_frames": coarse_flat // N_COARSE_CODEBOOKS,
        "coarse_model_seconds": round(coarse_flat / N_COARSE_CODEBOOKS / CODEC_FRAME_RATE_HZ, 2),
        "fine_model_frames": fine_frames,
        "fine_model_seconds": round(fine_frames / CODEC_FRAME_RATE_HZ, 2),
    }
