"""Long text in cloned voices: the text in chunks, Bark in batches, every chunk checked by the guard (the speaker's
voice, Bark's failures and, with a recognizer, the words) and retried with a new seed when it fails, the best tries
joined. Chunks are tried in order, so each is ready (``on_piece``) as soon as it and every chunk before it are."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..audio.joining import chunk_piece
from ..constants import CODEC_SAMPLE_RATE
from ..errors import UserError
from ..options import Sampling
from ..progress import progress_bar
from ..prompting.format import SpeakerPrompt
from ..requests import LongFormSettings
from .consistency import Attempt, RecordingWindow, Reference, WordsCheck, judge, reference_for, sidecar_reference

# generator(texts, prompt, seed) -> one bark.Generation per text (audio at 24 kHz, streams, whether it ended)
Generator = Callable[[list[str], SpeakerPrompt, int], list[Any]]
# on_piece(index, n_chunks, piece): chunk ``index``'s share of the joined audio (its pause, then its speech)
PieceHandler = Callable[[int, int, np.ndarray], None]


class SpeakStopped(Exception):
    """The job was asked to stop (its client went away) before every chunk was spoken."""


@dataclass
class SpeakingVoice:
    """One voice a job speaks in: its prompt, the reference its chunks are judged against, and the voice folder
    whose adapters Bark wears for it (None: Bark as loaded)."""

    name: str
    prompt: SpeakerPrompt
    reference: Reference
    voice: Any = None

    @property
    def group(self) -> str:
        """Speakers of one group share a generation: the same adapters (or none)."""
        return getattr(self.voice, "adapter_id", "")


@dataclass
class Chunk:
    """One chunk's text, who says it, the pause before it, and every try at it."""

    text: str
    speaker: SpeakingVoice
    pause: float = 0.0
    line: int = 0
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def best(self) -> Attempt:
        return max(self.attempts, key=Attempt.rank)

    def done(self, tries: int) -> bool:
        return bool(self.attempts) and (self.best.passed or len(self.attempts) >= tries)


def try_seed(seed: int, try_index: int, chunk_index: int) -> int:
    """The seed of one try at one chunk: a pure function of ``--seed``, so the same seed gives the same audio."""
    return int(np.random.SeedSequence([seed, try_index, chunk_index]).generate_state(1)[0] % 2**31)


@dataclass(kw_only=True)
class BarkGenerator:
    """The real generator: Bark's one batched path, sampled as ``sampling`` says, ``batch_size`` rows a generation
    at most (all by default). Called as a ``Generator`` for one voice; ``rows(rows, seeds)`` speaks rows of several
    voices in one batch."""

    bark: Any
    sampling: Any = None  # an options.Sampling (None: the defaults)
    batch_size: int | None = None

    def __call__(self, texts: list[str], prompt, seed: int) -> list[Any]:
        return self.rows([(text, prompt) for text in texts], [seed + index for index in range(len(texts))])

    def rows(self, rows: list[tuple[str, Any]], seeds: list[int]) -> list[Any]:
        from ..bark.generation import generate

        return generate(self.bark, rows, self.sampling or Sampling(), seeds, self.batch_size)


def bark_generator(bark, *, sampling=None, batch_size: int | None = None) -> BarkGenerator:
    return BarkGenerator(bark=bark, sampling=sampling, batch_size=batch_size)


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
class Job:
    """One long-form job: its settings, the session it runs in (``session.SpeakingSession``: Bark, the listeners,
    the words check, the generator, how Bark wears adapters), who hears each ready chunk, and what stops it."""

    settings: LongFormSettings
    session: Any
    on_piece: PieceHandler | None = None
    stop: Any = None  # a threading.Event
    hurry_first: bool = False  # streaming: the first chunk alone in its generations, so its audio comes soonest

    @property
    def words(self) -> WordsCheck | None:
        return self.session.words

    def judge(self, generation, chunk: Chunk, seed: int) -> Attempt:
        return judge(generation, chunk.text, self.settings.language, seed, chunk.speaker.reference,
                     self.session.encoder, self.session.vad, self.settings.min_similarity, words=self.session.words)

    def generate(self, chunks: list[Chunk], seeds: list[int]) -> list[Any]:
        with self.session.wearing(chunks[0].speaker.voice):
            return generate_rows_with(self.session.generator_for(self.settings.sampling),
                                      [(chunk.text.strip(), chunk.speaker.prompt) for chunk in chunks], seeds)


def next_batch(chunks: list[Chunk], tries: int, size: int) -> list[int]:
    """The first ``size`` unfinished chunks of the first unfinished chunk's group, in order (retries included)."""
    pending = [index for index, chunk in enumerate(chunks) if not chunk.done(tries)]
    if not pending:
        return []
    group = chunks[pending[0]].speaker.group
    return [index for index in pending if chunks[index].speaker.group == group][:size]


class Pieces:
    """Hands each chunk's piece of the joined audio on, in order, once it and every chunk before it are done."""

    def __init__(self, chunks: list[Chunk], job: Job) -> None:
        self.chunks, self.job, self.ready = chunks, job, 0
        self.pieces: list[np.ndarray] = []
        self.gains: list[float] = []

    def advance(self) -> None:
        while self.ready < len(self.chunks) and self.chunks[self.ready].done(self.job.settings.tries):
            chunk = self.chunks[self.ready]
            piece, gain_db = chunk_piece(chunk.best.audio, CODEC_SAMPLE_RATE, chunk.pause if self.ready else 0.0)
            self.pieces.append(piece)
            self.gains.append(gain_db)
            if self.job.on_piece is not None:
                self.job.on_piece(self.ready, len(self.chunks), piece)
            self.ready += 1

    def joined(self) -> tuple[np.ndarray, float]:
        return np.concatenate(self.pieces), min(self.gains, default=0.0)


def check_stop(job: Job) -> None:
    if job.stop is not None and job.stop.is_set():
        raise SpeakStopped("the job was stopped before its last chunk")


def run_in_order(chunks: list[Chunk], job: Job, pieces: Pieces, bar) -> None:
    """Try the earliest unfinished chunks, a batch at a time, until every chunk passes or has used its tries."""
    settings = job.settings
    while batch := next_batch(chunks, settings.tries, 1 if job.hurry_first and not pieces.ready
                              else settings.batch_size):
        check_stop(job)
        seeds = [try_seed(settings.seed, len(chunks[index].attempts), index) for index in batch]
        generations = job.generate([chunks[index] for index in batch], seeds)
        for index, generation, seed in zip(batch, generations, seeds):
            chunks[index].attempts.append(job.judge(generation, chunks[index], seed))
        pieces.advance()
        show_progress(bar, chunks, settings.tries)


def run_chained(chunks: list[Chunk], job: Job, pieces: Pieces, bar) -> None:
    """--chain: each chunk continues from the previous chunk's kept generation (one at a time, so no batching)."""
    from ..bark.bootstrap import prompt_from_generation

    speaker = chunks[0].speaker
    for index, chunk in enumerate(chunks):
        while not chunk.done(job.settings.tries):
            check_stop(job)
            seed = try_seed(job.settings.seed, len(chunk.attempts), index)
            chunk.attempts.append(job.judge(job.generate([chunk], [seed])[0], chunk, seed))
        try:  # the next chunk continues from this one's audio, judged against the same speaker
            prompt = prompt_from_generation(chunk.best.generation)
        except (UserError, AttributeError):  # too short to continue from: go back to the speaker's prompt
            prompt = speaker.prompt
        if index + 1 < len(chunks):
            chunks[index + 1].speaker = SpeakingVoice(speaker.name, prompt, speaker.reference, speaker.voice)
        pieces.advance()
        show_progress(bar, chunks, job.settings.tries)


def show_progress(bar, chunks: list[Chunk], tries: int) -> None:
    """Chunks done, retries so far, and the lowest kept similarity."""
    tried = [chunk for chunk in chunks if chunk.attempts]
    bar.n = sum(chunk.done(tries) for chunk in chunks)
    bar.set_postfix(retries=sum(len(chunk.attempts) - 1 for chunk in tried),
                    min_similarity=f"{min(chunk.best.similarity for chunk in tried):.3f}" if tried else "-")
    bar.refresh()


def run_job(chunks: list[Chunk], job: Job, progress: bool = True, script: bool = False
            ) -> tuple[np.ndarray, dict[str, Any]]:
    """Speak ``chunks`` (see ``Job``): (audio (n,) float32 at 24 kHz, report dict; ``script``: with its lines)."""
    from .report import long_form_report

    job.settings.check()
    started = time.perf_counter()
    pieces = Pieces(chunks, job)
    with progress_bar(total=len(chunks), unit="chunk", desc="speak", disable=not progress) as bar:
        (run_chained if job.settings.chain else run_in_order)(chunks, job, pieces, bar)
    audio, gain_db = pieces.joined()
    return audio, long_form_report(chunks, job, audio, gain_db, time.perf_counter() - started, script)


def speaker_reference(prompt: SpeakerPrompt, encoder, bark, sidecar=None, window: RecordingWindow | None = None,
                      warn: Callable[[str], None] | None = None) -> Reference:
    """A speaker's reference: the ``window`` (or reference) given, else its sidecar's stored embedding or window,
    else the prompt's own decode."""
    window = window or (sidecar_reference(sidecar, warn) if sidecar is not None else None)
    return reference_for(prompt, encoder, bark, window)


def speak_long(session, prompt: SpeakerPrompt, text: str, settings: LongFormSettings | None = None, *,
               reference: Reference | None = None, sidecar=None, reference_window: RecordingWindow | None = None,
               warn: Callable[[str], None] | None = None, voice=None, on_piece: PieceHandler | None = None,
               stop=None, hurry_first: bool = False, progress: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Speak ``text`` of any length in ``prompt``'s voice in ``session`` (a ``SpeakingSession``): (audio (n,)
    float32 at 24 kHz, report dict).

    The text is cut into chunks Bark can say whole; every chunk uses ``prompt`` (``settings.chain``: the previous
    chunk's generation). Each generated chunk is compared with the speaker's ``reference`` (default: the sidecar's
    stored embedding or source recording window, checked by ``sidecar_reference``, or ``reference_window``; else the
    prompt decoded by Bark's decoder; ``warn`` hears why a sidecar was not used), with the session's words check its transcript
    with its text, and retried with a new seed, up to ``settings.tries`` in all, while it is in another voice, off
    script, cut off, silent or implausibly long or short (each generation wears ``voice``'s adapters, through the
    session). The best try of each chunk is kept and reported.
    ``on_piece`` hears each chunk's audio as soon as it is ready, in order (``hurry_first``: the first chunk is
    generated alone, so it is ready soonest); setting ``stop`` ends the job (``SpeakStopped``) before its next
    generation.
    """
    from .chunking import plan_chunks

    settings = settings or LongFormSettings()
    settings.check()
    texts = plan_chunks(text, settings.language, settings.chunk_seconds, token_counter(session.bark))
    reference = reference or speaker_reference(prompt, session.encoder, session.bark, sidecar, reference_window,
                                               warn)
    speaker = SpeakingVoice("", prompt, reference, voice)
    job = Job(settings, session, on_piece=on_piece, stop=stop, hurry_first=hurry_first)
    return run_job([Chunk(piece, speaker, settings.pause) for piece in texts], job, progress)


def token_counter(bark) -> Callable[[str], int] | None:
    """Counts text tokens as Bark's processor does (None without a Bark: the chunker then over-counts bytes)."""
    tokenizer = getattr(getattr(bark, "processor", None), "tokenizer", None)
    if tokenizer is None:
        return None
    return lambda piece: len(tokenizer(piece, add_special_tokens=False)["input_ids"])
