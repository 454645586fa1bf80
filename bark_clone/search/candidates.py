"""What the voice search chooses among, and how it scores them. Every candidate is a consistent prompt (all three
streams from one audio or one generation): a window of a recording, a stock preset, or a bootstrap (a prompt cut
from Bark's own generation with a candidate as voice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..constants import CODEC_SAMPLE_RATE
from ..errors import UserError
from ..prompting.format import SpeakerPrompt

BOOTSTRAP_SENTENCES = [  # held out from the scoring sentences, so a bootstrap is not scored on its own words
    "Every morning the baker opens the shop before the sun is up, and the street smells of bread.",
    "We took the long road home, past the lake and the old mill, and talked about nothing at all.",
    "The library was quiet except for the rain on the windows and the turning of pages.",
    "If you follow the river north for an hour you come to a bridge that nobody remembers building.",
]
MIN_SPEECH_FRACTION = 0.3  # generations with less speech than this (VAD) are "mostly silence": rejected


@dataclass
class Candidate:
    """A prompt with where it came from (``lineage``: one entry per step from its root) and, once scored, how it
    sounds: the evaluate score and its three parts, or why it was rejected."""

    prompt: SpeakerPrompt
    kind: str  # "window", "preset", "bootstrap" or "voice" (a voice folder's own prompt)
    lineage: list[dict[str, Any]]
    born: int = 0  # the search step that made it
    scores: dict[str, float] = field(default_factory=dict)
    rejected: str | None = None

    @property
    def id(self) -> str:
        """Content-addressed: the same prompt is the same candidate, whatever made it."""
        return self.prompt.content_id()

    @property
    def score(self) -> float:
        return self.scores.get("score", float("-inf")) if self.rejected is None else float("-inf")

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "lineage": self.lineage, "born": self.born,
                "score": round(self.score, 4) if self.rejected is None and self.scores else None,
                **{key: round(value, 4) for key, value in self.scores.items() if key != "score"},
                "rejected": self.rejected, "seconds": round(self.prompt.seconds, 2)}


def window_moves(recording, start: float, end: float, max_seconds: float) -> list[tuple[float, float]]:
    """Windows next to (start, end): its start moved to the neighbouring phrase start, or its end to the
    neighbouring pause, each still a valid window (phrase-aligned, within ``max_seconds``, >= 1 s of speech)."""
    from ..prompting.selection import candidate_windows

    windows = [(round(s, 3), round(e, 3)) for s, e, _ in
               candidate_windows(recording.segments, recording.audio.duration, max_seconds)]
    start, end = round(start, 3), round(end, 3)
    moves = []
    for same, position, other in ((end, 0, 1), (start, 1, 0)):  # keep the end and move the start, and the reverse
        options = sorted({window[position] for window in windows if window[other] == same} | {(start, end)[position]})
        here = options.index((start, end)[position])
        for neighbour in (here - 1, here + 1):
            if 0 <= neighbour < len(options):
                moved = [start, end]
                moved[position] = options[neighbour]
                moves.append(tuple(moved))
    return [move for move in moves if move in windows and move != (start, end)]


def window_candidate(recordings, source: int, start: float, end: float, models, lineage=None,
                     born: int = 0) -> Candidate:
    """make-speaker's prompt from exactly these seconds of recording ``source``."""
    from ..prompting.pipeline import cut_window, prompt_from_window

    recording = recordings[source]
    cut = cut_window(recording, start, end)
    step = {"kind": "window", "source": recording.label, "window": [round(start, 3), round(end, 3)]}
    return Candidate(prompt_from_window(cut, models), "window", (lineage or []) + [step], born)


def preset_prompt(bark, name: str) -> SpeakerPrompt:
    """A stock voice of the Bark model as a prompt."""
    arrays = bark.preset(name)
    return SpeakerPrompt(arrays["semantic_prompt"], arrays["coarse_prompt"], arrays["fine_prompt"])


def nearest_presets(bark, language: str, target, encoder, count: int) -> list[Candidate]:
    """The ``count`` stock voices of ``language`` whose own prompt audio is closest to the target."""
    from ..evaluate.evaluation import preset_similarity

    ranked = sorted(((preset_similarity(bark, name, target, encoder), name)
                     for name in bark.presets(language)), reverse=True)
    return [Candidate(preset_prompt(bark, name), "preset", [{"kind": "preset", "name": name,
                                                               "similarity": round(similarity, 4)}])
            for similarity, name in ranked[:count]]


def bootstrap(parent: Candidate, generation, sentence: int, seed: int, max_seconds: float, born: int) -> Candidate:
    """A new candidate cut from Bark's generation with ``parent`` as voice (``UserError`` if it is too short)."""
    from ..bark.bootstrap import prompt_from_generation

    step = {"kind": "bootstrap", "sentence": sentence, "seed": seed}
    return Candidate(prompt_from_generation(generation, max_seconds), "bootstrap", parent.lineage + [step], born)


def score_candidates(candidates: list[Candidate], generator, sentences: list[str], seed: int, target, encoder,
                     vad) -> None:
    """Bark speaks ``sentences`` with every candidate, all of them in one batch (sentence ``j`` seeded ``seed + j``
    for each, so a candidate scores the same in any batch); each gets its scores, or why it is rejected."""
    from ..speaking.longform import generate_rows_with

    valid = []
    for candidate in candidates:
        try:
            candidate.prompt.validate()
            valid.append(candidate)
        except ValueError as error:
            candidate.rejected = f"fails Bark's checks: {error}"
    rows = [(sentence, candidate.prompt) for candidate in valid for sentence in sentences]
    seeds = [seed + index for _ in valid for index in range(len(sentences))]
    generations = generate_rows_with(generator, rows, seeds) if rows else []
    for number, candidate in enumerate(valid):
        judge_candidate(candidate, generations[number * len(sentences): (number + 1) * len(sentences)], target,
                        encoder, vad)


def judge_candidate(candidate: Candidate, generations: list, target, encoder, vad) -> None:
    """A candidate's scores from its generations, or why it is rejected (mostly silence, a score not finite)."""
    from ..evaluate.scoring import score_generations
    from ..speaking.consistency import speech_span

    audios = [np.asarray(generation.audio, dtype=np.float32) for generation in generations]
    fractions = [speech_span(audio, vad)[2] / max(len(audio) / CODEC_SAMPLE_RATE, 1e-6) for audio in audios]
    if float(np.mean(fractions)) < MIN_SPEECH_FRACTION:
        candidate.rejected = f"its generations are mostly silence ({100 * float(np.mean(fractions)):.0f} % speech)"
        return
    scores = score_generations(audios, target, encoder)
    if not all(np.isfinite(value) for value in scores.values()):
        candidate.rejected = "its score is not a finite number"
        return
    candidate.scores = scores


def require_some(candidates: list[Candidate]) -> None:
    if not any(candidate.rejected is None for candidate in candidates):
        reasons = sorted({candidate.rejected for candidate in candidates if candidate.rejected})
        raise UserError("no candidate could be scored: " + "; ".join(reasons[:3]))
