"""Does the clone sound like the target? Bark speaks held-out sentences with each prompt; Resemblyzer compares.

Scores (KVoiceWalk's): target similarity (generations vs the target recording), self similarity (generations vs
each other: stability), feature similarity (spectral statistics), combined by a weighted harmonic mean.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .audio import resample
from .bark import generate, load_bark
from .constants import CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE, MIN_SPEECH_SECONDS
from .errors import UserError
from .prompt import SpeakerPrompt
from .voice import clone_score, embed, feature_similarity, spectral_features

EVALUATION_SENTENCES = [  # held out: none of them is in the built-in training texts
    "I think we should leave a little earlier tomorrow, just in case the roads are busy.",
    "The museum opens at nine, but the best exhibits are upstairs.",
    "Honestly, that was the strangest phone call I have had all year.",
    "Could you pass me the salt and the pepper, please?",
    "My brother repairs old radios in a workshop behind his house.",
    "We watched the storm roll in from the porch, drinking hot tea.",
    "It takes about twenty minutes to walk from the station to the harbour.",
    "She finally finished the painting she had started three summers ago.",
    "If the printer jams again, just switch it off and on.",
    "The kids want pancakes for breakfast, with far too much syrup.",
    "After the concert we talked for hours about the last song.",
    "Remember to lock the back door before you go to bed.",
]
REFINE_SENTENCES = 3  # per candidate window in make-speaker --refine


@dataclass
class Target:
    """The voice to match: the speech of one or more recordings, as an embedding and spectral statistics."""

    name: str
    embedding: np.ndarray  # (256,) unit vector
    features: np.ndarray  # (36,) spectral statistics
    speech_seconds: float


def target_from_recordings(recordings, encoder) -> Target:
    """Concatenate the recordings' speech (16 kHz) and describe it; ``UserError`` if there is none."""
    pieces = [recording.samples_16k[int(s.start * HUBERT_SAMPLE_RATE): int(s.end * HUBERT_SAMPLE_RATE)]
              for recording in recordings for s in recording.segments]
    speech = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    names = ", ".join(recording.label for recording in recordings)
    if len(speech) < MIN_SPEECH_SECONDS * HUBERT_SAMPLE_RATE:
        raise UserError(f"target {names} holds no usable speech to compare against")
    return Target(names, embed(encoder, speech), spectral_features(speech, HUBERT_SAMPLE_RATE),
                  len(speech) / HUBERT_SAMPLE_RATE)


def score_generations(generations: list[np.ndarray], target: Target, encoder) -> dict[str, float]:
    """Compare Bark's generations (24 kHz) with the target: the three similarities and their score."""
    clips = [resample(audio, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE) for audio in generations]
    clips = [clip if len(clip) >= HUBERT_SAMPLE_RATE // 4 else np.pad(clip, (0, HUBERT_SAMPLE_RATE // 4 - len(clip)))
             for clip in clips]
    embeddings = [embed(encoder, clip) for clip in clips]
    target_similarity = float(np.mean([embedding @ target.embedding for embedding in embeddings]))
    pairs = list(itertools.combinations(embeddings, 2))
    self_similarity = float(np.mean([a @ b for a, b in pairs])) if pairs else 1.0
    features = feature_similarity(spectral_features(np.concatenate(clips), HUBERT_SAMPLE_RATE), target.features)
    return {"target_similarity": target_similarity, "self_similarity": self_similarity,
            "feature_similarity": features,
            "score": clone_score(max(target_similarity, 0.0), max(self_similarity, 0.0), features)}


def speak_and_score(bark, voice: SpeakerPrompt | str | None, sentences: list[str], target: Target, encoder,
                    seed: int = 0) -> tuple[dict[str, float], list[np.ndarray]]:
    """Bark speaks ``sentences`` in ``voice`` (one batch); returns the scores and the generations."""
    generations = generate(bark, sentences, voice, seed=seed)
    return score_generations(generations, target, encoder), generations


class Refiner:
    """make-speaker --refine: keep the candidate prompt whose Bark speech scores best against the recording."""

    def __init__(self, bark_source: str, models) -> None:
        self.bark_source = bark_source
        self.bark = load_bark(bark_source, models.hubert.device)
        self.encoder = models.voice

    def best(self, speakers: list, recordings: list) -> Any:
        target = target_from_recordings(recordings, self.encoder)
        sentences = EVALUATION_SENTENCES[:REFINE_SENTENCES]
        results = []
        for speaker in speakers:
            scores, _ = speak_and_score(self.bark, speaker.prompt, sentences, target, self.encoder)
            results.append({"window": speaker.sidecar["window"], **{k: round(v, 4) for k, v in scores.items()}})
        best = max(range(len(speakers)), key=lambda index: results[index]["score"])
        chosen = speakers[best]
        chosen.sidecar["selection"]["refine"] = {"bark": self.bark_source, "sentences": len(sentences),
                                                 "chosen": best + 1, "candidates": results}
        return chosen


def nearest_preset(bark, presets: list[str], target: Target, encoder) -> tuple[str, float]:
    """The stock voice whose own prompt audio (decoded with Bark's codec) is closest to the target."""
    import torch

    best_name, best_similarity = presets[0], -2.0
    for name in presets:
        history = bark.processor("x", voice_preset=name)["history_prompt"]
        with torch.inference_mode():
            audio = bark.model.codec_decode(history["fine_prompt"][None].to(bark.device))[0]
        clip = resample(audio.float().cpu().numpy().reshape(-1), CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)
        similarity = float(embed(encoder, clip) @ target.embedding)
        if similarity > best_similarity:
            best_name, best_similarity = name, similarity
    return best_name, best_similarity


def transcript_prompt(bark, transcript: str, fine_codes: np.ndarray) -> SpeakerPrompt:
    """"Method 1", the recipe bark-clone replaces: semantic tokens generated from the transcript by Bark's text
    model, codes from the audio. The streams then describe different utterances (and lengths); nothing checks it."""
    import torch
    from transformers.models.bark.generation_configuration_bark import BarkSemanticGenerationConfig

    config = BarkSemanticGenerationConfig(**bark.model.generation_config.semantic_config)
    inputs = bark.processor(transcript)
    with torch.inference_mode():
        tokens = bark.model.semantic.generate(
            inputs["input_ids"].to(bark.device), attention_mask=inputs["attention_mask"].to(bark.device),
            semantic_generation_config=config, do_sample=True, temperature=0.7, min_eos_p=0.2)[0].cpu().numpy()
    stop = np.flatnonzero(tokens >= config.semantic_vocab_size)
    tokens = tokens[: stop[0] if len(stop) else len(tokens)]
    if len(tokens) == 0:
        tokens = np.zeros(1, dtype=np.int64)
    fine = np.asarray(fine_codes, dtype=np.int64)
    return SpeakerPrompt(tokens.astype(np.int64), fine[:2].copy(), fine)
