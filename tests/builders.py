"""Random-weight models saved with ``save_pretrained``, so tests and benchmarks run the same loading code as users.

Nothing here downloads anything. ``tiny=True`` builds models small enough for CPU tests; ``tiny=False`` builds the
real architectures (HuBERT base, EnCodec 24 kHz, Bark) with random weights, for timing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bark_clone.constants import CODEBOOK_SIZE, CODEC_SAMPLE_RATE

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + [
    "the", "a", "hello", "voice", "clone", "bark", "is", "this", "test", "##s", "##ing", ".", ",", "!", "?",
]


def build_hubert(folder: Path, tiny: bool = True, seed: int = 0) -> Path:
    """A random HuBERT saved to ``folder``: tiny (hidden 32, 10 layers) or base-sized (768, 12 layers, 94 M)."""
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    if tiny:
        config = HubertConfig(
            hidden_size=32, num_hidden_layers=10, num_attention_heads=2, intermediate_size=64,
            conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        )
    else:
        config = HubertConfig()  # the defaults are hubert-base-ls960's architecture
    HubertModel(config).save_pretrained(folder)
    return Path(folder)


def encodec_config(tiny: bool = True):
    """EnCodec 24 kHz (75 Hz frames, 8 codebooks at 6 kbps); tiny shrinks only the widths."""
    from transformers import EncodecConfig

    if not tiny:
        return EncodecConfig()  # the defaults are encodec_24khz's architecture
    return EncodecConfig(
        num_filters=4, hidden_size=16, codebook_size=CODEBOOK_SIZE, num_lstm_layers=1,
        upsampling_ratios=[8, 5, 4, 2], target_bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0],
        sampling_rate=CODEC_SAMPLE_RATE,
    )


def seed_codebooks(model, seed: int = 0) -> None:
    """Fill EnCodec's residual codebooks with encoder outputs of noise and tones.

    Random-init codebooks are all zeros, which would make every code 0; seeded ones make codes vary with the audio.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    seconds = 4
    time = torch.arange(seconds * CODEC_SAMPLE_RATE) / CODEC_SAMPLE_RATE
    tones = torch.stack([torch.sin(2 * torch.pi * f * time) for f in (110.0, 220.0, 440.0, 880.0)])
    noise = 0.3 * torch.randn(4, seconds * CODEC_SAMPLE_RATE, generator=generator)
    with torch.no_grad():
        embeddings = model.encoder(torch.cat([tones, noise])[:, None])  # (8, D, T)
        residual = embeddings.permute(0, 2, 1).reshape(-1, embeddings.shape[1])
        for layer in model.quantizer.layers:
            picks = torch.randint(0, residual.shape[0], (CODEBOOK_SIZE,), generator=generator)
            layer.codebook.embed.copy_(residual[picks] + 1e-3 * torch.randn(CODEBOOK_SIZE, residual.shape[1],
                                                                          generator=generator))
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
            indices = torch.cdist(residual, layer.codebook.embed).argmin(dim=1)
            residual = residual - layer.codebook.embed[indices]


def build_encodec(folder: Path, tiny: bool = True, seed: int = 0) -> Path:
    """A random EnCodec 24 kHz with seeded codebooks, saved to ``folder``."""
    import torch
    from transformers import EncodecModel

    torch.manual_seed(seed)
    model = EncodecModel(encodec_config(tiny)).eval()
    seed_codebooks(model, seed)
    model.save_pretrained(folder)
    return Path(folder)


BARK_SIZES = {  # (hidden size, layers, heads) of each stage
    "tiny": (32, 1, 2),
    "small": (768, 12, 12),  # suno/bark-small
    "large": (1024, 24, 16),  # suno/bark
}


def build_bark(folder: Path, tiny: bool = True, seed: int = 0, semantic_max_new_tokens: int | None = None,
               size: str | None = None) -> Path:
    """A random Bark with the real vocabulary sizes, a tokenizer and a generation config, saved to ``folder``.

    ``size`` "tiny" (the default when ``tiny``): 1 layer, width 32, at most 48 semantic tokens per generation.
    "small" and "large" (the default otherwise): suno/bark-small's and suno/bark's widths, at most 768.
    ``semantic_max_new_tokens`` overrides the limit for any size.
    """
    import torch
    from transformers import (
        BarkCoarseConfig,
        BarkConfig,
        BarkFineConfig,
        BarkModel,
        BarkProcessor,
        BarkSemanticConfig,
        BertTokenizer,
        GenerationConfig,
    )
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    torch.manual_seed(seed)
    size_name = size or ("tiny" if tiny else "large")
    hidden, layers, heads = BARK_SIZES[size_name]
    tiny = size_name == "tiny"
    size = dict(hidden_size=hidden, num_layers=layers, num_heads=heads)
    config = BarkConfig(
        semantic_config=BarkSemanticConfig(input_vocab_size=129_600, output_vocab_size=10_048, **size).to_dict(),
        coarse_acoustics_config=BarkCoarseConfig(input_vocab_size=12_096, output_vocab_size=12_096, **size).to_dict(),
        fine_acoustics_config=BarkFineConfig(input_vocab_size=1_056, output_vocab_size=1_056, **size).to_dict(),
        codec_config=encodec_config(tiny).to_dict(),
    )
    model = BarkModel(config).eval()
    seed_codebooks(model.codec_model, seed)
    limit = semantic_max_new_tokens or (48 if tiny else 768)  # Bark's own limit: 768 tokens, about 15 s
    semantic = BarkSemanticGenerationConfig(max_new_tokens=limit)
    generation = BarkGenerationConfig(
        semantic_config=semantic.to_dict(),
        coarse_acoustics_config=BarkCoarseGenerationConfig().to_dict(),
        fine_acoustics_config=BarkFineGenerationConfig().to_dict(),
        sample_rate=CODEC_SAMPLE_RATE,
        codebook_size=CODEBOOK_SIZE,
    )
    model.generation_config = GenerationConfig.from_dict(generation.to_dict())
    model.save_pretrained(folder)
    vocab = Path(folder) / "vocab.txt"
    vocab.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    BarkProcessor(tokenizer=BertTokenizer(str(vocab))).save_pretrained(folder)
    write_stock_voices(Path(folder), ["v2/en_speaker_0", "v2/en_speaker_1"], seed)
    return Path(folder)


def write_stock_voices(folder: Path, names: list[str], seed: int = 0) -> None:
    """Stock voice presets in the layout BarkProcessor reads (``speaker_embeddings_path.json`` + .npy files)."""
    import json

    rng = np.random.default_rng(seed)
    index = {"repo_or_path": str(folder)}
    for name in names:
        arrays = {"semantic_prompt": rng.integers(0, 10_000, 200), "coarse_prompt": None,
                  "fine_prompt": rng.integers(0, CODEBOOK_SIZE, (8, 300))}
        arrays["coarse_prompt"] = arrays["fine_prompt"][:2]
        index[name] = {}
        for key, array in arrays.items():
            relative = f"speaker_embeddings/{name}_{key}.npy"
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            np.save(folder / relative, array.astype(np.int64))
            index[name][key] = relative
    (folder / "speaker_embeddings_path.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


def random_lstm_quantizer(input_size: int, version: int = 0, hidden_size: int = 1024, output_size: int = 10_000,
                  seed: int = 0):
    """A published-shape LSTM quantizer (v0 or v1) with random weights, and its config."""
    import torch

    from quantizer.models import V1_INTERMEDIATE_SIZE, QuantizerConfig, build_quantizer

    torch.manual_seed(seed)
    config = QuantizerConfig("lstm", input_size, output_size, hidden_size, 2,
                             V1_INTERMEDIATE_SIZE if version == 1 else 0)
    return build_quantizer(config), config


def write_gitmylo_quantizer(path: Path, input_size: int, version: int = 0, hidden_size: int = 64,
                            seed: int = 0) -> Path:
    """A random quantizer in the published file format (``torch.save`` zip plus ``<stem>/.info``)."""
    from quantizer.formats import gitmylo_bytes

    model, config = random_lstm_quantizer(input_size, version, hidden_size, seed=seed)
    Path(path).write_bytes(gitmylo_bytes(model, config, Path(path).stem))
    return Path(path)


def speech_like(seconds: float, sample_rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """Voiced, syllable-modulated noise: (n,) float32. Useful where any audio will do, not as a VAD target."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.5 * time)
    voiced = sum(np.sin(2 * np.pi * k * np.cumsum(pitch) / sample_rate) / k for k in range(1, 8))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * time))
    return (0.2 * envelope * voiced + 0.01 * rng.standard_normal(len(time))).astype(np.float32)
