"""bark-clone search: a KVoiceWalk-style search for the prompt whose Bark speech sounds most like the target.

Start from the best windows of the recordings and the nearest stock voices; at each step expand the best
candidates by window moves and bootstraps, score the new ones (the evaluate score on fixed held-out sentences and
seeds), keep the best K. Everything lives in ``--work``: rerunning continues, and no candidate is scored twice.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import MAX_SEED
from ..errors import UserError
from .candidates import BOOTSTRAP_SENTENCES, Candidate, bootstrap, score_candidates, window_candidate, window_moves
from .state import SearchState, load_state, save_state

BOOTSTRAPS_PER_PARENT = 2  # sentences Bark speaks with each parent per step, in one batch


class SearchStopped(UserError):
    """The search was cancelled from outside (the server: its speaker was deleted); its last saved state stays."""


@dataclass
class SearchSettings:
    """The search's fixed settings (a resumed search must keep them) and its budget (which may grow)."""

    keep: int = 4
    sentences: int = 3
    seed: int = 0
    max_seconds: float = 14.0
    language: str = "en"
    windows: int = 4
    presets: int = 2
    steps: int | None = None
    minutes: float | None = None
    patience: int = 3
    batch_size: int | None = None  # rows (a candidate's sentence each) a Bark generation; all of a step by default

    def fixed(self) -> dict[str, Any]:
        values = asdict(self)
        return {key: values[key] for key in ("keep", "sentences", "seed", "max_seconds", "language", "windows",
                                             "presets")}

    def check(self) -> None:
        if self.steps is None and self.minutes is None:
            raise UserError("give the search a budget: --steps N and/or --minutes M")
        if (self.steps is not None and self.steps < 1) or (self.minutes is not None and not self.minutes > 0):
            raise UserError("--steps must be at least 1 and --minutes positive")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"--seed must lie in 0..{MAX_SEED}")
        if self.keep < 1 or self.patience < 1 or self.sentences < 2:
            raise UserError("--keep and --patience must be at least 1, --sentences at least 2 (self similarity)")


@dataclass
class Context:
    """What a search step needs: the recordings, models, Bark (or a stand-in generator), target and settings."""

    recordings: list
    models: Any
    generator: Any
    target: Any
    encoder: Any
    vad: Any
    settings: SearchSettings
    scoring_sentences: list[str] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)  # what a resumed search must share with this one
    stop: Any = None  # a threading.Event: once set, the search stops before its next candidate (SearchStopped)
    starts: list = field(default_factory=list)  # candidates that join the first population (a voice's prompt)

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise SearchStopped("the search was cancelled")

    def score(self, candidates: list[Candidate]) -> None:
        score_candidates(candidates, self.generator, self.scoring_sentences, self.settings.seed, self.target,
                         self.encoder, self.vad)


def step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank, 7]).generate_state(1)[0] % 2**31)


def window_children(context: Context, parent: Candidate, step: int) -> list[Candidate]:
    """A window parent's moved windows (none for other parents, or a resumed search whose recording was renamed)."""
    last, children = parent.lineage[-1], []
    sources = [index for index, recording in enumerate(context.recordings) if recording.label == last.get("source")]
    if last["kind"] != "window" or not sources:
        return children
    for start, end in window_moves(context.recordings[sources[0]], *last["window"], context.settings.max_seconds):
        try:
            children.append(window_candidate(context.recordings, sources[0], start, end, context.models,
                                             parent.lineage[:-1] + [{**last, "moved_to": [start, end]}], step))
        except UserError:
            pass
    return children


def bootstrap_children(context: Context, parents: list[Candidate], step: int) -> list[Candidate]:
    """Bark speaks two bootstrap sentences with every parent, all parents in one batch; a prompt cut from each."""
    from ..speaking.longform import generate_rows_with

    rows, seeds, owners = [], [], []
    for rank, parent in enumerate(parents):
        seed = step_seed(context.settings.seed, step, rank)
        for offset in range(BOOTSTRAPS_PER_PARENT):
            pick = (step * BOOTSTRAPS_PER_PARENT + rank + offset) % len(BOOTSTRAP_SENTENCES)
            rows.append((BOOTSTRAP_SENTENCES[pick], parent.prompt))
            seeds.append(seed + offset)
            owners.append((parent, pick, seed))
    children = []
    for (parent, pick, seed), generation in zip(owners, generate_rows_with(context.generator, rows, seeds)):
        try:
            children.append(bootstrap(parent, generation, pick, seed, context.settings.max_seconds, step))
        except UserError:  # too short to be a prompt
            pass
    return children


def score_new(state: SearchState, context: Context, candidates: list[Candidate], work: Path) -> None:
    """Score the candidates the state has not seen (content-addressed: a known prompt is never scored again), as
    many a Bark batch as ``--batch-size`` holds (all at once by default); a stop is heard between batches."""
    fresh = list({candidate.id: candidate for candidate in candidates if candidate.id not in state.candidates}.values())
    sentences = max(len(context.scoring_sentences), 1)
    per_batch = max(1, (context.settings.batch_size or sentences * max(len(fresh), 1)) // sentences)
    for first in range(0, len(fresh), per_batch):
        context.check_stop()
        chunk = fresh[first: first + per_batch]
        context.score(chunk)
        for candidate in chunk:
            state.add(candidate, work)


def run_search(context: Context, work: Path, progress: bool = True, on_step=None) -> SearchState:
    """Run (or continue) the search in ``work`` until its budget or patience runs out; returns the state."""
    from ..progress import progress_bar

    settings = context.settings
    started = time.monotonic()
    state = load_state(work, context.identity)
    total = settings.steps if settings.steps is not None else 0
    with progress_bar(total=total or None, initial=min(state.step, total), unit="step", desc="search",
                      disable=not progress) as bar:
        while True:
            if state.step >= (settings.steps if settings.steps is not None else 10**9):
                break
            if settings.minutes is not None and time.monotonic() - started > 60 * settings.minutes:
                break
            if state.step > 0 and state.stale >= settings.patience:
                break
            context.check_stop()
            parents = state.best(settings.keep)
            children = [child for parent in parents for child in window_children(context, parent, state.step + 1)]
            children += bootstrap_children(context, parents, state.step + 1)
            score_new(state, context, children, work)
            state.finish_step(settings.keep)
            save_state(work, state)
            if on_step is not None:
                on_step(state)
            bar.update(1)
            best = state.best(1)[0]
            bar.set_postfix_str(f"best {best.score:.3f} (target {best.scores['target_similarity']:.3f}, self "
                                f"{best.scores['self_similarity']:.3f}, feature "
                                f"{best.scores['feature_similarity']:.3f})")
    return state


def start_population(context: Context, bark, work: Path) -> SearchState:
    """The first candidates (the best windows and the nearest stock voices), scored; or the state already there."""
    from ..prompting.pipeline import choose_windows
    from .candidates import nearest_presets, require_some

    settings = context.settings
    state = load_state(work, context.identity)
    if state.candidates:
        require_some(list(state.candidates.values()))
        return state
    windows = choose_windows(context.recordings, context.encoder, settings.max_seconds, count=settings.windows)
    population = list(context.starts) + [window_candidate(context.recordings, window.source, window.start,
                                                          window.end, context.models) for window in windows]
    if bark is not None and settings.presets:
        population += nearest_presets(bark, settings.language, context.target, context.encoder, settings.presets)
    score_new(state, context, population, work)
    if not state.ranked():
        save_state(work, state)  # search.json then says why each candidate was rejected
        require_some(list(state.candidates.values()))
    state.finish_step(settings.keep, initial=True)
    save_state(work, state)
    return state
