"""Scripts with several voices: ``NAME: text`` lines (a blank line keeps a longer pause), each line chunked and
spoken in its speaker's voice, guarded against that speaker's reference, and joined in order. Chunks of speakers
that share Bark's weights (no adapters, or the same ones) are generated in the same batches."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from ..bark.core import require_text
from ..errors import UserError
from ..requests import LongFormSettings
from .longform import Chunk, Job, SpeakingVoice, run_job, token_counter

MAX_NAME_CHARACTERS = 64
LINE = re.compile(r"^\s*([^:\uff1a]{1,%d}?)\s*[:\uff1a]\s*(.*?)\s*$" % MAX_NAME_CHARACTERS)  # NAME: text (or NAME：)
PARAGRAPH_PAUSE_FACTOR = 3  # a blank line before a script line keeps this many times --pause before it


@dataclass(frozen=True)
class ScriptLine:
    """One line of a script: where it was (1-based), who says it (as written), what, and the pause before it."""

    number: int
    speaker: str
    text: str
    pause: float


def checked_line(number: int, speaker: str, text: str, names: Iterable[str], pause: float) -> ScriptLine:
    """A line whose speaker is known and whose text says something; else a ``UserError`` naming the line."""
    names = sorted(names)
    if speaker not in names:
        raise UserError(f"script line {number}: {speaker!r} is not one of the voices given ({', '.join(names)})")
    check_line_text(number, speaker, text)
    return ScriptLine(number, speaker, text.strip(), pause)


def check_line_text(number: int, speaker: str, text: str) -> None:
    """Every check a single text gets (NUL, lone surrogates, nothing but invisible characters), naming the line."""
    try:
        require_text(text)
    except UserError as error:
        said = "says nothing" if "is empty" in str(error) else str(error).replace("the text holds", "holds")
        raise UserError(f"script line {number}: {speaker} {said}") from None


def parse_script(text: str, names: Iterable[str], pause: float) -> list[ScriptLine]:
    """A script's lines: every non-blank line is ``NAME: text`` with a NAME among ``names``; ``pause`` goes before
    each line, ``PARAGRAPH_PAUSE_FACTOR`` times it after blank lines."""
    names = set(names)
    lines: list[ScriptLine] = []
    after_blank = False
    for number, raw in enumerate(text.split("\n"), 1):  # "\n" and "\r\n" only: U+2028 and friends stay in a line
        raw = raw.removesuffix("\r")
        if not raw.strip():
            after_blank = bool(lines)
            continue
        match = LINE.match(raw)
        if match is None:
            shown = raw.strip()
            raise UserError(f"script line {number}: {shown[:40]!r}{'...' if len(shown) > 40 else ''} is not "
                            "NAME: text")
        lines.append(checked_line(number, match.group(1), match.group(2), names,
                                  pause * (PARAGRAPH_PAUSE_FACTOR if after_blank else 1)))
        after_blank = False
    if not lines:
        raise UserError("the script has no lines (each line is NAME: text)")
    return lines


def script_chunks(lines: list[ScriptLine], speakers: dict[str, SpeakingVoice], settings: LongFormSettings,
                  count_tokens: Callable[[str], int] | None = None) -> list[Chunk]:
    """Every line cut into chunks Bark can say whole, in order, each with its line's speaker."""
    from .chunking import plan_chunks

    chunks = []
    for index, line in enumerate(lines):
        pieces = plan_chunks(line.text, settings.language, settings.chunk_seconds, count_tokens)
        chunks.extend(Chunk(piece, speakers[line.speaker], line.pause if first == 0 else settings.pause, index)
                      for first, piece in enumerate(pieces))
    return chunks


def speak_script(session, lines: list[ScriptLine], speakers: dict[str, SpeakingVoice], settings: LongFormSettings,
                 *, on_piece=None, stop=None, hurry_first: bool = False, progress: bool = True
                 ) -> tuple[np.ndarray, dict[str, Any], list[np.ndarray]]:
    """Speak a script in ``session`` (a ``SpeakingSession``, whose ``wear`` holds Bark wearing a voice's adapters
    where some voices have them): (audio (n,) float32 at 24 kHz, report with ``lines``, each line's own audio).
    ``speakers`` maps each name in the script to its ``SpeakingVoice`` (``session.speaker``); the rest as
    ``longform.speak_long``."""
    from ..constants import CODEC_SAMPLE_RATE

    if settings.chain:
        raise UserError("--chain continues one voice from chunk to chunk; it does not apply to a script")
    chunks = script_chunks(lines, speakers, settings, token_counter(session.bark))
    pieces: list[np.ndarray] = []

    def kept(index: int, total: int, piece: np.ndarray) -> None:
        pieces.append(piece)
        if on_piece is not None:
            on_piece(index, total, piece)

    job = Job(settings, session, on_piece=kept, stop=stop, hurry_first=hurry_first)
    audio, report = run_job(chunks, job, progress, script=True)
    by_line: list[list[np.ndarray]] = [[] for _ in lines]
    for index, (chunk, piece) in enumerate(zip(chunks, pieces)):
        starts_line = index == 0 or chunks[index - 1].line != chunk.line
        skip = int(round(chunk.pause * CODEC_SAMPLE_RATE)) if starts_line and index else 0
        by_line[chunk.line].append(piece[skip:])  # a line's file starts with its speech, not the pause before it
    return audio, report, [np.concatenate(parts) for parts in by_line]
