"""What every speaking job of a process shares, built once: ``bark-clone speak`` and the server both open one
``SpeakingSession`` and hand it to ``speak_long`` and ``speak_script``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

from . import longform
from .consistency import WordsCheck
from .longform import SpeakingVoice, speaker_reference


@dataclass
class SpeakingSession:
    """Bark, the listeners that judge a try (speaker encoder, VAD), the words check (None: off), the generator
    (None: Bark's own batched path, sampled as each job's settings say; tests pass voices known in advance) and how
    Bark wears a voice's adapters for a batch (``wear(voice)``, a context manager; None: Bark as loaded, where a
    one-voice process has merged its adapters)."""

    bark: Any
    encoder: Any
    vad: Any
    words: WordsCheck | None = None
    generator: Any = None
    wear: Callable[[Any], Any] | None = None

    @classmethod
    def open(cls, bark, words: WordsCheck | None = None, **parts: Any) -> SpeakingSession:
        """A session on ``bark`` with the speaker encoder (on Bark's device) and silero's VAD loaded."""
        from ..audio.speaker_encoder import load_voice_encoder
        from ..audio.speech import load_vad

        return cls(bark, load_voice_encoder(getattr(bark, "device", None)), load_vad(), words, **parts)

    def speaker(self, name: str, prompt, voice=None, window=None, sidecar=None, warn=None) -> SpeakingVoice:
        """A voice a job speaks in, with the reference its chunks are judged against (the recording ``window``, the
        sidecar's, or else the prompt decoded by Bark's decoder)."""
        return SpeakingVoice(name, prompt, speaker_reference(prompt, self.encoder, self.bark, sidecar, window, warn),
                             voice)

    def generator_for(self, sampling) -> Any:
        return self.generator or longform.bark_generator(self.bark, sampling=sampling)

    def wearing(self, voice) -> Any:
        return self.wear(voice) if self.wear is not None else contextlib.nullcontext()
