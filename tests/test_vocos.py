"""Our Vocos decoder against the ``vocos`` package's own modules (an independent reference, installed without its
torchaudio requirement, the mel helpers it never calls here stubbed), on random weights saved in Vocos's own
checkpoint format; and its checkpoint read as data."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bark_clone.errors import UserError
from bark_clone.models.vocos import decode_codes, load_vocos

BANDWIDTHS = [1.5, 3.0, 6.0, 12.0]
SIZES = {"input_channels": 32, "dim": 48, "intermediate_dim": 96, "num_layers": 3}


def vocos_package():
    """The vocos package's modules, importable without torchaudio and encodec (only its mel-scale helpers and the
    EnCodec encoder use them, and neither runs when codes are decoded)."""
    for name in ("torchaudio", "torchaudio.functional", "torchaudio.functional.functional", "torchaudio.transforms"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchaudio.functional.functional"]._hz_to_mel = None
    sys.modules["torchaudio.functional.functional"]._mel_to_hz = None
    sys.modules.setdefault("encodec", types.ModuleType("encodec")).EncodecModel = None
    import vocos.feature_extractors
    import vocos.heads
    import vocos.models
    import vocos.pretrained

    return vocos


def config(n_fft: int = 80) -> dict:
    return {"feature_extractor": {"class_path": "vocos.feature_extractors.EncodecFeatures",
                                  "init_args": {"encodec_model": "encodec_24khz", "bandwidths": BANDWIDTHS}},
            "backbone": {"class_path": "vocos.models.VocosBackbone",
                         "init_args": {**SIZES, "adanorm_num_embeddings": len(BANDWIDTHS)}},
            "head": {"class_path": "vocos.heads.ISTFTHead",
                     "init_args": {"dim": SIZES["dim"], "n_fft": n_fft, "hop_length": 320, "padding": "same"}}}


def reference(seed: int = 0):
    """A Vocos of the package's own classes with random weights (norm and layer scale too, so none is trivial)."""
    package = vocos_package()
    torch.manual_seed(seed)
    backbone = package.models.VocosBackbone(**SIZES, adanorm_num_embeddings=len(BANDWIDTHS))
    head = package.heads.ISTFTHead(dim=SIZES["dim"], n_fft=640, hop_length=320, padding="same")
    features = package.feature_extractors.EncodecFeatures.__new__(package.feature_extractors.EncodecFeatures)
    torch.nn.Module.__init__(features)
    features.encodec = types.SimpleNamespace(quantizer=types.SimpleNamespace(bins=1024))
    features.codebook_weights = torch.nn.Parameter(torch.randn(16 * 1024, SIZES["input_channels"]))
    model = package.pretrained.Vocos(feature_extractor=features, backbone=backbone, head=head)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model.eval()


def save_checkpoint(model, folder: Path, n_fft: int = 640) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config(n_fft)))
    torch.save({key: value for key, value in model.state_dict().items()}, folder / "pytorch_model.bin")
    return folder


def test_vocos_equals_the_vocos_package_to_1e_5(tmp_path):
    model = reference()
    ours = load_vocos(str(save_checkpoint(model, tmp_path / "vocos")))
    codes = np.random.default_rng(0).integers(0, 1024, size=(8, 57))
    with torch.inference_mode():
        expected = model.decode(model.codes_to_features(torch.from_numpy(codes)),
                                bandwidth_id=torch.tensor([2]))[0].numpy()
    audio = decode_codes(ours, codes)
    assert audio.shape == (57 * 320,) == expected.shape
    assert np.abs(audio - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())
    other = np.random.default_rng(1).integers(0, 1024, size=(8, 57))
    assert np.abs(decode_codes(ours, other) - audio).max() > 1e-3  # the codes matter


def test_vocos_checkpoints_are_read_as_data(tmp_path):
    model = reference()
    folder = save_checkpoint(model, tmp_path / "good")
    state = model.state_dict()
    (tmp_path / "pickle").mkdir()
    (tmp_path / "pickle" / "config.yaml").write_text(yaml.safe_dump(config(640)))
    torch.save({"weights": state, "run": types.SimpleNamespace(x=1)}, tmp_path / "pickle" / "pytorch_model.bin")
    with pytest.raises(UserError, match="not a plain tensor checkpoint"):
        load_vocos(str(tmp_path / "pickle"))
    (folder / "config.yaml").write_text(yaml.safe_dump({**config(640), "head": {"class_path": "os.system"}}))
    with pytest.raises(UserError, match="its head is not vocos.heads.ISTFTHead"):
        load_vocos(str(folder))
    (folder / "config.yaml").write_text(yaml.safe_dump(config(640)).replace("6.0", "24.0"))
    with pytest.raises(UserError, match="bandwidths must include 6 kbps"):
        load_vocos(str(folder))
    save_checkpoint(model, folder, n_fft=1280)  # a config that does not fit the weights
    with pytest.raises(UserError, match="not a finite float tensor of shape"):
        load_vocos(str(folder))
    with pytest.raises(UserError, match="--vocos .*: no such folder, and not a hub id"):
        load_vocos(str(tmp_path / "missing" / "x"))


def test_a_vocos_hub_id_offline_is_the_offline_message(monkeypatch):
    from bark_clone.models import loading as models

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models.hub_offline.cache_clear()
    try:
        with pytest.raises(UserError, match="not in the local Hugging Face cache.*pass --vocos DIR"):
            load_vocos("charactr/not-a-cached-vocos")
    finally:
        models.hub_offline.cache_clear()


def peak_rss_since_reset() -> int:
    """This process's peak resident memory (bytes) since ``reset_peak_rss``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def test_a_config_declaring_a_huge_network_is_refused_before_it_is_built(tmp_path):
    """dim 8192 and 8192 layers beside a small valid weights file: 7.6 GB if built before the weights are compared
    with it; refused from its declared sizes within a few MB of memory; one within the cap that does not fit the
    weights is compared with them on the meta device; a too-large config says the real limit."""
    folder = save_checkpoint(reference(), tmp_path / "huge")
    document = config(640)
    document["backbone"]["init_args"].update(dim=8192, num_layers=8192, intermediate_dim=8192)
    document["head"]["init_args"]["dim"] = 8192
    (folder / "config.yaml").write_text(yaml.safe_dump(document))
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
    start = int(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                     if line.startswith("VmRSS:"))) * 1024
    with pytest.raises(UserError, match=r"declares a network of \d+ M parameters; a Vocos decoder has at most 100 M"):
        load_vocos(str(folder))
    document["backbone"]["init_args"].update(dim=2048, num_layers=8, intermediate_dim=2048)
    document["head"]["init_args"]["dim"] = 2048
    (folder / "config.yaml").write_text(yaml.safe_dump(document))  # 68 M parameters: 270 MB if it were built
    with pytest.raises(UserError, match="do not fit its config.yaml|not a finite float tensor of shape"):
        load_vocos(str(folder))
    assert peak_rss_since_reset() - start < 100 * 2**20
    (folder / "config.yaml").write_text("x: " + "y" * 70_000)
    with pytest.raises(UserError, match="larger than 64 KB"):
        load_vocos(str(folder))
