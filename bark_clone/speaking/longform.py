"""Long text in the cloned voice: the text in chunks, Bark in batches, every chunk checked by the consistency guard
and retried with a new seed when it drifts into another voice or fails, the best tries joined."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from ..audio.joining import join_chunks
from ..constants import CODEC_SAMPLE_RATE
from ..errors import UserError
from ..progress import progress_bar
from ..prompt import SpeakerPrompt
from ..requests import LongFormSettings
from .chunking import plan_chunks
from .consistency import Attempt, RecordingWindow, Reference, judge, reference_for, sidecar_window

# generator(texts, prompt, seed) -> one bark.Generation per text (audio at 24 kHz, streams, whether it ended)
Generator = Callable[[list[str], SpeakerPrompt, int], list[Any]]


@dataclass
class Chunk:
    """One chunk's text and every try at it."""

    text: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def best(self) -> Attempt:
        return max(self.attempts, key=Attempt.rank)

    def done(self, tries: int) -> bool:
        return bool(self.attempts) and (self.best.passed or len(self.attempts) >= tries)


def try_seed(seed: int, round_index: int, batch_index: int) -> int:
    """The seed of one batch in one round: a pure function of ``--seed``, so the same seed gives the same audio."""
    return int(np.random.SeedSequence([seed, round_index, batch_index]).generate_state(1)[0] % 2**31)


@dataclass
class BarkGenerator:
    """The real generator: Bark's one batched path, ``batch_size`` rows a generation at most (all by default).
    Called as a ``Generator`` for one voice; ``rows(rows, seeds)`` speaks rows of several voices in one batch."""

    bark: Any
    batch_size: int | None = None

    def __call__(self, texts: list[str], prompt, seed: int) -> list[Any]:
        from ..bark.generation import generate_batches

        return generate_batches(self.bark, texts, prompt, seed, self.batch_size)

    def rows(self, rows: list[tuple[str, Any]], seeds: list[int]) -> list[Any]:
        from ..bark.generation import generate_row_batches

        return generate_row_batches(self.bark, rows, seeds, self.batch_size)


def bark_generator(bark, batch_size: int | None = None) -> BarkGenerator:
    return BarkGenerator(bark, batch_size)


def generate_rows_with(generator, rows: list[tuple[str, Any]], seeds: list[int]) -> list[Any]:
    """Rows of several voices (``(text, prompt)``, a seed each) through ``generator``: in one batch where it takes
    rows (Bark), else voice by voice (a stand-in ``Generator``, called with its voice's first seed)."""
    if hasattr(generator, "rows"):
        return generator.rows(rows, seeds)
    results: list[Any] = [None] * len(rows)
    groups: dict[int, list[int]] = {}
    for index, (_, prompt) in enumerate(rows):
        groups.setdefault(id(prompt), []).append(index)
    for indices in groups.values():
        made = generator([rows[index][0] for index in indices], rows[indices[0]][1], seeds[indices[0]])
        for index, generation in zip(indices, made):
            results[index] = generation
    return results


@dataclass
class Judge:
    """Everything that judges a try: the reference voice, the encoder, the VAD and the settings."""

    reference: Reference
    encoder: Any
    vad: Any
    settings: LongFormSettings

    def __call__(self, generation, text: str, seed: int) -> Attempt:
        return judge(generation, text, self.settings.language, seed, self.reference, self.encoder, self.vad,
                     self.settings.min_similarity)


def run_batches(chunks: list[Chunk], pending: list[int], prompt: SpeakerPrompt, generator: Generator,
                judged: Judge, round_index: int) -> None:
    """One more try for each pending chunk, ``batch_size`` chunks per generation."""
    size = judged.settings.batch_size
    for batch_index, first in enumerate(range(0, len(pending), size)):
        batch = pending[first: first + size]
        seed = try_seed(judged.settings.seed, round_index, batch_index)
        generations = generator([chunks[index].text.strip() for index in batch], prompt, seed)
        for index, generation in zip(batch, generations):
            chunks[index].attempts.append(judged(generation, chunks[index].text, seed))


def run_chained(chunks: list[Chunk], prompt: SpeakerPrompt, generator: Generator, judged: Judge, bar) -> None:
    """--chain: each chunk continues from the previous chunk's kept generation (one at a time, so no batching)."""
    from ..bark.bootstrap import prompt_from_generation

    voice = prompt
    for index, chunk in enumerate(chunks):
        while not chunk.done(judged.settings.tries):
            seed = try_seed(judged.settings.seed, len(chunk.attempts), index)
            chunk.attempts.append(judged(generator([chunk.text.strip()], voice, seed)[0], chunk.text, seed))
        try:
            voice = prompt_from_generation(chunk.best.generation)
        except (UserError, AttributeError):  # too short to continue from: go back to the speaker's prompt
            voice = prompt
        show_progress(bar, chunks, judged.settings.tries)


def show_progress(bar, chunks: list[Chunk], tries: int) -> None:
    """Chunks done, retries so far, and the lowest kept similarity."""
    tried = [chunk for chunk in chunks if chunk.attempts]
    bar.n = sum(chunk.done(tries) for chunk in chunks)
    bar.set_postfix(retries=sum(len(chunk.attempts) - 1 for chunk in tried),
                    min_similarity=f"{min(chunk.best.similarity for chunk in tried):.3f}" if tried else "-")
    bar.refresh()


def speak_long(bark, prompt: SpeakerPrompt, text: str, settings: LongFormSettings | None = None, *, encoder=None,
               vad=None, reference: Reference | None = None, sidecar=None, generator: Generator | None = None,
               progress: bool = True, reference_window: RecordingWindow | None = None,
               warn: Callable[[str], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Speak ``text`` of any length in ``prompt``'s voice: (audio (n,) float32 at 24 kHz, report dict).

    The text is cut into chunks Bark can say whole; every chunk uses ``prompt`` (``settings.chain``: the previous
    chunk's generation). Each generated chunk is compared with the speaker's ``reference`` (default: the sidecar's
    source recording window, checked by ``sidecar_window`` or given as ``reference_window``; else the prompt decoded
    with Bark's codec; ``warn`` hears why a sidecar was not used) and retried with a new seed, up to
    ``settings.tries`` in all, while it is in another voice or cut off, silent or implausibly long or short. The best
    try of each chunk is kept and reported. ``generator`` replaces Bark (tests use voices known in advance).
    """
    from ..audio.speaker_encoder import load_voice_encoder
    from ..audio.speech import load_vad

    settings = settings or LongFormSettings()
    settings.check()
    started = time.perf_counter()
    texts = plan_chunks(text, settings.language, settings.chunk_seconds, token_counter(bark))
    encoder = encoder or load_voice_encoder()
    if reference is None:
        window = reference_window or (sidecar_window(sidecar, warn) if sidecar is not None else None)
        reference = reference_for(prompt, encoder, bark, window)
    judged = Judge(reference, encoder, vad or load_vad(), settings)
    generator = generator or bark_generator(bark)
    chunks = [Chunk(piece) for piece in texts]
    with progress_bar(total=len(chunks), unit="chunk", desc="speak", disable=not progress) as bar:
        if settings.chain:
            run_chained(chunks, prompt, generator, judged, bar)
        for round_index in range(settings.tries):
            pending = [index for index, chunk in enumerate(chunks) if not chunk.done(settings.tries)]
            if not pending:
                break
            run_batches(chunks, pending, prompt, generator, judged, round_index)
            show_progress(bar, chunks, judged.settings.tries)
    audio, gain_db = join_chunks([chunk.best.audio for chunk in chunks], CODEC_SAMPLE_RATE, settings.pause)
    return audio, long_form_report(chunks, judged, audio, gain_db, time.perf_counter() - started)


def token_counter(bark) -> Callable[[str], int] | None:
    """Counts text tokens as Bark's processor does (None without a Bark: the chunker then over-counts bytes)."""
    tokenizer = getattr(getattr(bark, "processor", None), "tokenizer", None)
    if tokenizer is None:
        return None
    return lambda piece: len(tokenizer(piece, add_special_tokens=False)["input_ids"])


def long_form_report(chunks: list[Chunk], judged: Judge, audio: np.ndarray, gain_db: float,
                     elapsed: float) -> dict[str, Any]:
    """What happened to every chunk (every try's similarity, the kept one's seed, duration and flags), and overall."""
    rows = []
    for index, chunk in enumerate(chunks):
        best = chunk.best
        rows.append({"index": index, "text": chunk.text.strip(), "seed": best.seed, "tries": len(chunk.attempts),
                     "similarity": round(best.similarity, 4),
                     "similarities": [round(attempt.similarity, 4) for attempt in chunk.attempts],
                     "duration": round(len(best.audio) / CODEC_SAMPLE_RATE, 3), "flags": list(best.flags),
                     "passed": best.passed})
    similarities = [row["similarity"] for row in rows]
    return {"chunks": rows, "mean_similarity": round(float(np.mean(similarities)), 4),
            "min_similarity": round(float(np.min(similarities)), 4),
            "duration": round(len(audio) / CODEC_SAMPLE_RATE, 3),
            "elapsed_seconds": round(elapsed, 2), "retried": sum(row["tries"] > 1 for row in rows),
            "flagged": sum(not row["passed"] for row in rows), "gain_db": round(gain_db, 2),
            "sample_rate": CODEC_SAMPLE_RATE,
            "reference": {"kind": judged.reference.kind, "detail": judged.reference.detail},
            "settings": asdict(judged.settings)}
