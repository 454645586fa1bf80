"""Long text into chunks Bark can speak whole: sentences (sentencex, which covers Bark's 13 languages) packed up to a
token and duration budget; an over-long sentence is split at clause punctuation, then at spaces, never in a word."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..constants import DEFAULT_CHUNK_SECONDS
from ..errors import UserError

BARK_TEXT_TOKENS = 256  # Bark's processor cuts its text input here
# Speaking rate in characters per second (spaces and punctuation included): about 14 for alphabetic scripts read
# aloud at a relaxed pace; syllabic and logographic scripts pack more speech into each character.
CHARACTERS_PER_SECOND = {"en": 14.0, "de": 14.0, "es": 14.0, "fr": 14.0, "it": 14.0, "pl": 13.0, "pt": 14.0,
                         "ru": 13.0, "tr": 13.0, "hi": 12.0, "ja": 7.0, "ko": 7.0, "zh": 5.0}
CLAUSE_BREAKS = re.compile(r"(?<=[,;:\u3001\uff0c\uff1b\uff1a\u060c])")  # after , ; : and their CJK / Arabic forms
WORD_BREAKS = re.compile(r"(?<=\s)")


def speaking_rate(language: str) -> float:
    """Characters per second for ``language`` (an alphabetic default for languages outside Bark's 13)."""
    return CHARACTERS_PER_SECOND.get(language, 14.0)


def estimated_seconds(text: str, language: str) -> float:
    """How long Bark takes to say ``text``, roughly."""
    return len(text.strip()) / speaking_rate(language)


def whole_brackets(pieces: list[str]) -> list[str]:
    """Consecutive pieces joined wherever a boundary falls inside [brackets]: Bark's cues ([laughs], [clears
    throat]) are never cut."""
    merged: list[str] = []
    depth = 0
    for piece in pieces:
        if merged and depth > 0:
            merged[-1] += piece
        else:
            merged.append(piece)
        depth = max(0, depth + piece.count("[") - piece.count("]"))
    return merged


def sentences(text: str, language: str) -> list[str]:
    """The text's sentences, each with its trailing whitespace, so that ``"".join(...) == text``.

    sentencex finds the boundaries, but on long runs of whitespace its pieces drop characters; so each boundary is
    placed where the next sentence's words start in ``text`` itself, and nothing between them is lost."""
    from sentencex import segment

    starts, position = [0], 0
    for piece in segment(language, text):
        core = piece.strip()
        found = text.find(core, position) if core else -1
        if found > position:
            starts.append(found)
        if found >= 0:
            position = found + len(core)
    starts.append(len(text))
    return whole_brackets([text[start:end] for start, end in zip(starts, starts[1:]) if end > start])


def _fits(piece: str, language: str, max_seconds: float, count_tokens: Callable[[str], int]) -> bool:
    return estimated_seconds(piece, language) <= max_seconds and count_tokens(piece) <= BARK_TEXT_TOKENS


def _split_long(sentence: str, language: str, max_seconds: float, count_tokens) -> list[str]:
    """A sentence too long for one chunk, as pieces that fit: at clause breaks, else at spaces; a single word (or a
    run of CJK characters without spaces) longer than the budget is cut where it must be."""
    for breaks in (CLAUSE_BREAKS, WORD_BREAKS):
        parts = whole_brackets([part for part in breaks.split(sentence) if part])
        if len(parts) > 1:
            pieces = _pack(parts, language, max_seconds, count_tokens)
            return [small for piece in pieces for small in (
                [piece] if _fits(piece, language, max_seconds, count_tokens)
                else _split_long(piece, language, max_seconds, count_tokens))]
    if "[" in sentence:  # one long bracketed cue: never cut (it is not read aloud at the speaking rate anyway)
        return [sentence]
    width = max(1, int(max_seconds * speaking_rate(language)))
    return [sentence[start: start + width] for start in range(0, len(sentence), width)]


@dataclass(frozen=True)
class _Size:
    """A piece's measures, grown part by part in O(len(part)): its length, its leading and trailing whitespace (so
    ``len(piece.strip())`` is known without building the piece) and its tokens. Tokens add up because every part
    ends at whitespace or punctuation, where Bark's BERT tokenizer (and the byte count) splits anyway."""

    length: int = 0
    lead: int = 0
    trail: int = 0
    tokens: int = 0

    def grown(self, part: str, part_tokens: int) -> _Size:
        blank = not part.strip()
        lead = self.length + (len(part) if blank else len(part) - len(part.lstrip())) \
            if self.lead == self.length else self.lead
        trail = self.trail + len(part) if blank else len(part) - len(part.rstrip())
        return _Size(self.length + len(part), lead, trail, self.tokens + part_tokens)

    def fits(self, language: str, max_seconds: float) -> bool:
        stripped = self.length - self.lead - self.trail if self.lead < self.length else 0
        return stripped / speaking_rate(language) <= max_seconds and self.tokens <= BARK_TEXT_TOKENS


def _pack(parts: list[str], language: str, max_seconds: float, count_tokens) -> list[str]:
    """Greedy packing of consecutive parts into pieces that fit (a part that alone does not fit stays alone), in time
    linear in the text: each part is measured once, however long a run of whitespace it sits in."""
    pieces: list[list[str]] = []
    size = _Size()
    for part in parts:
        part_tokens = count_tokens(part)
        grown = size.grown(part, part_tokens)
        if pieces and grown.fits(language, max_seconds):
            pieces[-1].append(part)
            size = grown
        else:
            pieces.append([part])
            size = _Size().grown(part, part_tokens)
    return ["".join(piece) for piece in pieces]


def plan_chunks(text: str, language: str = "en", max_seconds: float = DEFAULT_CHUNK_SECONDS,
                count_tokens: Callable[[str], int] | None = None) -> list[str]:
    """``text`` as chunks for Bark, in order. Each fits Bark's text window (``count_tokens``, by default one token
    per UTF-8 byte, which over-counts) and about ``max_seconds`` of speech. Joined, the chunks are the text."""
    if not text.strip():
        raise UserError("the text to speak is empty")
    if max_seconds <= 0:
        raise UserError("the chunk length must be positive")
    count = count_tokens or (lambda piece: len(piece.encode("utf-8")))
    fitted: list[str] = []
    for sentence in sentences(text, language):
        if _fits(sentence, language, max_seconds, count):
            fitted.append(sentence)
        else:
            fitted.extend(_split_long(sentence, language, max_seconds, count))
    chunks = _pack(fitted, language, max_seconds, count)
    # whitespace-only pieces (a text's trailing newline) belong to the chunk before them
    merged: list[str] = []
    for chunk in chunks:
        if merged and not chunk.strip():
            merged[-1] += chunk
        else:
            merged.append(chunk)
    if merged and not merged[0].strip() and len(merged) > 1:
        merged[1] = merged[0] + merged[1]
        merged.pop(0)
    return merged
