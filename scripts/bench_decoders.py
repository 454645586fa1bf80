"""The decoders row of scripts/bench.py: seconds of decoding per second of audio, EnCodec's own decoder against
Vocos (``--decoder vocos``), in float32 and bfloat16. Both at their published sizes with random weights (the
architecture sets the time); Vocos saved in its checkpoint format and read by our loader, as a user's would be."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

# charactr/vocos-encodec-24khz's config.yaml (tiny: a small network, to check the row works)
VOCOS_SIZES = {False: {"input_channels": 128, "dim": 384, "intermediate_dim": 1152, "num_layers": 8, "n_fft": 1280},
               True: {"input_channels": 32, "dim": 48, "intermediate_dim": 96, "num_layers": 2, "n_fft": 640}}
FRAMES = {False: 750, True: 150}  # 10 s and 2 s of codes


def write_vocos(folder: Path, tiny: bool) -> Path:
    """A Vocos checkpoint (config.yaml, pytorch_model.bin) with random weights, at the published or a tiny size."""
    import torch
    import yaml

    from bark_clone.models.vocos import CLASSES, vocos_network, vocos_settings

    sizes = VOCOS_SIZES[tiny]
    bandwidths = [1.5, 3.0, 6.0, 12.0]
    config = {"feature_extractor": {"class_path": CLASSES["feature_extractor"],
                                    "init_args": {"encodec_model": "encodec_24khz", "bandwidths": bandwidths}},
              "backbone": {"class_path": CLASSES["backbone"],
                           "init_args": {key: sizes[key] for key in ("input_channels", "dim", "intermediate_dim",
                                                                     "num_layers")}
                           | {"adanorm_num_embeddings": len(bandwidths)}},
              "head": {"class_path": CLASSES["head"], "init_args": {"dim": sizes["dim"], "n_fft": sizes["n_fft"],
                                                                   "hop_length": 320, "padding": "same"}}}
    settings = vocos_settings(config, "bench")
    settings["codebook_rows"] = 16 * 1024
    network = vocos_network(settings)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.normal_(0, 0.02)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(network.state_dict(), folder / "pytorch_model.bin")
    return folder


def seconds_per_audio_second(decoder, codes: np.ndarray, repeats: int = 2) -> float:
    decoder.decode([codes[:, :10]])  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        decoder.decode([codes])
        times.append(time.perf_counter() - started)
    return min(times) / (codes.shape[1] / 75)


def bench_decoders(encodec_folder: Path, work: Path, tiny: bool, device) -> dict:
    """Per dtype: EnCodec's and Vocos's decode time per second of audio, and Vocos's time over EnCodec's."""
    import torch
    from bench_bark import device_dtypes

    from bark_clone.models.codecs import encodec_decode, load_encodec
    from bark_clone.models.decoders import Decoder
    from bark_clone.models.vocos import decode_codes, load_vocos

    codes = np.random.default_rng(0).integers(0, 1024, (8, FRAMES[tiny]))
    vocos_folder = write_vocos(work / "vocos", tiny)
    rows = []
    for dtype in device_dtypes(device):
        codec, vocos = load_encodec(str(encodec_folder), device), load_vocos(str(vocos_folder), device)
        codec.model.to(getattr(torch, dtype))
        vocos.model.to(getattr(torch, dtype))
        decoders = {"encodec": Decoder("encodec", codec.source, lambda frames: encodec_decode(codec, frames)),
                    "vocos": Decoder("vocos", vocos.source, lambda frames: decode_codes(vocos, frames))}
        timings = {name: seconds_per_audio_second(decoder, codes) for name, decoder in decoders.items()}
        rows.append({"dtype": dtype, "encodec_seconds_per_audio_second": round(timings["encodec"], 4),
                     "vocos_seconds_per_audio_second": round(timings["vocos"], 4),
                     "vocos_over_encodec": round(timings["vocos"] / timings["encodec"], 3)})
    return {"device": device.type, "audio_seconds": FRAMES[tiny] / 75,
            "vocos": "tiny" if tiny else "charactr/vocos-encodec-24khz sizes", "rows": rows}


def print_decoders(row: dict) -> None:
    print(f"\ndecoders ({row['device']}, {row['audio_seconds']:g} s of codes; Vocos at {row['vocos']}): seconds of "
          "decoding per second of audio")
    for entry in row["rows"]:
        print(f"  {entry['dtype']:>9}: EnCodec {entry['encodec_seconds_per_audio_second']:.4f}, Vocos "
              f"{entry['vocos_seconds_per_audio_second']:.4f} (Vocos/EnCodec {entry['vocos_over_encodec']:.2f}x)")
