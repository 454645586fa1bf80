"""The speaker-consistency guard: is a generated chunk in the speaker's voice, and does it show one of Bark's known
failures (cut off before end-of-speech, mostly silence, a duration implausible for its text)?"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..audio.sound import check_audio_header, read_segment, resample
from ..audio.speech import speech_probabilities, speech_segments
from ..constants import CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE, MAX_REFERENCE_SECONDS, MAX_SIDECAR_BYTES
from ..errors import UserError
from ..files import file_sha256, read_json_file
from .chunking import speaking_rate

# Measured with the GE2E encoder against ARCTIC a0007 (scripts/guard_threshold.py): 2 s pieces of the same speaker
# score 0.90-0.93, one espeak-ng voice across different texts 0.81-0.92, other voices 0.45-0.62 (KVoiceWalk's
# nearest stock voice to its target: 0.71). DEFAULT_MIN_SIMILARITY (0.75) sits in the gap between them.
MIN_SPEECH_FRACTION = 0.3  # below this share of speech (VAD), a chunk is "mostly silence"
DURATION_SLACK = 2.5  # speech lasting under 1/2.5 or over 2.5 times the language's estimate is implausible
DURATION_ALLOWANCE_SECONDS = 1.0  # short texts vary most: this much more is always allowed
BROKEN = ("cut-off", "silence", "duration")
EMBEDDING_SIZE = 256  # GE2E's speaker embedding  # Bark's failures that break a chunk whoever speaks it


@dataclass
class Reference:
    """What the chunks are compared with: a (256,) unit embedding, and where it came from."""

    embedding: np.ndarray
    kind: str  # "recording" (the sidecar's source window) or "prompt decode" (Bark's codec)
    detail: str = ""


@dataclass(frozen=True)
class RecordingWindow:
    """Seconds [start, end) of the recording a prompt was made from, as its sidecar names them (checked)."""

    path: Path
    start: float
    end: float

    def samples(self) -> np.ndarray:
        """(n,) float32 at 16 kHz: only these seconds are decoded."""
        samples, rate = read_segment(self.path, self.start, self.end, MAX_REFERENCE_SECONDS)
        return resample(samples, rate, HUBERT_SAMPLE_RATE)

    @property
    def detail(self) -> str:
        return f"{self.path.name} {self.start:.2f}-{self.end:.2f} s"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _window_in(document: Any) -> tuple[str, float, float, str] | None:
    """(source, start, end, sha256) from a sidecar's data; None when it names no window (a stock voice's search
    result, a bare prompt); ``ValueError`` saying what is wrong when what it names is not of the right kind."""
    if not isinstance(document, dict) or "window" not in document:
        return None
    window, selection, sources = document["window"], document.get("selection"), document.get("sources")
    if not (isinstance(window, list) and len(window) == 2 and all(map(_number, window))):
        raise ValueError("its window is not two finite numbers of seconds")
    start, end = float(window[0]), float(window[1])
    if not 0 <= start < end or end - start > MAX_REFERENCE_SECONDS:
        raise ValueError(f"its window {start:g}-{end:g} s is not 0 <= start < end, at most "
                         f"{MAX_REFERENCE_SECONDS:g} s long")
    if not (isinstance(selection, dict) and isinstance(selection.get("source"), str) and isinstance(sources, list)):
        raise ValueError("it names no source recording (selection.source, sources)")
    recorded = [item for item in sources if isinstance(item, dict) and item.get("path") == selection["source"]]
    if not recorded or not isinstance(recorded[0].get("sha256"), str):
        raise ValueError("its sources do not give the source recording's sha256")
    return selection["source"], start, end, recorded[0]["sha256"]


def sidecar_window(sidecar_path: Path | str, warn: Callable[[str], None] | None = None) -> RecordingWindow | None:
    """The recording window a prompt's sidecar names, for the guard's reference: None when there is no sidecar, it
    names no window, or its recording has changed or gone. A sidecar that is not valid data (unreadable, not a
    regular file, over 1 MB, wrong types, a window out of range, a source that is not audio) is also None, with
    one line to ``warn`` (default: ``warnings.warn``). Everything is checked here, before any model loads."""
    path = Path(sidecar_path)
    if not path.exists() and not path.is_symlink():
        return None
    problem, found, document = None, None, read_json_file(path, MAX_SIDECAR_BYTES)
    if document is None:
        problem = f"it is not a regular JSON file of at most {MAX_SIDECAR_BYTES // 1024} KB"
    else:
        try:
            found = _window_in(document)
        except ValueError as error:
            problem = str(error)
    if found is not None:
        source, start, end, sha256 = found
        recording = Path(source)
        if not recording.is_file() or file_sha256(recording) != sha256:
            return None  # the recording moved or changed: the prompt's own decode is the reference
        try:
            if end > check_audio_header(recording):
                raise UserError(f"the window ends after the recording ({end:g} s)")
            return RecordingWindow(recording, start, end)
        except UserError as error:
            problem = f"its source recording cannot be used ({error})"
    if problem is not None:
        (warn or warnings.warn)(f"{path}: {problem}; the guard compares with the prompt's own decode instead")
    return None


def sidecar_reference(sidecar_path: Path | str, warn: Callable[[str], None] | None = None
                      ) -> Reference | RecordingWindow | None:
    """What a prompt's sidecar offers the guard: the embedding make-speaker stored of the window (the same for
    ``speak`` and the server, whose upload is gone), else the recording window it names (``sidecar_window``)."""
    window = sidecar_window(sidecar_path, warn)  # the whole sidecar checked (and warned about) either way
    document = read_json_file(sidecar_path, MAX_SIDECAR_BYTES) if Path(sidecar_path).is_file() else None
    if not isinstance(document, dict) or "reference_embedding" not in document:
        return window
    stored = document["reference_embedding"]
    if isinstance(stored, list) and len(stored) == EMBEDDING_SIZE and all(
            isinstance(value, (int, float)) and not isinstance(value, bool) for value in stored):
        embedding = np.asarray(stored, dtype=np.float32)
        norm = float(np.linalg.norm(embedding))
        if np.isfinite(embedding).all() and abs(norm - 1) < 0.01:
            return Reference(embedding / norm, "recording", "the sidecar's embedding of its window")
    (warn or warnings.warn)(f"{Path(sidecar_path).name}: its reference_embedding is not {EMBEDDING_SIZE} finite "
                            "numbers of unit length; the guard compares with the recording or the prompt instead")
    return window


def reference_for(prompt, encoder, bark=None, window: RecordingWindow | Reference | None = None) -> Reference:
    """The speaker's reference: a stored one (``sidecar_reference``), the recording ``window`` (see
    ``sidecar_window``), or else the prompt decoded by Bark's decoder, as its chunks are (``bark`` required then)."""
    from ..audio.speaker_encoder import embed

    if isinstance(window, Reference):
        return window
    if window is not None:
        return Reference(embed(encoder, window.samples()), "recording", window.detail)
    (audio,) = bark.decode([prompt.fine_codes])
    return Reference(embed(encoder, resample(audio, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)), "prompt decode",
                     f"{prompt.seconds:.2f} s of codes")


@dataclass
class Attempt:
    """One try at a chunk: its audio (24 kHz, trimmed to the speech), what the guard found, and the seed."""

    audio: np.ndarray
    seed: int
    similarity: float
    flags: list[str] = field(default_factory=list)
    generation: Any = None
    transcript: str | None = None  # what the recognizer heard (None: no words check)
    wer: float | None = None  # its error rate against the chunk's text (None: not checked, or only cues)

    @property
    def passed(self) -> bool:
        return not self.flags

    def rank(self) -> tuple[int, float, float]:
        """Best first (the README's rule): fewer broken-chunk failures (cut off, silence, implausible duration);
        then on script before off script, and among off-script tries the lower error rate; then the higher speaker
        similarity. A try that passes everything always ranks first."""
        broken = sum(flag in BROKEN for flag in self.flags)
        words = -(self.wer or 0.0) if "off-script" in self.flags else 0.0
        return (-broken, words, self.similarity)

    def described(self) -> dict[str, Any]:
        """This try for the report."""
        return {"seed": self.seed, "similarity": round(self.similarity, 4), "flags": list(self.flags),
                "transcript": self.transcript, "wer": None if self.wer is None else round(self.wer, 4)}


def speech_span(audio_24k: np.ndarray, vad) -> tuple[float, float, float]:
    """(first speech second, last speech second, seconds of speech) by the VAD; (0, 0, 0) for no speech."""
    samples = resample(audio_24k, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)
    if len(samples) == 0:
        return 0.0, 0.0, 0.0
    segments = speech_segments(speech_probabilities(vad, samples), len(samples))
    if not segments:
        return 0.0, 0.0, 0.0
    return segments[0].start, segments[-1].end, sum(segment.duration for segment in segments)


def failure_flags(text: str, language: str, seconds: float, speech_seconds: float, ended: bool) -> list[str]:
    """Bark's known failures, from the chunk's text and its (untrimmed) audio."""
    flags = []
    if not ended:
        flags.append("cut-off")
    if seconds <= 0 or speech_seconds < MIN_SPEECH_FRACTION * seconds:
        flags.append("silence")
    expected = len(text.strip()) / speaking_rate(language)
    if speech_seconds > 0 and not (expected / DURATION_SLACK - DURATION_ALLOWANCE_SECONDS <= speech_seconds
                                   <= expected * DURATION_SLACK + DURATION_ALLOWANCE_SECONDS):
        flags.append("duration")
    return flags


@dataclass(frozen=True)
class WordsCheck:
    """The words check: a recognizer (anything with ``transcribe(audio_16k, language, text)``) and the highest
    error rate a chunk may have."""

    recognizer: Any
    max_wer: float

    def __call__(self, clip_16k: np.ndarray, text: str, language: str) -> tuple[str, float | None]:
        from .words import error_rate

        transcript = self.recognizer.transcribe(clip_16k, language, text.strip()).strip()
        return transcript, error_rate(text, transcript, language)


def judge(generation, text: str, language: str, seed: int, reference: Reference, encoder, vad,
          min_similarity: float, trim_pad: float = 0.1, words: WordsCheck | None = None) -> Attempt:
    """One generated chunk judged: trimmed to its speech (plus ``trim_pad`` s), compared with the reference, its
    words (``words``) compared with ``text``, and flagged for a wrong voice, wrong words or one of Bark's failures."""
    from ..audio.speaker_encoder import embed

    audio = np.asarray(generation.audio, dtype=np.float32)
    start, end, speech = speech_span(audio, vad)
    if speech > 0:
        first = max(0, int((start - trim_pad) * CODEC_SAMPLE_RATE))
        audio = audio[first: int((end + trim_pad) * CODEC_SAMPLE_RATE)]
    clip = resample(audio, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)
    similarity = float(embed(encoder, clip) @ reference.embedding) if len(clip) else 0.0
    flags = failure_flags(text, language, len(generation.audio) / CODEC_SAMPLE_RATE, speech,
                          bool(getattr(generation, "ended", True)))
    transcript, wer = words(clip, text, language) if words is not None else (None, None)
    if wer is not None and wer > words.max_wer:
        flags.insert(0, "off-script")
    if similarity < min_similarity:
        flags.insert(0, "off-voice")
    return Attempt(audio, seed, similarity, flags, generation, transcript, wer)
