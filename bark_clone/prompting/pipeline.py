"""make-speaker: a recording in, a window of it chosen, HuBERT tokens and EnCodec codes of that same audio out."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.sound import MAX_RECORDING_SECONDS, Audio, load_audio, normalize_level, read_segment, resample
from ..audio.speaker_encoder import embed, load_voice_encoder
from ..audio.speech import Segment, load_vad, require_speech, speech_probabilities, speech_seconds, speech_segments
from ..constants import (
    CODEC_BANDWIDTH_KBPS,
    CODEC_FRAME_RATE_HZ,
    CODEC_HOP_LENGTH,
    CODEC_SAMPLE_RATE,
    DEFAULT_ENCODEC,
    DEFAULT_HUBERT,
    DEFAULT_MAX_SECONDS,
    DEFAULT_QUANTIZER,
    HUBERT_FRAME_RATE_HZ,
    HUBERT_SAMPLE_RATE,
    MIN_SPEECH_SECONDS,
    SEMANTIC_RATE_HZ,
    VERSION,
    semantic_length_for_frames,
)
from ..errors import UserError
from ..files import file_sha256, json_bytes, write_files_atomically
from ..models.codecs import encodec_encode, hubert_features, load_encodec, load_hubert
from ..models.loading import Loaded, resolve_device
from .format import SpeakerPrompt, bark_usage
from .quantizers import Quantizer, load_quantizer
from .selection import Candidate, profile_recording, rank_windows


@dataclass
class Models:
    """Everything make-speaker runs, loaded once per process and passed explicitly."""

    hubert: Loaded
    encodec: Loaded
    quantizer: Quantizer
    vad: Any
    voice: Any  # Resemblyzer's speaker encoder, for window selection


def load_models(
    hubert: str = DEFAULT_HUBERT, encodec: str = DEFAULT_ENCODEC, quantizer: str = DEFAULT_QUANTIZER,
    device: str = "auto",
) -> Models:
    """Load HuBERT, the quantizer (checked against HuBERT's width), EnCodec, the VAD and the speaker encoder."""
    resolved = resolve_device(device)
    hubert_model = load_hubert(hubert, resolved)
    quantizer_model = load_quantizer(quantizer, hubert_model.model.config.hidden_size, resolved)
    return Models(hubert_model, load_encodec(encodec, resolved), quantizer_model, load_vad(),
                  load_voice_encoder(resolved))


@dataclass
class Recording:
    """A decoded recording: its 16 kHz copy (``audio``), and where its speech is."""

    audio: Audio
    segments: list[Segment]
    speech_probabilities: np.ndarray
    sha256: str = ""
    label: str = ""  # how the sidecar and messages name it: the resolved path, or a client's file name

    @property
    def samples_16k(self) -> np.ndarray:
        return self.audio.samples

    @property
    def speech_seconds(self) -> float:
        return speech_seconds(self.segments)

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.label,
            "sha256": self.sha256,
            "seconds": round(self.audio.duration, 3),
            "sample_rate": self.audio.source_rate,
            "channels": self.audio.channels,
            "speech_seconds": round(self.speech_seconds, 2),
        }


def analyse(path: Path | str, vad, label: str | None = None,
            max_seconds: float = MAX_RECORDING_SECONDS) -> Recording:
    """Decode and check a recording straight to 16 kHz, and find its speech (at least about 1 s).

    ``label`` names the recording in the sidecar (default: its resolved path). A recording over ``max_seconds``
    is refused (``RecordingTooLong``) before it is decoded, or as soon as decoding passes the limit.
    """
    audio = load_audio(path, HUBERT_SAMPLE_RATE, max_seconds)
    probabilities = speech_probabilities(vad, audio.samples)
    segments = speech_segments(probabilities, len(audio.samples))
    label = label or str(Path(path).resolve())
    require_speech(segments, label)
    return Recording(audio, segments, probabilities, file_sha256(Path(path)), label)


@dataclass
class WindowAudio:
    """The prompt's audio: the same seconds at 16 kHz (HuBERT) and 24 kHz (EnCodec), n_frames x 1/75 s long."""

    start: float
    end: float
    n_frames: int
    samples_16k: np.ndarray
    samples_24k: np.ndarray
    normalized: bool = False
    gain_db: float = 0.0


def cut_window(recording: Recording, start: float, end: float, normalize: bool = True) -> WindowAudio:
    """Cut [start, end) seconds, shortened to a whole number of codec frames, and level it if ``normalize``."""
    audio = recording.audio
    if start < 0 or end > audio.duration + 1e-6 or end <= start:
        raise UserError(
            f"window {start:.2f}:{end:.2f} s lies outside {audio.source} (0:{audio.duration:.2f} s)"
        )
    n_frames = int((end - start) * CODEC_FRAME_RATE_HZ + 1e-6)
    if n_frames / CODEC_FRAME_RATE_HZ < MIN_SPEECH_SECONDS:
        raise UserError(
            f"the window {start:.2f}:{end:.2f} s covers {end - start:.1f} s; Bark needs at least about "
            f"{MIN_SPEECH_SECONDS:g} s"
        )
    end = start + n_frames / CODEC_FRAME_RATE_HZ
    original, rate = read_segment(audio.source, start, end)  # EnCodec gets the file's own samples, not the 16 kHz copy
    samples_24k = _fit(resample(original, rate, CODEC_SAMPLE_RATE), n_frames * CODEC_HOP_LENGTH)
    first_16k = round(start * HUBERT_SAMPLE_RATE)
    n_16k = round(n_frames * CODEC_HOP_LENGTH * HUBERT_SAMPLE_RATE / CODEC_SAMPLE_RATE)
    samples_16k = _fit(recording.samples_16k[first_16k : first_16k + n_16k], n_16k)
    gain_db = 0.0
    if normalize:
        mask = np.zeros(n_16k, dtype=bool)
        for segment in recording.segments:
            if segment.end > start and segment.start < end:
                mask[max(0, round((segment.start - start) * HUBERT_SAMPLE_RATE)):
                     round((segment.end - start) * HUBERT_SAMPLE_RATE)] = True
        samples_16k, gain_db = normalize_level(samples_16k, mask)
        samples_24k = (samples_24k * 10 ** (gain_db / 20)).astype(np.float32)
    return WindowAudio(start, end, n_frames, samples_16k, samples_24k, normalize, gain_db)


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    if len(samples) >= length:
        return np.ascontiguousarray(samples[:length], dtype=np.float32)
    return np.pad(samples, (0, length - len(samples))).astype(np.float32)


def prompt_from_window(window: WindowAudio, models: Models) -> SpeakerPrompt:
    """HuBERT layer-9 features -> quantizer tokens (read by time at 49.9 Hz) and 8 EnCodec codebooks (75 Hz)."""
    import torch

    from quantizer.models import predict_tokens

    features = hubert_features(models.hubert, window.samples_16k)
    n_tokens = semantic_length_for_frames(window.n_frames)
    tokens = predict_tokens(
        models.quantizer.model, torch.from_numpy(features), n_tokens, SEMANTIC_RATE_HZ, HUBERT_FRAME_RATE_HZ
    )
    codes = encodec_encode(models.encodec, window.samples_24k)
    prompt = SpeakerPrompt.from_streams(tokens, codes)
    try:
        prompt.validate()
    except ValueError as error:
        raise UserError(f"the prompt from {window.start:.2f}:{window.end:.2f} s is unusable: {error}") from None
    return prompt


@dataclass
class Speaker:
    """A finished prompt and its sidecar (what went in, which window, which models)."""

    prompt: SpeakerPrompt
    sidecar: dict[str, Any] = field(default_factory=dict)

    def write(self, npz_path: Path, force: bool = False) -> None:
        """Write ``<name>.npz`` and ``<name>.json`` atomically; neither is written if either exists (no ``force``)."""
        npz_path = Path(npz_path)
        write_files_atomically(
            {npz_path: self.prompt.npz_bytes(), npz_path.with_suffix(".json"): json_bytes(self.sidecar)}, force
        )


def choose_windows(recordings: list[Recording], voice_encoder, max_seconds: float,
                   window: tuple[float, float] | None = None, count: int = 1) -> list[Candidate]:
    """The ``count`` best scored windows over all ``recordings`` (one speaker), or exactly ``window``."""
    if window is not None:
        if len(recordings) > 1:
            raise UserError("--window names seconds of one recording; it cannot be combined with several inputs")
        return [Candidate(0, *window, score=float("nan"))]
    profiles = [profile_recording(r.samples_16k, r.audio.clipped, r.speech_probabilities, r.segments, voice_encoder)
                for r in recordings]
    return rank_windows(profiles, max_seconds, [r.label for r in recordings])[:count]


def make_speakers(
    recordings: list[Recording],
    models: Models,
    max_seconds: float,
    normalize: bool = True,
    window: tuple[float, float] | None = None,
    candidates: int = 1,
) -> list[Speaker]:
    """One speaker from one analysed recording, or from several (``--combine``): the best ``candidates`` prompts,
    best first. The windows are scored (see ``selection``) unless ``window`` fixes one.
    """
    if max_seconds < MIN_SPEECH_SECONDS:
        raise UserError(f"--max-seconds must be at least {MIN_SPEECH_SECONDS:g}")
    chosen = choose_windows(recordings, models.voice, max_seconds, window, candidates)
    alternatives = [candidate.describe() for candidate in chosen[:5]]
    speakers = []
    for rank, candidate in enumerate(chosen, 1):
        recording = recordings[candidate.source]
        cut = cut_window(recording, candidate.start, candidate.end, normalize)
        selection = {"method": "manual"} if window is not None else {
            "method": "scored", "rank": rank, "score": round(candidate.score, 4),
            "scores": candidate.describe()["scores"], "top": alternatives}
        selection["source"] = recording.label
        prompt = prompt_from_window(cut, models)
        speakers.append(Speaker(prompt, sidecar(prompt, recordings, recording, cut, models, selection)))
    return speakers


def make_speaker(recordings: Path | str | list[Path | str], models: Models,
                 max_seconds: float = DEFAULT_MAX_SECONDS, normalize: bool = True,
                 window: tuple[float, float] | None = None) -> Speaker:
    """A recording (wav, flac, ogg, mp3), or several of one speaker, in; its best speaker prompt out.

    ``speaker.prompt`` is the ``SpeakerPrompt`` (write it with ``speaker.write("me.npz")``); ``speaker.sidecar`` says
    which seconds were chosen and why. ``window`` = (start, end) seconds of a single recording skips the choice.
    """
    paths = [recordings] if isinstance(recordings, (str, Path)) else list(recordings)
    return make_speakers([analyse(path, models.vad) for path in paths], models, max_seconds, normalize, window)[0]


def sidecar(prompt: SpeakerPrompt, recordings: list[Recording], chosen: Recording, cut: WindowAudio, models: Models,
            selection: dict[str, Any]) -> dict[str, Any]:
    """The ``<name>.json`` written beside the prompt; ``window`` is in the seconds of ``selection["source"]``."""
    n_tokens, n_frames = len(prompt.semantic_tokens), prompt.fine_codes.shape[1]
    return {
        "tool": {"name": "bark-clone", "version": VERSION},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "sources": [recording.describe() for recording in recordings],
        "window": [round(cut.start, 4), round(cut.end, 4)],
        "selection": selection,
        "durations": {
            "source_seconds": round(sum(r.audio.duration for r in recordings), 3),
            "source_speech_seconds": round(sum(r.speech_seconds for r in recordings), 2),
            "prompt_seconds": round(cut.end - cut.start, 3),
            "prompt_speech_seconds": round(speech_seconds(chosen.segments, cut.start, cut.end), 2),
        },
        "prompt": {
            "semantic_tokens": n_tokens,
            "codec_frames": n_frames,
            "semantic_rate_hz": SEMANTIC_RATE_HZ,
            "codec_frame_rate_hz": CODEC_FRAME_RATE_HZ,
            "bark_reads": bark_usage(n_tokens, n_frames),
        },
        "level": {"normalized": cut.normalized, "gain_db": round(cut.gain_db, 2)},
        # the guard's reference, the same wherever the prompt is spoken (speak, the server: its upload is gone)
        "reference_embedding": [round(float(value), 6) for value in embed(models.voice, cut.samples_16k)],
        "models": {
            "hubert": {**models.hubert.describe(), "layer": models.hubert.model.layer},
            "encodec": {**models.encodec.describe(), "bandwidth_kbps": CODEC_BANDWIDTH_KBPS},
            "quantizer": models.quantizer.describe(),
        },
    }
