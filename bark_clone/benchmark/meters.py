"""The benchmark's meters, loaded like every model (hub id or folder, the offline message): the word error rate as
Seed-TTS-eval computes it (a recognizer's transcript and the target text, both normalised by the protocol's rules,
scored with jiwer) and speaker similarity (cosine of speaker-verification embeddings through transformers'
``WavLMForXVector``; and our GE2E). Our SIM meter is not the papers' (WavLM-large with an ECAPA-TDNN head from
UniSpeech, whose checkpoint we have no faithful loader for): the report names the model in every table."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import HUBERT_SAMPLE_RATE
from ..errors import UserError

CHARACTER_LANGUAGES = frozenset({"zh", "ja", "ko"})  # scored by characters (CER), as the protocol does for zh
WHISPER_BEAMS = 5  # the protocol decodes with a beam of 5


def protocol_punctuation() -> str:
    """Every character the protocol removes: Python's ASCII punctuation and zhon's CJK punctuation."""
    from zhon.hanzi import punctuation

    return punctuation + string.punctuation


def normalise(text: str, language: str) -> str:
    """Seed-TTS-eval's normalisation: every punctuation character removed (the apostrophe too), double spaces made
    single; then characters spaced out for zh/ja/ko, lower case for every other language."""
    for character in protocol_punctuation():
        text = text.replace(character, "")
    text = text.replace("  ", " ")
    if language in CHARACTER_LANGUAGES:
        return " ".join(text)
    return text.lower()


def error_rate(truth: str, heard: str, language: str) -> float | None:
    """The protocol's WER (CER for zh/ja/ko) of ``heard`` against ``truth``; None when the truth has no words."""
    import jiwer

    reference, hypothesis = normalise(truth, language).strip(), normalise(heard, language).strip()
    if not reference:
        return None
    if not hypothesis:
        return 1.0  # every word deleted
    return float(jiwer.wer(reference, hypothesis))


@dataclass
class SpeakerVerifier:
    """A speaker-verification model: unit embeddings of 16 kHz audio, compared by cosine."""

    loaded: Any
    extractor: Any

    def embed(self, audio_16k: np.ndarray) -> np.ndarray:
        import torch

        inputs = self.extractor(np.asarray(audio_16k, np.float32), sampling_rate=HUBERT_SAMPLE_RATE,
                                return_tensors="pt")
        with torch.inference_mode():
            vector = self.loaded.model(inputs["input_values"].to(self.loaded.device)).embeddings[0]
        vector = vector.float().cpu().numpy()
        return vector / max(float(np.linalg.norm(vector)), 1e-12)


def load_verifier(source: str, device) -> SpeakerVerifier:
    """``WavLMForXVector`` and its feature extractor from a hub id or folder (a WavLM without its x-vector head
    is refused: transformers would give it a random one)."""
    from transformers import AutoFeatureExtractor, WavLMForXVector

    from ..models.loading import hub_offline, load_pretrained

    loaded = load_pretrained(source, ("wavlm",), WavLMForXVector, "a speaker-verification model", "--sim-model",
                             device)
    if "WavLMForXVector" not in (loaded.model.config.architectures or []):
        raise UserError(f"--sim-model {source} is a WavLM without a speaker-verification (x-vector) head")
    try:
        extractor = AutoFeatureExtractor.from_pretrained(source, local_files_only=hub_offline())
    except (OSError, ValueError) as error:
        raise UserError(f"--sim-model {source}: its feature extractor cannot be loaded "
                        f"({str(error).splitlines()[0][:120] if str(error) else type(error).__name__})") from None
    return SpeakerVerifier(loaded, extractor)


@dataclass
class Meters:
    """What scores a generation: the recognizer (WER), the verifier (SIM) and our GE2E encoder, with the names the
    report prints beside every number."""

    recognizer: Any
    verifier: SpeakerVerifier
    encoder: Any
    wer_model: str
    sim_model: str

    def score(self, audio_16k: np.ndarray, target_text: str, language: str, prompt: dict[str, np.ndarray],
              reference: dict[str, np.ndarray] | None) -> dict[str, Any]:
        """One generation's scores: WER, SIM-o against the prompt's audio, SIM-r against the target's own
        recording where the list has one, GE2E against the prompt; and the transcript."""
        from ..audio.speaker_encoder import embed

        heard = self.recognizer.transcribe(audio_16k, language, target_text)
        embedding, ours = self.verifier.embed(audio_16k), embed(self.encoder, audio_16k)
        scores = {"wer": error_rate(target_text, heard, language), "transcript": heard,
                  "sim_o": float(embedding @ prompt["sim"]), "ge2e": float(ours @ prompt["ge2e"])}
        if reference is not None:
            scores["sim_r"] = float(embedding @ reference["sim"])
        return scores

    def embeddings(self, audio_16k: np.ndarray) -> dict[str, np.ndarray]:
        """A recording's embeddings, computed once per prompt."""
        from ..audio.speaker_encoder import embed

        return {"sim": self.verifier.embed(audio_16k), "ge2e": embed(self.encoder, audio_16k)}


def load_meters(wer_model: str, sim_model: str, device) -> Meters:
    from ..audio.speaker_encoder import load_voice_encoder
    from ..models.recognizer import load_recognizer

    return Meters(load_recognizer(wer_model, device, beams=WHISPER_BEAMS), load_verifier(sim_model, device),
                  load_voice_encoder(device), wer_model, sim_model)
