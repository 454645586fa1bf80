"""Consent checked, not just stored: the consent recording's speaker must be the sample's (GE2E similarity against
the guard's measured threshold), and where a recognizer is loaded it must say the consent statement for its
language (the words check's error rate). What was checked is returned for the speaker's metadata."""

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


class ConsentRefused(UserError):
    """A consent that does not hold: the message says which check failed."""


def statement_for(language: str) -> str | None:
    """The consent statement for a BCP 47 tag (``en-US`` -> English), or None where none is written yet."""
    return CONSENT_STATEMENTS.get(language.split("-")[0].lower())


def check_consent(consent: Path, sample: Path, encoder, language: str, recognizer=None,
                  min_similarity: float = DEFAULT_MIN_SIMILARITY, max_wer: float = CONSENT_MAX_WER,
                  max_seconds: float = CONSENT_MAX_SECONDS) -> dict[str, Any]:
    """Check a consent recording against a voice sample (audio files); ``ConsentRefused`` naming the failed check,
    else what was checked (similarity, threshold, and the words check's transcript and error rate, or why not)."""
    from ..audio.sound import load_audio
    from ..audio.speaker_encoder import embed
    from .words import error_rate

    heard = load_audio(consent, HUBERT_SAMPLE_RATE, max_seconds).samples
    voice = load_audio(sample, HUBERT_SAMPLE_RATE).samples
    similarity = float(embed(encoder, heard) @ embed(encoder, voice))
    if similarity < min_similarity:
        raise ConsentRefused(f"the consent recording's speaker is not the sample's (speaker similarity "
                             f"{similarity:.2f}, below {min_similarity}): the person in the sample must record the "
                             "consent")
    checked: dict[str, Any] = {"speaker_similarity": round(similarity, 4), "min_similarity": min_similarity,
                               "language": language}
    statement = statement_for(language)
    if recognizer is None or statement is None:
        checked["words"] = ("not checked: no speech recognizer is loaded" if recognizer is None else
                            f"not checked: no consent statement is written for {language} yet")
        return checked
    transcript = recognizer.transcribe(heard, language.split("-")[0].lower(), statement)
    wer = error_rate(statement, transcript, language.split("-")[0].lower())
    if wer > max_wer:
        raise ConsentRefused(f"the consent recording does not say the consent statement (word error rate {wer:.2f}, "
                             f"above {max_wer}); it should say: {statement}")
    checked.update(words="checked", statement=statement, transcript=transcript, wer=round(wer, 4), max_wer=max_wer)
    return checked
