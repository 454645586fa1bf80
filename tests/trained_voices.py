"""Helpers of the voice tests: the ARCTIC speaker's phrases as a recording, train-voice's arguments with the tiny
models, and a voice folder's adapter tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from recordings import Layout, main_speaker_phrase, silence


def phrases_file(path: Path, arctic_audio) -> Path:
    """Six of the ARCTIC speaker's phrases at slightly different levels, with pauses: about 20 s of speech."""
    samples, _ = arctic_audio
    layout = Layout()
    for gain in (1.0, 0.8, 0.9, 1.0, 0.85, 0.95):
        layout.add(silence(1.2))
        layout.add(main_speaker_phrase(samples, gain), "main_phrases")
    layout.add(silence(1.2))
    return layout.write(path)


def train_arguments(phrases, tiny, output: str = "voice", *extra) -> list[str]:
    return ["train-voice", phrases, "-o", output, "--bark", tiny["bark"], "--hubert", tiny["hubert"], "--encodec",
            tiny["encodec"], "--quantizer", tiny["quantizer"], "--device", "cpu", "--steps", "6", "--batch-size",
            "4", "--rank", "4", *extra]


def adapter_tensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return {f"{stage}/{name}": value for stage in ("coarse", "fine")
            for name, value in load_file(folder / stage / "adapter_model.safetensors").items()}
