"""The seams of the one Bark object, proven on their real paths: top-p sampling (a new field of ``Sampling``, its
flag, nothing else) and the Vocos decoder (chosen by --decoder wherever audio is made)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient
from test_vocos import reference, save_checkpoint

from bark_clone.errors import UserError
from bark_clone.options import BarkOptions, Sampling


@pytest.fixture(scope="module")
def vocos_folder(tmp_path_factory):
    return save_checkpoint(reference(seed=3), tmp_path_factory.mktemp("vocos") / "vocos")


@pytest.fixture(scope="module")
def tiny_bark(tiny):
    from bark_clone.bark.core import load_bark

    return load_bark(str(tiny["bark"]), "cpu")


def test_top_p_narrows_the_draw_and_one_keeps_every_token(tiny_bark):
    from bark_clone.bark.generation import generate

    rows = [("hello there my friend", None), ("a second sentence", "v2/en_speaker_1")]
    plain = generate(tiny_bark, rows, Sampling(), seed=7)
    same = generate(tiny_bark, rows, Sampling(top_p=1.0), seed=7)
    narrow = generate(tiny_bark, rows, Sampling(top_p=0.05), seed=7)
    for a, b, c in zip(plain, same, narrow):
        np.testing.assert_array_equal(a.semantic_tokens, b.semantic_tokens)
        np.testing.assert_array_equal(a.fine_codes, b.fine_codes)
        assert not np.array_equal(a.semantic_tokens, c.semantic_tokens)


def test_the_nucleus_keeps_the_likeliest_tokens_up_to_top_p():
    import torch

    from bark_clone.bark.sampling import keep_nucleus

    scores = torch.log(torch.tensor([[0.15, 0.5, 0.05, 0.3], [0.97, 0.01, 0.01, 0.01]]))
    kept = torch.isfinite(keep_nucleus(scores, 0.7))
    assert kept.tolist() == [[False, True, False, True], [True, False, False, False]]
    assert torch.isfinite(keep_nucleus(scores, 1.0)).all()  # top-p 1 keeps every token


@pytest.mark.parametrize("settings, message", [({"top_p": 0.0}, "--top-p must lie in"),
                                               ({"top_p": 1.5}, "--top-p must lie in"),
                                               ({"semantic_temperature": float("nan")}, "semantic temperature"),
                                               ({"top_k": 0}, "top-k")])
def test_sampling_is_checked_where_it_is_made(settings, message):
    with pytest.raises(UserError, match=message):
        Sampling(**settings)


def test_option_objects_are_built_by_keyword_and_checked_once():
    with pytest.raises(TypeError):
        BarkOptions("suno/bark")  # noqa - positional fields would silently swap
    with pytest.raises(UserError, match="--decoder wavenet: choose one of encodec, vocos"):
        BarkOptions(decoder="wavenet")
    with pytest.raises(UserError, match="--dtype float8"):
        BarkOptions(dtype="float8")
    from bark_clone.models.decoders import DECODERS
    from bark_clone.options import DECODER_NAMES

    assert tuple(DECODERS) == DECODER_NAMES


def test_speak_with_top_p_and_with_vocos(run_cli, arctic, model_args, tiny, vocos_folder, tmp_path):
    from bark_clone.models.vocos import decode_codes, load_vocos

    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    common = ["speak", "me.npz", "Hello there.", "--bark", tiny["bark"], "--device", "cpu", "--tries", "1",
              "--seed", "3", "--no-check-words"]
    results = {name: run_cli(*common, "-o", f"{name}.wav", *extra) for name, extra in {
        "plain": [], "nucleus": ["--top-p", "0.05"], "whole": ["--top-p", "1"],
        "vocos": ["--decoder", "vocos", "--vocos", vocos_folder]}.items()}
    assert all(result.exit_code == 0 for result in results.values()), {k: r.output for k, r in results.items()}
    audio = {name: soundfile.read(tmp_path / f"{name}.wav")[0] for name in results}
    np.testing.assert_array_equal(audio["plain"], audio["whole"])
    assert not np.array_equal(audio["plain"], audio["nucleus"])
    assert len(audio["vocos"]) == len(audio["plain"]) and not np.allclose(audio["vocos"], audio["plain"], atol=1e-3)
    import json

    reports = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in results}
    assert reports["nucleus"]["top_p"] == 0.05 and "top_p" not in reports["plain"]
    assert reports["vocos"]["decoder"] == "vocos" and "decoder" not in reports["plain"]
    result = run_cli(*common, "-o", "zero.wav", "--top-p", "0")
    assert result.exit_code == 2 and "0<x<=1" in result.output and not (tmp_path / "zero.wav").exists()
    # the decode command: a prompt's codes through Vocos, exactly as the decoder computes them
    assert run_cli("decode", "me.npz", "me-vocos.wav", "--decoder", "vocos", "--vocos", vocos_folder).exit_code == 0
    from bark_clone.prompting.format import SpeakerPrompt

    expected = decode_codes(load_vocos(str(vocos_folder)), SpeakerPrompt.load(tmp_path / "me.npz").fine_codes)
    heard, rate = soundfile.read(tmp_path / "me-vocos.wav", dtype="float32")
    assert rate == 24_000 and np.abs(heard - expected).max() < 1e-3  # 16-bit WAV


def test_the_server_decodes_and_samples_as_configured(config, hub, arctic, vocos_folder):
    from bark_clone.models.vocos import decode_codes, load_vocos
    from bark_clone.server.app import create_app
    from bark_clone.server.service import ModelHub
    from bark_clone.server.speaking import generation_identity

    vocos = replace(config, bark=replace(config.bark, decoder="vocos", vocos=str(vocos_folder)))
    nucleus = replace(config, sampling=Sampling(top_p=0.5))
    keys = {generation_identity(item) for item in (config, vocos, nucleus)}
    assert len(keys) == 3  # the cache never answers one configuration's audio for another's
    shared = ModelHub(vocos)
    shared._speaker_models = hub.speaker_models()
    client = TestClient(create_app(vocos, shared))
    assert client.post("/speakers", data={"name": "me"}, files={"audio": ("me.wav", arctic.read_bytes())}
                       ).status_code == 201
    preview = client.get("/speakers/me/preview.wav")
    assert preview.status_code == 200
    from bark_clone.prompting.format import SpeakerPrompt

    expected = decode_codes(load_vocos(str(vocos_folder)), SpeakerPrompt.load(config.speakers / "me.npz").fine_codes)
    heard, _ = soundfile.read(io.BytesIO(preview.content), dtype="float32")
    assert np.abs(heard - expected).max() < 1e-3
