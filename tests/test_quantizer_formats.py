"""Quantizer files: the published GitMylo format (v0/v1), our folder format, and refusal of anything else."""

from __future__ import annotations

import json
import zipfile

import builders as testing
import numpy as np
import pytest
import torch
from hostile import Exploit

from bark_clone.errors import UserError
from bark_clone.prompting.quantizers import PUBLISHED, load_quantizer
from quantizer.formats import gitmylo_bytes, load_gitmylo, load_quantizer_path
from quantizer.models import QuantizerFormatError, predict_tokens, token_frame_indices


@pytest.mark.parametrize("version", [0, 1])
def test_published_format_round_trips_with_its_info_entry(tmp_path, version):
    path = testing.write_gitmylo_quantizer(tmp_path / "my_quantizer.pth", input_size=24, version=version,
                                           hidden_size=16)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        info = json.loads(archive.read("my_quantizer/.info"))
    assert all(name.startswith("my_quantizer/") for name in names)
    assert info == {"input_size": 24, "hidden_size": 16, "output_size": 10_000, "version": version}
    loaded = load_gitmylo(path)
    assert loaded.metadata["version"] == version
    assert loaded.config.intermediate_size == (4096 if version else 0)
    # the original loader's state-dict keys, exactly
    expected = {f"lstm.{kind}_l{layer}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                for layer in (0, 1)} | {"fc.weight", "fc.bias"} | ({"intermediate.weight", "intermediate.bias"}
                                                                     if version else set())
    assert set(torch.load(path, weights_only=True)) == expected


def test_file_without_info_is_v0_with_sizes_from_tensors(tmp_path):
    model, config = testing.random_lstm_quantizer(input_size=768, version=0)
    path = tmp_path / "old.pth"
    torch.save(model.state_dict(), path)  # the oldest published files: no .info at all
    loaded = load_gitmylo(path)
    assert (loaded.config.input_size, loaded.config.hidden_size, loaded.config.output_size) == (768, 1024, 10_000)
    assert loaded.metadata["version"] == 0


def test_info_that_contradicts_the_weights_is_refused(tmp_path):
    model, config = testing.random_lstm_quantizer(input_size=24, hidden_size=16)
    path = tmp_path / "liar.pth"
    path.write_bytes(gitmylo_bytes(model, config, "liar"))
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries["liar/.info"] = json.dumps({"input_size": 768, "hidden_size": 16, "output_size": 10_000,
                                        "version": 0}).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(QuantizerFormatError, match="input_size=768 but its weights have 24"):
        load_gitmylo(path)


def test_non_quantizers_are_refused_without_unpickling(tmp_path):
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(QuantizerFormatError, match="not a PyTorch checkpoint"):
        load_quantizer_path(tmp_path / "text.pth")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(QuantizerFormatError, match="lacks lstm.weight_ih_l0"):
        load_quantizer_path(tmp_path / "other.pth")

    marker = tmp_path / "pwned"
    torch.save({"lstm.weight_ih_l0": Exploit(marker)}, tmp_path / "evil.pth")
    with pytest.raises(QuantizerFormatError, match="could not be read as plain tensors"):
        load_quantizer_path(tmp_path / "evil.pth")
    assert not marker.exists()


def test_folder_lookup_finds_a_single_pth_and_refuses_ambiguity(tmp_path):
    testing.write_gitmylo_quantizer(tmp_path / "a.pth", input_size=24, hidden_size=16)
    assert load_quantizer_path(tmp_path).config.input_size == 24
    testing.write_gitmylo_quantizer(tmp_path / "b.pth", input_size=24, hidden_size=16)
    with pytest.raises(QuantizerFormatError, match="not exactly one .pth"):
        load_quantizer_path(tmp_path)


def test_app_loader_checks_width_and_names(tmp_path):
    path = testing.write_gitmylo_quantizer(tmp_path / "q.pth", input_size=24, hidden_size=16)
    with pytest.raises(UserError, match="expects 24-dim features but the HuBERT model gives 768"):
        load_quantizer(str(path), feature_size=768)
    with pytest.raises(UserError, match="not a known name"):
        load_quantizer("klingon")
    assert set(PUBLISHED) == {"en", "en-large", "pl", "de", "es", "pt", "ja", "tr", "it"}
    assert PUBLISHED["en"].version == 0 and PUBLISHED["en-large"].version == 1


def test_published_name_offline_says_how_to_use_a_local_copy():
    with pytest.raises(UserError) as error:
        load_quantizer("en")
    message = str(error.value)
    assert "GitMylo/bark-voice-cloning" in message and "--quantizer DIR" in message and "\n" not in message


def test_tokens_are_read_by_time_not_by_index():
    frames = token_frame_indices(n_tokens=2994, n_frames=3000, token_rate_hz=49.9, frame_rate_hz=50)
    assert frames[0] == 0 and frames[-1] == 2999
    # by index, token i would read frame i: after 60 s that is 6 frames (120 ms) early
    assert frames[-1] - (len(frames) - 1) == 6
    assert np.all(np.diff(frames) >= 1)


def test_predict_tokens_is_per_frame_argmax_read_by_time():
    model, _ = testing.random_lstm_quantizer(input_size=8, hidden_size=16)
    features = torch.randn(500, 8)
    tokens = predict_tokens(model.eval(), features, n_tokens=499, token_rate_hz=49.9, frame_rate_hz=50)
    with torch.no_grad():
        per_frame = model(features[None])[0].argmax(-1).numpy()
    expected = per_frame[np.floor((np.arange(499) + 0.5) / 49.9 * 50).astype(int)]
    np.testing.assert_array_equal(tokens, expected)
