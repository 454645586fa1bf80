"""The speaker encoder: Resemblyzer's model and mel features, rebuilt without importing librosa or Resemblyzer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bark_clone.audio.speaker_encoder import dominant_centroid, embed, load_voice_encoder, mel_spectrogram
from bark_clone.evaluate.scoring import clone_score, feature_similarity, spectral_features


def test_mel_spectrogram_equals_librosas(arctic_audio):
    import librosa

    samples = arctic_audio[0]
    reference = librosa.feature.melspectrogram(y=samples, sr=16_000, n_fft=400, hop_length=160, n_mels=40).T
    ours = mel_spectrogram(samples)
    assert ours.shape == reference.shape == (len(samples) // 160 + 1, 40)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5 * reference.max())


def test_encoder_equals_resemblyzers_voice_encoder(arctic_audio):
    from resemblyzer import VoiceEncoder

    reference = VoiceEncoder("cpu", verbose=False)
    ours = load_voice_encoder("cpu")
    mels = torch.from_numpy(np.stack([mel_spectrogram(arctic_audio[0])[start: start + 160] for start in (0, 150)]))
    with torch.no_grad():
        np.testing.assert_allclose(ours(mels).numpy(), reference(mels).numpy(), atol=1e-6)
    whole = reference.embed_utterance(arctic_audio[0] * 0.5)
    assert embed(ours, arctic_audio[0]) @ whole > 0.99  # partial schedule and levelling differ slightly


def test_dominant_centroid_ignores_a_minority_speaker():
    rng = np.random.default_rng(0)
    main, other = rng.standard_normal(256), rng.standard_normal(256)
    main, other = main / np.linalg.norm(main), other / np.linalg.norm(other)
    cloud = np.concatenate([main + 0.2 * rng.standard_normal((70, 256)) / 16,
                            other + 0.2 * rng.standard_normal((30, 256)) / 16])
    cloud /= np.linalg.norm(cloud, axis=1, keepdims=True)
    centroid = dominant_centroid(cloud)
    assert centroid @ main > 0.98 and centroid @ other < 0.3
    assert (cloud.mean(0) / np.linalg.norm(cloud.mean(0))) @ main < centroid @ main  # the plain mean is dragged


def test_clone_score_is_kvoicewalks_weighted_harmonic_mean(arctic_audio):
    assert clone_score(0.8, 0.9, 0.5) == pytest.approx(1.0 / (0.48 / 0.8 + 0.5 / 0.9 + 0.02 / 0.5))
    assert clone_score(1, 1, 1) == 1.0
    features = spectral_features(arctic_audio[0], 16_000)
    assert features.shape == (36,) and feature_similarity(features, features) == 1.0
    assert feature_similarity(features * 3, features) < 0.5


def test_mel_in_blocks_equals_one_pass(arctic_audio):
    samples = np.tile(arctic_audio[0], 3)
    np.testing.assert_allclose(mel_spectrogram(samples, block_frames=97), mel_spectrogram(samples), rtol=1e-5,
                               atol=1e-7)
