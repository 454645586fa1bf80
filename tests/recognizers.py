"""Random-weight speech recognizers saved with ``save_pretrained`` (model, feature extractor and tokenizer files), so
the words check runs the same loading code as for users; and a stand-in recognizer whose transcripts are known."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

LETTERS = list("abcdefghijklmnopqrstuvwxyz'")


def build_ctc(folder: Path, seed: int = 0) -> Path:
    """A tiny wav2vec2 with a CTC head over letters, and its processor (character vocabulary)."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: i + 5 for i, c in enumerate(LETTERS)}}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(sampling_rate=16_000, return_attention_mask=False)
    torch.manual_seed(seed)
    config = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
                            num_conv_pos_embedding_groups=4, pad_token_id=0)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_whisper(folder: Path, seed: int = 0) -> Path:
    """A tiny Whisper (2 layers, width 32) with a byte-level tokenizer of letters and Whisper's special tokens."""
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
    vocab = {token: index for index, token in enumerate(LETTERS + ["Ġ", "!", ".", ","] + specials)}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = WhisperTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                                 unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                 additional_special_tokens=specials[1:])
    ids = {token: vocab[token] for token in specials}
    torch.manual_seed(seed)
    config = WhisperConfig(vocab_size=len(vocab), d_model=32, encoder_layers=2, decoder_layers=2,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                           decoder_ffn_dim=64, num_mel_bins=80, max_source_positions=1500, max_target_positions=64,
                           pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"],
                           eos_token_id=ids["<|endoftext|>"], decoder_start_token_id=ids["<|startoftranscript|>"],
                           suppress_tokens=[], begin_suppress_tokens=[])
    model = WhisperForConditionalGeneration(config)
    model.generation_config.forced_decoder_ids = None
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
                     ).save_pretrained(folder)
    return folder


@dataclass
class ScriptedRecognizer:
    """Hears every chunk as its own text, except the texts the test names: ``dropped`` hears them without their
    last words (the first try only, or every try for ``always``). ``heard`` records every transcription."""

    dropped: dict[str, str] = field(default_factory=dict)  # chunk text -> what is heard on its first try
    always: set[str] = field(default_factory=set)  # chunk texts misheard on every try
    heard: list[tuple[str, str]] = field(default_factory=list)

    def transcribe(self, audio_16k, language: str = "en", text: str = "") -> str:
        tries = sum(1 for said, _ in self.heard if said == text)
        misheard = text in self.dropped and (tries == 0 or text in self.always)
        transcript = self.dropped[text] if misheard else text
        self.heard.append((text, transcript))
        return transcript


@dataclass
class ConsentListener:
    """Hears the consent statement only in the recordings it is told say it (recognised by their sound, so being
    handed another file shows), anything else said as a consent as other words, and every chunk as its own text.
    ``heard`` records what it was given: ("consent N", "other consent" or "chunk", the text asked for)."""

    saying_it: list = field(default_factory=list)  # 16 kHz recordings that say the statement
    heard: list[tuple[str, str]] = field(default_factory=list)

    def transcribe(self, audio_16k, language: str = "en", text: str = "") -> str:
        from bark_clone.audio.overlap import shared_audio
        from bark_clone.speaking.consent import statement_for

        if text != statement_for(language):
            self.heard.append(("chunk", text))
            return text
        for number, recording in enumerate(self.saying_it):
            if shared_audio(audio_16k, recording) >= 0.9:
                self.heard.append((f"consent {number}", text))
                return text
        self.heard.append(("other consent", text))
        return "I would rather nobody copied my voice at all"
