"""Model loading from folders (the same code path as hub ids), wrong kinds of folders, and the forward passes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from bark_clone.errors import UserError
from bark_clone.models import codecs
from bark_clone.models import loading as bark_models
from bark_clone.models.codecs import encodec_decode, encodec_encode, hubert_features, load_encodec, load_hubert


def test_hubert_features_equal_hidden_state_9_of_the_full_model(tiny, arctic_audio):
    from transformers import HubertModel

    samples, _ = arctic_audio
    hubert = load_hubert(str(tiny["hubert"]), torch.device("cpu"))
    assert len(hubert.model.encoder.layers) == 9  # layers after 9 are never computed
    features = hubert_features(hubert, samples)
    full = HubertModel.from_pretrained(tiny["hubert"]).eval()
    with torch.no_grad():
        reference = full(torch.from_numpy(samples)[None], output_hidden_states=True).hidden_states[9][0].numpy()
    assert features.shape == reference.shape == ((len(samples) - 400) // 320 + 1, 32)
    np.testing.assert_allclose(features, reference, atol=1e-5)


def test_long_audio_goes_through_hubert_in_chunks_with_context(tiny, monkeypatch):
    from builders import speech_like

    samples = speech_like(12.0)
    hubert = load_hubert(str(tiny["hubert"]), torch.device("cpu"))
    whole = hubert_features(hubert, samples)
    monkeypatch.setattr(codecs, "HUBERT_CHUNK_SECONDS", 3.0)
    monkeypatch.setattr(codecs, "HUBERT_CONTEXT_SECONDS", 1.0)
    calls = []
    original = hubert.model.forward
    monkeypatch.setattr(hubert.model, "forward", lambda *a, **k: calls.append(a[0].shape[-1]) or original(*a, **k))
    chunked = hubert_features(hubert, samples)
    assert len(calls) == 4 and max(calls) <= 5.1 * 16_000  # 3 s chunks plus 1 s either side
    assert chunked.shape == whole.shape
    # Chunks differ from one pass only through context beyond 1 s and the first conv's GroupNorm statistics,
    # so every frame must stay nearly parallel to the one-pass frame.
    cosine = (chunked * whole).sum(1) / (np.linalg.norm(chunked, axis=1) * np.linalg.norm(whole, axis=1))
    assert cosine.min() > 0.99, cosine.min()


def test_encodec_gives_8_codebooks_at_75_hz_and_decodes_back(tiny, arctic_audio):
    from bark_clone.audio.sound import resample

    samples, rate = arctic_audio
    audio_24k = resample(samples, rate, 24_000)
    codec = load_encodec(str(tiny["encodec"]), torch.device("cpu"))
    codes = encodec_encode(codec, audio_24k)
    assert codes.shape == (8, -(-len(audio_24k) // 320)) and codes.dtype == np.int64
    assert len(np.unique(codes[0])) > 20  # seeded codebooks: codes follow the audio
    assert encodec_decode(codec, codes).shape == (codes.shape[1] * 320,)


def test_wrong_kind_of_model_folder_is_named(tiny, tmp_path):
    cpu = torch.device("cpu")
    with pytest.raises(UserError, match="holds a 'encodec' model, not a HuBERT model"):
        load_hubert(str(tiny["encodec"]), cpu)
    with pytest.raises(UserError, match="holds a 'hubert' model, not an EnCodec model"):
        load_encodec(str(tiny["hubert"]), cpu)
    with pytest.raises(UserError, match="has no config.json"):
        load_hubert(str(tmp_path), cpu)
    with pytest.raises(UserError, match="not a single file"):
        load_hubert(str(tiny["quantizer"]), cpu)
    with pytest.raises(UserError, match="no such folder, and not a hub id"):
        load_hubert(str(tmp_path / "nowhere" / "deeper"), cpu)


def test_unknown_device_is_refused():
    with pytest.raises(UserError, match="unknown device"):
        bark_models.resolve_device("tpu")
    assert bark_models.resolve_device("cpu").type == "cpu"


def test_offline_hub_model_gives_one_line_with_the_local_copy_recipe(tmp_path, arctic):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-cache")}
    result = subprocess.run(
        [sys.executable, "-m", "bark_clone", "make-speaker", str(arctic), "-o", str(tmp_path / "out.npz"),
         "--hubert", "facebook/hubert-base-ls960"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "facebook/hubert-base-ls960" in lines[0] and "--hubert DIR" in lines[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "out.npz").exists()


def test_hub_id_loads_from_the_cache_offline_and_records_the_commit(tiny, tmp_path):
    """A hub id goes through the same path users hit; here the 'hub' is a pre-filled cache, as after a download."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "home" / "hub" / "models--test-org--tiny-hubert"
    shutil.copytree(tiny["hubert"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {**os.environ, "HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    code = ("import torch; from bark_clone.models.codecs import load_hubert; "
            "loaded = load_hubert('test-org/tiny-hubert', torch.device('cpu')); print(loaded.revision)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == commit
