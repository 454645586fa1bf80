"""make-speaker --refine: Bark speaks held-out sentences with each candidate prompt, and the one whose speech
scores best against the recording is kept."""

from __future__ import annotations

from typing import Any

from ..bark.core import open_bark
from ..evaluate.evaluation import EVALUATION_SENTENCES, score_voices
from ..evaluate.scoring import target_from_recordings
from ..options import BarkOptions

REFINE_SENTENCES = 3  # per candidate window


class Refiner:
    """Holds Bark and the speaker encoder for one make-speaker run; ``best`` picks among candidate speakers."""

    def __init__(self, options: BarkOptions, models, batch_size: int | None = None) -> None:
        self.bark_source = options.source
        self.bark = open_bark(options, models.hubert.device)
        self.encoder = models.voice
        self.batch_size = batch_size  # rows (a candidate's sentence each) a generation; all by default

    def best(self, speakers: list, recordings: list) -> Any:
        """The candidate whose generations score best against ``recordings``; its sidecar records every score."""
        target = target_from_recordings(recordings, self.encoder)
        sentences = EVALUATION_SENTENCES[:REFINE_SENTENCES]
        scored = score_voices(self.bark, [speaker.prompt for speaker in speakers], sentences, target, self.encoder,
                              batch_size=self.batch_size)  # every candidate x sentence in one batch of rows
        results = [{"window": speaker.sidecar["window"], **{key: round(value, 4) for key, value in scores.items()}}
                   for speaker, (scores, _) in zip(speakers, scored)]
        best = max(range(len(speakers)), key=lambda index: results[index]["score"])
        chosen = speakers[best]
        chosen.sidecar["selection"]["refine"] = {"bark": self.bark_source, "sentences": len(sentences),
                                                 "chosen": best + 1, "candidates": results}
        return chosen
