"""Consent checked, not just stored: the consent recording must not share audio with the sample (a consent cut from
the sample itself proves nothing: ``audio.overlap``), its speaker must be the sample's (GE2E similarity against the
guard's measured threshold), and it must say the consent statement for its language, heard by a recognizer (the
words check's error rate) unless the caller explicitly goes without. What was checked is returned for the speaker's
metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..constants import DEFAULT_MIN_SIMILARITY, HUBERT_SAMPLE_RATE
from ..errors import UserError

CONSENT_STATEMENTS = {  # what a consent recording says, by language (the first part of a BCP 47 tag)
    "en": "I am the owner of this voice and I consent to it being used to create a synthetic voice.",
}
CONSENT_MAX_WER = 0.4  # looser than a chunk's 0.25: people paraphrase a little, and the recognizer hears real rooms
CONSENT_MAX_SECONDS = 60.0  # a consent statement takes about 5 s


WITHOUT_WORDS = "not checked: the voice was made without the words check (--consent-without-words)"
MIN_CONSENT_SECONDS = 1.0


class ConsentRefused(UserError):
    """A consent that does not hold: the message says which check failed."""


def check_consent_recording(path: Path, max_seconds: float = CONSENT_MAX_SECONDS) -> float:
    """A consent recording as it arrives: decodable, complete, at most ``max_seconds``, not silent, at least a
    second long (``UserError`` naming what is wrong). Returns its seconds."""
    from ..audio.sound import load_audio

    audio = load_audio(path, HUBERT_SAMPLE_RATE, max_seconds)
    seconds = len(audio.samples) / HUBERT_SAMPLE_RATE
    if seconds < MIN_CONSENT_SECONDS:
        raise ConsentRefused(f"the consent recording lasts {seconds:.1f} s; saying the consent statement takes "
                             "several seconds")
    return seconds


def statement_for(language: str) -> str | None:
    """The consent statement for a BCP 47 tag (``en-US`` -> English), or None where none is written yet."""
    return CONSENT_STATEMENTS.get(language.split("-")[0].lower())


def check_consent(consent: Path, sample: Path, encoder, language: str, recognizer=None,
                  min_similarity: float = DEFAULT_MIN_SIMILARITY, max_wer: float = CONSENT_MAX_WER,
                  max_seconds: float = CONSENT_MAX_SECONDS, words_required: bool = True) -> dict[str, Any]:
    """Check a consent recording against a voice sample (audio files); ``ConsentRefused`` naming the failed check,
    else what was checked (shared audio, similarity, threshold, and the words check's transcript and error rate).
    Without a ``recognizer`` (or a statement for the language) the consent is refused, unless ``words_required``
    is False: then the metadata says the words were not checked, and why."""
    from ..audio.overlap import SAME_AUDIO, shared_audio
    from ..audio.sound import load_audio
    from ..audio.speaker_encoder import embed

    heard = load_audio(consent, HUBERT_SAMPLE_RATE, max_seconds).samples
    voice = load_audio(sample, HUBERT_SAMPLE_RATE).samples
    shared = shared_audio(heard, voice)
    if shared >= SAME_AUDIO:
        raise ConsentRefused(f"the consent recording is the sample's own audio (they share a stretch of sound: "
                             f"{shared:.2f}, at or above {SAME_AUDIO}); the person must record the consent statement "
                             "separately")
    similarity = float(embed(encoder, heard) @ embed(encoder, voice))
    if similarity < min_similarity:
        raise ConsentRefused(f"the consent recording's speaker is not the sample's (speaker similarity "
                             f"{similarity:.2f}, below {min_similarity}): the person in the sample must record the "
                             "consent")
    checked: dict[str, Any] = {"speaker_similarity": round(similarity, 4), "min_similarity": min_similarity,
                               "shared_audio": round(shared, 4), "max_shared_audio": SAME_AUDIO,
                               "language": language}
    statement = statement_for(language)
    if not words_required:
        checked["words"] = WITHOUT_WORDS
        return checked
    if recognizer is None:
        raise ConsentRefused("no speech recognizer is loaded to hear the consent statement: pass --asr (a Whisper or "
                             "CTC model), or --consent-without-words to make the voice without that check")
    if statement is None:
        raise ConsentRefused(f"no consent statement is written for {language} yet (only for "
                             f"{', '.join(sorted(CONSENT_STATEMENTS))}): record the consent in one of those, or pass "
                             "--consent-without-words")
    return {**checked, **heard_statement(heard, statement, language, recognizer, max_wer)}


def heard_statement(heard, statement: str, language: str, recognizer, max_wer: float) -> dict[str, Any]:
    """The words check of a consent recording: its transcript's error rate against the statement."""
    from .words import error_rate

    transcript = recognizer.transcribe(heard, language.split("-")[0].lower(), statement)
    wer = error_rate(statement, transcript, language.split("-")[0].lower())
    if wer > max_wer:
        raise ConsentRefused(f"the consent recording does not say the consent statement (word error rate {wer:.2f}, "
                             f"above {max_wer}); it should say: {statement}")
    return {"words": "checked", "statement": statement, "transcript": transcript, "wer": round(wer, 4),
            "max_wer": max_wer}
