"""Shared fixtures: tiny random-weight models saved with save_pretrained, the ARCTIC clip, and a CLI runner."""

from __future__ import annotations

import os

# No test may reach the hub: fail fast, the way a user without network would.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import shutil
from pathlib import Path

import builders as testing
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from bark_clone.options import BarkOptions, ModelSources

DATA = Path(__file__).parent / "data"
ARCTIC = DATA / "arctic_a0007.wav"


@pytest.fixture(scope="session")
def arctic() -> Path:
    """CMU ARCTIC a0007: 4 s of one speaker, 16 kHz mono (licence in tests/data)."""
    return ARCTIC


@pytest.fixture(scope="session")
def arctic_audio() -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(ARCTIC, dtype="float32")
    return samples, rate


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """Tiny HuBERT (10 layers, width 32), seeded EnCodec, tiny Bark and a v0 quantizer for width-32 features."""
    root = tmp_path_factory.mktemp("tiny-models")
    paths = {
        "hubert": testing.build_hubert(root / "hubert"),
        "encodec": testing.build_encodec(root / "encodec"),
        "bark": testing.build_bark(root / "bark"),
        "quantizer": testing.write_gitmylo_quantizer(root / "quantizer_v0.pth", input_size=32, version=0),
    }
    return paths


@pytest.fixture(scope="session")
def models(tiny):
    """The tiny models loaded through the same function the CLI uses."""
    from bark_clone.prompting.pipeline import load_models

    return load_models(str(tiny["hubert"]), str(tiny["encodec"]), str(tiny["quantizer"]), "cpu")


@pytest.fixture(scope="session")
def hub(tiny):
    """Tiny models for the HTTP service, loaded once for every server in the session (as one server does)."""
    from bark_clone.server.service import ModelHub, ServiceConfig

    return ModelHub(ServiceConfig(bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                                  models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                                      quantizer=str(tiny["quantizer"]))))


@pytest.fixture()
def config(tmp_path, tiny):
    """A service configuration over the tiny models, with small limits (1 MB uploads, 60 s recordings)."""
    from bark_clone.server.service import ServiceConfig

    return ServiceConfig(speakers=tmp_path / "speakers", bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                         models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                             quantizer=str(tiny["quantizer"])),
                         max_upload_bytes=1024 * 1024, max_audio_seconds=60)


@pytest.fixture()
def client(config, hub):
    from fastapi.testclient import TestClient

    from bark_clone.server.app import create_app

    return TestClient(create_app(config, hub))


@pytest.fixture()
def model_args(tiny) -> list[str]:
    return ["--hubert", str(tiny["hubert"]), "--encodec", str(tiny["encodec"]), "--quantizer", str(tiny["quantizer"]),
            "--device", "cpu"]


@pytest.fixture()
def run_cli(monkeypatch, tmp_path):
    """Run ``bark-clone ARGS`` in-process, in a fresh working folder; returns click's Result."""
    from bark_clone.cli.main import cli

    monkeypatch.chdir(tmp_path)

    def run(*args: str):
        return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)

    return run


def write_audio(path: Path, samples: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    soundfile.write(path, samples, rate, subtype=subtype)
    return path


@pytest.fixture()
def copy_arctic(tmp_path):
    def copy(name: str = "voice.wav") -> Path:
        target = tmp_path / name
        shutil.copy(ARCTIC, target)
        return target

    return copy


class BarkChecksPassed(Exception):
    """Raised by the patched preload: Bark got past every assertion on the history prompt."""


def _import_bark_generation():
    """suno's bark.generation from the bark==0.1.5 wheel, with a stand-in for the encodec package it imports.

    The stand-in is only seen by bark's own import line; nothing here ever encodes audio with it.
    """
    import importlib.machinery
    import sys
    import types

    if "bark.generation" not in sys.modules:
        stub = types.ModuleType("encodec")
        stub.__spec__ = importlib.machinery.ModuleSpec("encodec", None)
        stub.EncodecModel = object
        previous = sys.modules.get("encodec")
        sys.modules["encodec"] = stub
        try:
            import bark.generation  # noqa: F401
        finally:
            if previous is None:
                del sys.modules["encodec"]
            else:
                sys.modules["encodec"] = previous
    return sys.modules["bark.generation"]


@pytest.fixture()
def bark_checks(monkeypatch):
    """``check(path)`` runs Bark's own generate_* functions on a prompt; it raises AssertionError if Bark rejects it.

    Bark asserts on the history prompt before loading any model, so the preload is patched to stop right there.
    """
    generation = _import_bark_generation()

    def stop(*args, **kwargs):
        raise BarkChecksPassed

    monkeypatch.setattr(generation, "preload_models", stop)
    monkeypatch.setattr(generation, "models", {})

    def check(path: Path) -> None:
        calls = (
            lambda: generation.generate_text_semantic("hello there", history_prompt=str(path)),
            lambda: generation.generate_coarse(np.arange(1, 60), history_prompt=str(path)),
            lambda: generation.generate_fine(np.zeros((2, 30), dtype=np.int64), history_prompt=str(path)),
        )
        for call in calls:
            with pytest.raises(BarkChecksPassed):
                call()

    return check


@pytest.fixture(scope="session")
def bark_presets() -> list[Path]:
    """The 271 speaker prompts shipped in the bark==0.1.5 wheel (found without importing bark)."""
    import importlib.util

    spec = importlib.util.find_spec("bark")
    assert spec is not None and spec.submodule_search_locations, "bark==0.1.5 must be installed (--no-deps)"
    root = Path(list(spec.submodule_search_locations)[0]) / "assets" / "prompts"
    presets = sorted(root.rglob("*.npz"))
    assert len(presets) == 271
    return presets


@pytest.fixture(scope="session")
def generated(tiny, tmp_path_factory) -> Path:
    """8 Bark samples from the tiny model, in 2 shards."""
    out = tmp_path_factory.mktemp("generated") / "data"
    from bark_clone.requests import GenerateOptions
    from bark_clone.training.generate import generate_data

    generate_data(out, GenerateOptions(samples=8, bark=str(tiny["bark"]), batch_size=4, shard_size=4), "cpu",
                  progress=False)
    return out


@pytest.fixture(scope="session")
def voices(arctic):
    """The guard's listeners and a known speaker: the GE2E encoder, the VAD, ARCTIC a0007's phrase at 24 kHz and
    its reference embedding."""
    from standins import arctic_speech

    from bark_clone.audio.speaker_encoder import embed, load_voice_encoder
    from bark_clone.audio.speech import load_vad
    from bark_clone.speaking.consistency import Reference

    encoder = load_voice_encoder()
    samples, _ = soundfile.read(arctic, dtype="float32")
    return {"encoder": encoder, "vad": load_vad(), "speaker": arctic_speech(arctic),
            "reference": Reference(embed(encoder, samples), "recording", "a0007")}
