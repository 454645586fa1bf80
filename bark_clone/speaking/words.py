"""The words check's text side: Bark's non-speech cues taken out, Whisper's text normalisation, and the error rate
between what a chunk should say and what a recognizer heard (jiwer)."""

from __future__ import annotations

import functools
import re

# Bark's cues that are not words: [laughs], [music], [clears throat]; sung lines between ♪ (recognizers cannot be
# trusted with singing); ellipses and dashes (hesitations). Removed from both sides before comparing.
CUES = re.compile(r"\[[^\]]*\]|♪[^♪]*♪|[♪…—]|\.{2,}")
CHARACTER_LANGUAGES = frozenset({"ja", "zh", "ko"})  # compared by characters (CER): no reliable word boundaries


def without_cues(text: str) -> str:
    """``text`` with Bark's non-speech cues replaced by spaces."""
    return CUES.sub(" ", text)


@functools.lru_cache(maxsize=2)
def _normalizer(english: bool):
    # transformers ships Whisper's own normalisers (the English one without its British-to-American spelling table,
    # which comes with Whisper's tokenizer files): written once, upstream
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer, EnglishTextNormalizer

    return EnglishTextNormalizer({}) if english else BasicTextNormalizer()


def normalised(text: str, language: str) -> str:
    """What is compared: cues out, then Whisper's normalisation (English: numbers, contractions, punctuation; other
    languages: case and punctuation); for ja/zh/ko without spaces, since they are compared character by character."""
    plain = _normalizer(language == "en")(without_cues(text))
    if language in CHARACTER_LANGUAGES:
        return re.sub(r"\s+", "", plain)
    return " ".join(plain.split())


def error_rate(text: str, transcript: str, language: str) -> float | None:
    """Word error rate of ``transcript`` against ``text`` (character error rate for ja/zh/ko), both normalised;
    None when ``text`` has nothing to check (only cues)."""
    import jiwer

    reference, heard = normalised(text, language), normalised(transcript, language)
    if not reference:
        return None
    if not heard:
        return 1.0  # everything was dropped (jiwer refuses an empty hypothesis in some versions)
    measure = jiwer.cer if language in CHARACTER_LANGUAGES else jiwer.wer
    return float(measure(reference, heard))
