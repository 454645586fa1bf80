"""The models the service runs on, each loaded once when first needed and shared by every job: the make-speaker
models, Bark (one, worn by each job's voice), the decoder, the listeners, the words check, the batcher and the
speaking session built on them. A model the server cannot load is a 503 whose reason only the log tells."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any

from ..errors import ApiError, UserError


class ModelHub:
    """Loads the make-speaker models and Bark once, when first needed, and hands them to every job."""

    def __init__(self, config: Any, recognizer: Any = None) -> None:  # a service.ServiceConfig
        """``recognizer``: what the words check (and the consent check) transcribes with instead of loading
        ``config.asr`` (anything with ``transcribe(audio_16k, language, text)``: an embedding application's own)."""
        self.config = config
        self._recognizer = recognizer
        self._lock = threading.Lock()
        self._speaker_models = None
        self._bark = None
        self._listeners = None
        self._switch = None
        self._batcher = None
        self._decoder = None
        self._session = None
        self._words: list = []  # [the words check or None], once decided

    def speaker_models(self):
        from ..prompting.pipeline import load_models

        with self._lock, self.unusable("make-speaker models"):
            if self._speaker_models is None:
                models = self.config.models
                self._speaker_models = load_models(models.hubert, models.encodec, models.quantizer,
                                                   self.config.bark.device)
            return self._speaker_models

    def bark(self):
        from ..bark.core import open_bark

        with self._lock, self.unusable("Bark model"):
            if self._bark is None:
                self._bark = open_bark(self.config.bark)
            return self._bark

    def decoder(self):
        """What turns a speaker's codes into its preview: Bark's decoder (EnCodec: the make-speaker one)."""
        from ..models.decoders import load_decoder
        from ..models.loading import resolve_device

        options = self.config.bark
        codec = self.speaker_models().encodec if options.decoder == "encodec" else None
        with self._lock, self.unusable("decoder"):
            if self._decoder is None:
                self._decoder = load_decoder(options.decoder, codec, options.vocos, resolve_device(options.device))
            return self._decoder

    def batcher(self):
        """The scheduler every job's generations go through: one Bark batch for every client's rows."""
        from .batcher import RowBatcher

        switch = self.voices()
        with self._lock:
            if self._batcher is None:
                self._batcher = RowBatcher(switch, self.config.batch_size, self.config.sampling)
            return self._batcher

    def voices(self):
        """The one Bark every job shares, as a ``VoiceSwitch``: a job wears its speaker's adapters, or none."""
        from ..voices.switch import VoiceSwitch

        bark = self.bark()
        with self._lock:
            if self._switch is None:
                self._switch = VoiceSwitch(bark)
            return self._switch

    def session(self):
        """The speaking session every /speak job shares: the shared Bark, the listeners, the words check, the
        batcher as generator and as what wears each batch's adapters."""
        from ..speaking.session import SpeakingSession

        batcher, (encoder, vad), words = self.batcher(), self.listeners(), self.words()
        with self._lock:
            if self._session is None:
                self._session = SpeakingSession(batcher.switch.bark, encoder, vad, words, batcher, batcher.wearing)
            return self._session

    def listeners(self):
        """The speaker encoder and the VAD that judge long-form chunks (the make-speaker ones, when loaded)."""
        from ..audio.speaker_encoder import load_voice_encoder
        from ..audio.speech import load_vad
        from ..models.loading import resolve_device

        with self._lock:
            if self._speaker_models is not None:
                return self._speaker_models.voice, self._speaker_models.vad
            if self._listeners is None:
                self._listeners = (load_voice_encoder(resolve_device(self.config.bark.device)), load_vad())
            return self._listeners

    def words(self):
        """The words check every /speak job uses (``WordsCheck``), or None when it is off."""
        from ..models.loading import resolve_device
        from ..models.recognizer import load_recognizer
        from ..speaking.consistency import WordsCheck

        with self._lock, self.unusable("speech recognizer"):
            if not self._words:
                if self._recognizer is not None:
                    self._words.append(WordsCheck(self._recognizer, self.config.max_wer))
                elif self.config.words_enabled:
                    device = resolve_device(self.config.bark.device)
                    self._words.append(WordsCheck(load_recognizer(self.config.asr, device), self.config.max_wer))
                else:
                    self._words.append(None)
            return self._words[0]

    @contextlib.contextmanager
    def unusable(self, what: str):
        """A model the server cannot load is the server's problem (503), told in full to its log only: the
        message names the server's folders."""
        try:
            yield
        except UserError as error:
            print(f"bark-clone serve: cannot load the {what}: {error}", file=sys.stderr, flush=True)
            raise ApiError(503, f"the server cannot load its {what}; its log says why") from None
