"""The words check's ear: a speech recognizer loaded like every other model (hub id or folder, the offline message,
device), Whisper through transformers by default or any CTC model (wav2vec2, HuBERT or WavLM with a CTC head)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..clone.models import Loaded, load_pretrained
from ..constants import HUBERT_SAMPLE_RATE
from ..errors import UserError

WHAT = "a speech recognizer (Whisper, or a CTC model such as wav2vec2)"
MAX_WHISPER_TOKENS = 440  # Whisper's decoder holds 448 positions, a few of them its start tokens
TOKENS_PER_CHARACTER = 0.5  # a generous bound on Whisper's text tokens per character spoken (English is ~0.25)


def _ctc(loaded: Loaded, processor, audio: np.ndarray, language: str, text: str) -> str:
    import torch

    values = processor(audio, sampling_rate=HUBERT_SAMPLE_RATE, return_tensors="pt").input_values
    with torch.inference_mode():
        logits = loaded.model(values.to(loaded.device)).logits
    return processor.batch_decode(logits.argmax(dim=-1).cpu())[0]


def _whisper(loaded: Loaded, processor, audio: np.ndarray, language: str, text: str) -> str:
    import torch

    features = processor(audio, sampling_rate=HUBERT_SAMPLE_RATE, return_tensors="pt").input_features
    options: dict[str, Any] = {"max_new_tokens": min(MAX_WHISPER_TOKENS, 8 + int(TOKENS_PER_CHARACTER * len(text)))}
    if f"<|{language}|>" in (getattr(loaded.model.generation_config, "lang_to_id", None) or {}):
        options.update(language=language, task="transcribe")  # else Whisper detects it (or a test model cannot)
    with torch.inference_mode():
        ids = loaded.model.generate(features.to(loaded.device, loaded.model.dtype), **options)
    return processor.batch_decode(ids.cpu(), skip_special_tokens=True)[0]


@dataclass(frozen=True)
class Kind:
    """One family of recognizers: the transformers class that loads it and how it transcribes."""

    model_class: str
    transcribe: Callable[[Loaded, Any, np.ndarray, str, str], str]
    needs: str = ""  # what its architecture name must contain (a CTC head)


KINDS = {"whisper": Kind("WhisperForConditionalGeneration", _whisper),
         **{name: Kind("AutoModelForCTC", _ctc, "ForCTC")
            for name in ("wav2vec2", "wav2vec2-conformer", "hubert", "wavlm", "data2vec-audio", "sew", "sew-d",
                         "unispeech", "unispeech-sat")}}


class _ByKind:
    """``load_pretrained``'s model class: the class of the recognizer kind the folder's config names."""

    @staticmethod
    def from_pretrained(where, config, **options):
        import transformers

        kind = KINDS[config.model_type]
        if kind.needs and not any(kind.needs in name for name in (config.architectures or [])):
            raise UserError(f"--asr {where} holds a {config.model_type!r} model without a CTC head, not {WHAT}")
        return getattr(transformers, kind.model_class).from_pretrained(where, config=config, **options)


@dataclass
class Recognizer:
    """A loaded recognizer and its processor (feature extractor and tokenizer)."""

    loaded: Loaded
    processor: Any
    kind: Kind

    def transcribe(self, audio_16k: np.ndarray, language: str = "en", text: str = "") -> str:
        """What is said in (n,) float32 audio at 16 kHz; ``text`` (what should be said) bounds Whisper's output."""
        if len(audio_16k) == 0:
            return ""
        return self.kind.transcribe(self.loaded, self.processor, np.asarray(audio_16k, np.float32), language, text)


def load_recognizer(source: str, device) -> Recognizer:
    """A recognizer from a hub id or a folder holding the model, its feature extractor and its tokenizer files."""
    from transformers import AutoProcessor

    from ..clone.models import hub_offline

    loaded = load_pretrained(source, tuple(KINDS), _ByKind, WHAT, "--asr", device)
    local = Path(source).expanduser()
    try:
        processor = AutoProcessor.from_pretrained(str(local) if local.exists() else source,
                                                  local_files_only=hub_offline())
    except (OSError, ValueError, TypeError) as error:
        raise UserError(f"--asr {source}: its processor (feature extractor and tokenizer files) cannot be loaded "
                        f"({str(error).splitlines()[0][:160] if str(error) else type(error).__name__})") from None
    if not hasattr(processor, "batch_decode") or not hasattr(processor, "feature_extractor"):
        raise UserError(f"--asr {source} has no tokenizer beside its feature extractor, so it cannot write words")
    return Recognizer(loaded, processor, KINDS[loaded.model.config.model_type])


def recognizer_available(source: str) -> bool:
    """Whether ``source`` can be loaded without a download: a local folder, or a hub id in the local cache (the
    words check is on by default then)."""
    if Path(source).expanduser().exists():
        return True
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(source, "config.json"), str)
    except ValueError:  # not a valid hub id
        return False
