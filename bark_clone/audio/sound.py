"""Audio in and out: read anything libsndfile reads, check it, downmix, resample with soxr, normalise, write WAV."""

from __future__ import annotations

import errno
import math
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

SILENCE_PEAK = 1e-4  # -80 dBFS: below this a recording is digital silence
TARGET_RMS_DBFS = -20.0  # speech level after normalisation, about LibriSpeech's, which HuBERT was trained on
PEAK_CEILING_DBFS = -1.0  # normalisation never pushes a peak above this
TRUNCATION_TOLERANCE = 0.95  # compressed formats only estimate their length; below 95 % of it, the file is cut


CLIP_LEVEL = 0.999  # a sample this close to full scale is clipped
CLIP_FRAME_SECONDS = 0.032  # clipping is counted per 32 ms (the VAD's frames)
STREAM_BLOCK_SECONDS = 30.0  # audio is decoded, checked and resampled this much at a time: memory stays flat
MIN_SOURCE_RATE = 4_000  # Hz; below this no speech survives, and a tiny file would resample to gigabytes
MAX_SOURCE_RATE = 384_000  # Hz; the highest rate audio interfaces record at
MAX_CHANNELS = 64  # the most an audio interface records at once; each 30 s block is read for all of them
MAX_RECORDING_SECONDS = 3 * 3600.0  # the CLI's bound: 3 h is about 700 MB at 16 kHz; the server sets its own


class RecordingTooLong(UserError):
    """A recording longer than the caller allows (the server answers 413): ``seconds`` is its declared length, or
    (``exact`` False) how much of it was read before decoding stopped."""

    def __init__(self, message: str, seconds: float, limit: float, exact: bool = True) -> None:
        super().__init__(message)
        self.seconds, self.limit, self.exact = seconds, limit, exact


@dataclass(frozen=True)
class Audio:
    """Mono audio: ``samples`` is (n,) float32 in [-1, 1] at ``sample_rate`` Hz.

    ``source_rate`` and ``channels`` describe the file; ``clipped`` (ceil(seconds / 0.032),) is the share of the
    file's samples at full scale in each 32 ms.
    """

    samples: np.ndarray
    sample_rate: int
    source: str = ""
    channels: int = 1
    source_rate: int = 0
    clipped: np.ndarray | None = None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


def _open(path: Path):
    import soundfile

    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UserError(f"{path} is a loop of symbolic links, not a file") from None
        raise UserError(f"{path} is a symbolic link to a missing file" if path.is_symlink() else
                        f"no such file: {path}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f"{path} is a folder, not an audio file")
    if not stat.S_ISREG(info.st_mode):  # never opened: a FIFO would block, /dev/zero never ends
        raise UserError(f"{path} is not a regular file (a device, a pipe or a socket); give an audio file")
    if info.st_size == 0:
        raise UserError(f"{path} is empty")
    try:
        return soundfile.SoundFile(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise _unreadable(path, error) from None


def _unreadable(path: Path, error: Exception) -> UserError:
    kind = "truncated or corrupt" if _looks_like_audio(path) else "not an audio file soundfile can read"
    return UserError(f"{path} is {kind} (wav, flac, ogg and mp3 work): {error}")


def _check_header(path: Path, rate: int, declared_frames: int, max_seconds: float, channels: int = 1) -> None:
    """Refuse before decoding anything: an absurd sample rate or channel count, or a declared length over
    ``max_seconds``."""
    if not 1 <= channels <= MAX_CHANNELS:
        raise UserError(f"{path} declares {channels} channels; recordings have 1 to {MAX_CHANNELS}")
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise UserError(f"{path} declares a sample rate of {rate} Hz; recordings must lie between "
                        f"{MIN_SOURCE_RATE} and {MAX_SOURCE_RATE} Hz")
    if declared_frames / rate > max_seconds:
        raise RecordingTooLong(f"{path} lasts {declared_frames / rate:.0f} s; at most {max_seconds:.0f} s are taken",
                               declared_frames / rate, max_seconds)


def check_audio_header(path: Path | str, max_seconds: float = MAX_RECORDING_SECONDS) -> float:
    """Open a recording and check its header only (no decoding): a readable format, a sample rate within
    4-384 kHz and a declared length within ``max_seconds``. Returns the declared seconds."""
    path = Path(path)
    with _open(path) as handle:
        _check_header(path, int(handle.samplerate), int(handle.frames), max_seconds, int(handle.channels))
        return int(handle.frames) / int(handle.samplerate)


def load_audio(path: Path | str, sample_rate: int | None = None,
               max_seconds: float = MAX_RECORDING_SECONDS) -> Audio:
    """Read a recording (wav, flac, ogg, mp3, ...), downmix it to mono, check it, resample it to ``sample_rate``.

    The header's rate and length are checked before any decoding, and decoding stops once ``max_seconds`` have been
    read (a header may lie), so the work is bounded by what the caller allows. The file is decoded in 30 s blocks,
    each downmixed and resampled (soxr) as it comes, so a long recording never sits in memory at its own rate.
    Returns (n,) float32 at ``sample_rate`` (default: the file's own). Raises ``UserError`` for a missing, empty,
    non-audio, truncated, non-finite or silent file, and ``RecordingTooLong`` past ``max_seconds``.
    """
    import soundfile
    import soxr

    path = Path(path)
    with _open(path) as handle:
        rate, channels, declared = int(handle.samplerate), int(handle.channels), int(handle.frames)
        _check_header(path, rate, declared, max_seconds, channels)
        target = sample_rate or rate
        stream = soxr.ResampleStream(rate, target, 1, dtype="float32", quality="HQ") if target != rate else None
        pieces, clipped, peak, raw_peak, n_read = [], [], 0.0, 0.0, 0
        per_frame = CLIP_FRAME_SECONDS * rate
        block_frames = int(STREAM_BLOCK_SECONDS * rate / max(1, channels // 2))  # memory as for a stereo file
        try:
            while len(block := handle.read(block_frames, dtype="float32", always_2d=True)):
                if not np.isfinite(block).all():
                    raise UserError(f"{path} contains NaN or infinite samples")
                mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)
                peak = max(peak, float(np.abs(mono).max()))
                raw_peak = max(raw_peak, float(np.abs(block).max()))
                hits = np.flatnonzero(np.abs(block).max(axis=1) >= CLIP_LEVEL) + n_read
                clipped.append((hits / per_frame).astype(np.int64))
                n_read += len(block)
                if n_read > max_seconds * rate:
                    raise RecordingTooLong(f"{path} lasts over {max_seconds:.0f} s; at most {max_seconds:.0f} s are "
                                           "taken", n_read / rate, max_seconds, exact=False)
                pieces.append(stream.resample_chunk(mono) if stream is not None else mono)
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise _unreadable(path, error) from None
        if stream is not None:
            pieces.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    if n_read == 0:
        raise UserError(f"{path} holds no audio samples")
    _check_complete(path, declared, rate, n_read)
    if peak < SILENCE_PEAK:
        raise UserError(f"{path}: its {channels} channels cancel out when mixed to mono; give one channel of it"
                        if raw_peak >= SILENCE_PEAK else f"{path} is digital silence: there is nothing to clone")
    counts = np.bincount(np.concatenate(clipped), minlength=int(np.ceil(n_read / per_frame)))
    return Audio(np.concatenate(pieces), target, str(path), channels, rate, (counts / per_frame).astype(np.float32))


def read_segment(path: Path | str, start: float, end: float,
                 max_seconds: float = MAX_RECORDING_SECONDS) -> tuple[np.ndarray, int]:
    """[start, end) seconds of a file, downmixed: ((n,) float32 at the file's rate, that rate). The header is checked
    as ``load_audio`` checks it, the span must be finite and at most ``max_seconds``, and it seeks, so only these
    seconds (and none past the declared end) are decoded."""
    import soundfile

    path = Path(path)
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end and end - start <= max_seconds):
        raise UserError(f"{path}: the span {start:g}-{end:g} s is not 0 <= start < end, at most {max_seconds:g} s")
    with _open(path) as handle:
        rate, declared = int(handle.samplerate), int(handle.frames)
        _check_header(path, rate, 0, max_seconds)  # the rate: the span, not the whole file, bounds the reading
        first, last = min(round(start * rate), declared), min(round(end * rate), declared)
        try:
            handle.seek(first)
            block = handle.read(last - first, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise _unreadable(path, error) from None
    return block.mean(axis=1, dtype=np.float64).astype(np.float32), rate


def _looks_like_audio(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(12)
    return head[:4] in (b"RIFF", b"RF64", b"fLaC", b"OggS", b"FORM", b"ID3\x03", b"ID3\x04") or head[:2] == b"\xff\xfb"


def _check_complete(path: Path, declared_frames: int, rate: int, n_read: int) -> None:
    """Detect a cut-off file: libsndfile silently returns what is there."""
    declared = _wav_declared_data_bytes(path)
    if declared is not None:
        data_bytes, available = declared
        if data_bytes > available:
            raise UserError(
                f"{path} is truncated: its header promises {data_bytes} bytes of audio but the file holds {available}"
            )
    elif declared_frames > 0 and n_read < TRUNCATION_TOLERANCE * declared_frames:
        raise UserError(
            f"{path} is truncated: it should last {declared_frames / rate:.2f} s "
            f"but only {n_read / rate:.2f} s could be decoded"
        )


def _wav_declared_data_bytes(path: Path) -> tuple[int, int] | None:
    """For a RIFF/WAVE file: (bytes its data chunk declares, bytes actually present). None for other formats."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):  # streaming writers leave the size open
                    return None
                return chunk_size, size - position - 8
            position += 8 + chunk_size + (chunk_size & 1)
    return None


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample (n,) float32 audio with soxr's high-quality filter; returns (round(n * to / from),) float32."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def normalize_level(samples: np.ndarray, speech_mask: np.ndarray | None = None,
                    target_dbfs: float = TARGET_RMS_DBFS) -> tuple[np.ndarray, float]:
    """Scale speech to ``target_dbfs`` RMS (default -20 dBFS), never letting a peak exceed -1 dBFS.

    ``speech_mask`` (n,) bool marks the samples whose level counts (silence should not drag the RMS down).
    Returns the scaled (n,) float32 samples and the gain applied, in dB.
    """
    active = samples[speech_mask] if speech_mask is not None and speech_mask.any() else samples
    rms = float(np.sqrt(np.mean(np.square(active, dtype=np.float64))))
    peak = float(np.abs(samples).max())
    if rms <= 0 or peak <= 0:
        return samples, 0.0
    gain = min(10 ** (target_dbfs / 20) / rms, 10 ** (PEAK_CEILING_DBFS / 20) / peak)
    return (samples * gain).astype(np.float32), 20 * float(np.log10(gain))


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Encode (n,) float audio as 16-bit PCM WAV bytes."""
    return encoded_audio(samples, sample_rate, ".wav")


def encoded_audio(samples: np.ndarray, sample_rate: int, suffix: str) -> bytes:
    """(n,) float audio encoded for a file ending in ``suffix`` (``formats``: .wav, .flac, .mp3, .opus, .ogg, .pcm)."""
    from .formats import encode, format_for_suffix

    return encode(samples, sample_rate, format_for_suffix(suffix))
