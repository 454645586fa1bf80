"""The words check's ear: a speech recognizer loaded like every other model (hub id or folder, the offline message,
device), Whisper through transformers by default or any CTC model (wav2vec2, HuBERT or WavLM with a CTC head)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..constants import HUBERT_SAMPLE_RATE
from ..errors import UserError
from ..files import read_json_file
from .loading import Loaded, load_pretrained

WHAT = "a speech recognizer (Whisper, or a CTC model such as wav2vec2)"
MAX_WHISPER_TOKENS = 440  # Whisper's decoder holds 448 positions, a few of them its start tokens
WHISPER_START_TOKENS = 8  # start of transcript, language, task, no-timestamps, with room to spare
MAX_POSITIONS = 1 << 16
MAX_LANGUAGES = 1000  # Whisper knows 100
MAX_CONFIG_BYTES = 4 * 2**20  # generation_config.json and config.json are a few KB (Whisper's largest is 4 KB)
WARM_UP_SECONDS = 1.0  # heard once at load: a recognizer that cannot transcribe fails before Bark speaks
TOKENS_PER_CHARACTER = 0.5  # a generous bound on Whisper's text tokens per character spoken (English is ~0.25)


def _ctc(loaded: Loaded, processor, audio: np.ndarray, language: str, text: str, beams: int = 1) -> str:
    import torch

    values = processor(audio, sampling_rate=HUBERT_SAMPLE_RATE, return_tensors="pt").input_values
    with torch.inference_mode():
        logits = loaded.model(values.to(loaded.device)).logits
    return processor.batch_decode(logits.argmax(dim=-1).cpu())[0]


def _whisper(loaded: Loaded, processor, audio: np.ndarray, language: str, text: str, beams: int = 1) -> str:
    """Whisper's transcript; a chunk that may need more tokens than the decoder holds is heard in parts."""
    import torch

    room = whisper_room(loaded.model)
    wanted = 8 + int(TOKENS_PER_CHARACTER * len(text))
    parts = -(-wanted // room)
    if parts > 1:  # split at equal times, the text's share with each: never asks the decoder for more than it has
        pieces = np.array_split(audio, parts)
        share = -(-len(text) // parts)
        return " ".join(_whisper(loaded, processor, piece, language, text[:share], beams) for piece in pieces)
    features = processor(audio, sampling_rate=HUBERT_SAMPLE_RATE, return_tensors="pt").input_features
    options: dict[str, Any] = {"max_new_tokens": min(room, wanted), "num_beams": beams}
    if f"<|{language}|>" in whisper_languages(loaded.model):
        options.update(language=language, task="transcribe")  # else Whisper detects it (or a test model cannot)
    with torch.inference_mode():
        ids = loaded.model.generate(features.to(loaded.device, loaded.model.dtype), **options)
    return processor.batch_decode(ids.cpu(), skip_special_tokens=True)[0]


def whisper_room(model) -> int:
    """New tokens Whisper may write: its decoder's positions less its start tokens (440 for OpenAI's models)."""
    positions = getattr(model.config, "max_target_positions", None)
    if not isinstance(positions, int) or isinstance(positions, bool) or not 16 <= positions <= MAX_POSITIONS:
        raise UserError(f"the recognizer's max_target_positions is {str(positions)[:40]}; Whisper's is 448")
    return min(MAX_WHISPER_TOKENS, positions - WHISPER_START_TOKENS)


def whisper_languages(model) -> dict[str, int]:
    """The language tokens its generation config names, checked as data (a dict of at most a few hundred)."""
    languages = getattr(model.generation_config, "lang_to_id", None) or {}
    if not isinstance(languages, dict) or len(languages) > MAX_LANGUAGES or not all(
            isinstance(key, str) and isinstance(value, int) for key, value in languages.items()):
        raise UserError("the recognizer's generation config has a lang_to_id that is not a table of language "
                        "tokens")
    return languages


@dataclass(frozen=True)
class Kind:
    """One family of recognizers: the transformers class that loads it and how it transcribes."""

    model_class: str
    transcribe: Callable[[Loaded, Any, np.ndarray, str, str, int], str]
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
    beams: int = 1  # Whisper's beam search width (the benchmark's protocol decodes with 5)

    def transcribe(self, audio_16k: np.ndarray, language: str = "en", text: str = "") -> str:
        """What is said in (n,) float32 audio at 16 kHz; ``text`` (what should be said) bounds Whisper's output."""
        if len(audio_16k) == 0:
            return ""
        try:
            return self.kind.transcribe(self.loaded, self.processor, np.asarray(audio_16k, np.float32), language,
                                        text, self.beams)
        except (RuntimeError, ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
            first = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
            raise UserError(f"the words check's recognizer ({self.loaded.source}) failed: {first}") from None


def load_recognizer(source: str, device, beams: int = 1) -> Recognizer:
    """A recognizer from a hub id or a folder holding the model, its feature extractor and its tokenizer files."""
    from transformers import AutoProcessor

    from .loading import hub_offline

    local = Path(source).expanduser()
    for name in ("config.json", "generation_config.json"):  # transformers reads them whole: bounded first
        if local.is_dir() and (local / name).exists() and read_json_file(local / name, MAX_CONFIG_BYTES) is None:
            raise UserError(f"--asr {source}: {name} is not JSON in a regular file of at most "
                            f"{MAX_CONFIG_BYTES // 2**20} MB")
    loaded = load_pretrained(source, tuple(KINDS), _ByKind, WHAT, "--asr", device)
    try:
        processor = AutoProcessor.from_pretrained(str(local) if local.exists() else source,
                                                  local_files_only=hub_offline())
    except (OSError, ValueError, TypeError) as error:
        raise UserError(f"--asr {source}: its processor (feature extractor and tokenizer files) cannot be loaded "
                        f"({str(error).splitlines()[0][:160] if str(error) else type(error).__name__})") from None
    if not hasattr(processor, "batch_decode") or not hasattr(processor, "feature_extractor"):
        raise UserError(f"--asr {source} has no tokenizer beside its feature extractor, so it cannot write words")
    recognizer = Recognizer(loaded, processor, KINDS[loaded.model.config.model_type], beams)
    try:  # heard once now, so a recognizer that cannot transcribe fails here, never after Bark has spoken
        recognizer.transcribe(np.zeros(int(WARM_UP_SECONDS * HUBERT_SAMPLE_RATE), np.float32), "en", "warm up")
    except UserError as error:
        raise UserError(f"--asr {source}: {error}") from None
    return recognizer


def words_wanted(check_words: bool | None, asr: str) -> bool:
    """Whether the words check runs: as asked, or by default when a recognizer was named or the default one is in
    the local cache (speak and the server both ask here)."""
    from ..constants import DEFAULT_ASR

    return check_words if check_words is not None else (asr != DEFAULT_ASR or recognizer_available(asr))


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
