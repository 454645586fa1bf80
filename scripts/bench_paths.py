"""The generation paths' rows of scripts/bench.py: evaluate, make-speaker --refine and the search's scoring, each
through its own function, with its sentences in one Bark generation (the default) against one sentence a
generation (``batch_size=1``). The tiny Bark: these rows show what batching a path saves in per-generation work;
the ``bark`` row shows what it saves in the network at real size."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

PROMPTS = 2  # voices (evaluate) or candidates (refine, search) per timed run


def random_prompts(count: int, seed: int) -> list:
    from bark_clone.prompting.format import SpeakerPrompt

    rng = np.random.default_rng(seed)
    return [SpeakerPrompt.from_streams(rng.integers(0, 10_000, 200), rng.integers(0, 1024, (8, 300)))
            for _ in range(count)]


def ratio_row(run, items: int, unit: str) -> dict:
    """``items`` per minute of ``run(batch_size)`` with every row (a voice's sentence) in one generation and with
    one a generation; a warm-up call first, so neither pays for first-call costs."""
    run(None)
    rates = {}
    for name, batch_size in (("batched", None), ("one_at_a_time", 1)):
        started = time.perf_counter()
        run(batch_size)
        rates[name] = 60 * items / (time.perf_counter() - started)
    return {"unit": unit, "batched_per_minute": round(rates["batched"], 2),
            "one_at_a_time_per_minute": round(rates["one_at_a_time"], 2),
            "speedup": round(rates["batched"] / rates["one_at_a_time"], 2), "model": "tiny Bark"}


def voice_target(encoder):
    from bench_inputs import ARCTIC  # the repository's ARCTIC clip: a real voice to score against

    from bark_clone.audio.speech import load_vad
    from bark_clone.evaluate.scoring import target_from_recordings
    from bark_clone.prompting.pipeline import analyse

    vad = load_vad()
    recording = analyse(ARCTIC, vad)
    return target_from_recordings([recording], encoder), recording, vad


def bench_evaluate(models_paths: dict, tiny: bool, device) -> dict:
    """evaluate: each voice speaks the default 5 sentences and is scored (``score_voices``, as evaluate does)."""
    from bark_clone.audio.speaker_encoder import load_voice_encoder
    from bark_clone.bark.core import load_bark
    from bark_clone.evaluate.evaluation import EVALUATION_SENTENCES, score_voices
    from bark_clone.requests import EvaluateRequest

    bark, encoder = load_bark(str(models_paths["bark"]), device), load_voice_encoder(device)
    target, _, _ = voice_target(encoder)
    sentences = EVALUATION_SENTENCES[: EvaluateRequest(speakers=[], targets=[], out=Path(".")).sentences]
    prompts = random_prompts(PROMPTS, 2)

    def run(batch_size):
        score_voices(bark, prompts, sentences, target, encoder, 0, batch_size)

    return {"sentences": len(sentences), **ratio_row(run, len(prompts), "voices")}


def bench_refine(models_paths: dict, work, tiny: bool, device) -> dict:
    """make-speaker --refine 2: the Refiner scores two candidate windows of a recording, 3 sentences each."""
    from bench_inputs import speech_file

    from bark_clone.clone.refine import Refiner
    from bark_clone.options import BarkOptions
    from bark_clone.prompting.pipeline import analyse, load_models, make_speakers

    models = load_models(str(models_paths["hubert"]), str(models_paths["encodec"]), str(models_paths["v0"]),
                         device.type)
    recordings = [analyse(speech_file(work / "refine.wav", 20), models.vad)]
    speakers = make_speakers(recordings, models, 6.0, candidates=PROMPTS)
    refiner = Refiner(BarkOptions(source=str(models_paths["bark"]), device=str(device)), models)

    def run(batch_size):
        refiner.batch_size = batch_size
        refiner.best(speakers, recordings)

    return {"candidates": len(speakers), **ratio_row(run, len(speakers), "candidates")}


def bench_search_scoring(models_paths: dict, tiny: bool, device) -> dict:
    """The search: each candidate speaks the 3 scoring sentences and is checked and scored (``score_candidates``,
    with the search's own generator)."""
    from bark_clone.audio.speaker_encoder import load_voice_encoder
    from bark_clone.bark.core import load_bark
    from bark_clone.evaluate.evaluation import EVALUATION_SENTENCES
    from bark_clone.search.candidates import Candidate, score_candidates
    from bark_clone.search.steps import SearchSettings
    from bark_clone.speaking.longform import bark_generator

    bark, encoder = load_bark(str(models_paths["bark"]), device), load_voice_encoder(device)
    target, _, vad = voice_target(encoder)
    sentences = EVALUATION_SENTENCES[: SearchSettings().sentences]
    prompts = random_prompts(PROMPTS, 1)
    rejected = []

    def run(batch_size):
        candidates = [Candidate(prompt, "window", []) for prompt in prompts]
        score_candidates(candidates, bark_generator(bark, batch_size=batch_size), sentences, 0, target, encoder, vad)
        rejected.extend(candidate.rejected is not None for candidate in candidates)

    row = ratio_row(run, len(prompts), "candidates")
    return {"sentences": len(sentences), "rejected_as_silent": sum(rejected[-len(prompts):]), **row}
