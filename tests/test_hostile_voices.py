"""Voice folders are data: an adapter whose configuration or weights could reach the base model is refused in one
line before peft or torch sees it, and the server's shared Bark stays the base model after every job, so one voice
folder never changes another speaker's audio (hardening, round three)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trained_voices import phrases_file, train_arguments

from bark_clone.options import BarkOptions, ModelSources

STAGE = "coarse"


@pytest.fixture(scope="module")
def good_voice(tmp_path_factory, tiny, arctic_audio) -> Path:
    from bark_clone.cli.main import cli

    root = tmp_path_factory.mktemp("hostile-voices")
    phrases = phrases_file(root / "me.wav", arctic_audio)
    arguments = train_arguments(str(phrases), tiny, str(root / "good"), "--steps", "4")
    result = CliRunner().invoke(cli, [str(value) for value in arguments], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root / "good"


def tensors_of(voice: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(voice / STAGE / "adapter_model.safetensors")


def variant(good: Path, root: Path, name: str, config=None, tensors=None, raw: bytes | None = None) -> Path:
    """A copy of the good voice with its coarse adapter's configuration or weights changed."""
    from safetensors.numpy import save_file

    folder = root / name
    shutil.copytree(good, folder)
    adapter = folder / STAGE
    if config is not None:
        document = json.loads((adapter / "adapter_config.json").read_text())
        (adapter / "adapter_config.json").write_text(json.dumps(config(document)))
    if tensors is not None:
        save_file(tensors(tensors_of(good)), adapter / "adapter_model.safetensors")
    if raw is not None:
        (adapter / "adapter_model.safetensors").write_bytes(raw)
    return folder


def first_key(tensors: dict) -> str:
    return sorted(tensors)[0]


CONFIGS = {
    "pissa initialisation": (lambda d: {**d, "init_lora_weights": "pissa"}, "init_lora_weights"),
    "modules to save": (lambda d: {**d, "modules_to_save": ["lm_head"]}, "modules_to_save"),
    "layer replication": (lambda d: {**d, "layer_replication": [[0, 1], [0, 1]]}, "layer_replication"),
    "dora": (lambda d: {**d, "use_dora": True}, "use_dora"),
    "other targets": (lambda d: {**d, "target_modules": ["lm_head", "att_proj"]}, "target_modules"),
    "target regex": (lambda d: {**d, "target_modules": ".*"}, "target_modules"),
    "rank 10^8 in 1 KB": (lambda d: {**d, "r": 10**8}, "rank r=100000000"),
    "rank as text": (lambda d: {**d, "r": "4"}, "rank"),
    "not lora": (lambda d: {**d, "peft_type": "PREFIX_TUNING"}, "not a LoRA adapter configuration"),
    "an unknown field": (lambda d: {**d, "run_this": "rm -rf"}, "'run_this'"),
    "a rank pattern": (lambda d: {**d, "rank_pattern": {"att_proj": 64}}, "rank_pattern"),
    "not json": (None, "not JSON"),
}
WEIGHTS = {
    "a base weight too": (lambda t: {**t, "base_model.model.layers.0.attn.att_proj.base_layer.weight":
                                     np.full((96, 32), 0.5, np.float32)}, "base_layer.weight is not a LoRA weight"),
    "a large base weight": (lambda t: {**t, "base_model.model.lm_head.weight": np.zeros((12096, 32), np.float32)},
                            "larger than rank 4 allows"),
    "no adapter tensors": (lambda t: {}, "holds no adapter tensors"),
    "a missing tensor": (lambda t: {k: v for k, v in t.items() if k != first_key(t)}, "is missing"),
    "not finite": (lambda t: {k: (v * np.nan if k == first_key(t) else v) for k, v in t.items()}, "not finite"),
    "another rank": (lambda t: {k: np.repeat(v, 2, axis=0 if "lora_A" in k else 1) for k, v in t.items()},
                     "not a float tensor of shape"),
    "integers": (lambda t: {k: v.astype(np.int32) for k, v in t.items()}, "not a float tensor"),
}


def speak_with(voice: Path, tiny, out: Path):
    from bark_clone.cli.main import cli

    return CliRunner().invoke(cli, ["speak", str(voice), "Hello there.", "-o", str(out), "--bark", str(tiny["bark"]),
                                    "--device", "cpu", "--tries", "1"], catch_exceptions=False)


def test_hostile_adapters_are_refused_in_one_line_before_peft(good_voice, tiny, tmp_path):
    cases = {name: (variant(good_voice, tmp_path, name.replace(" ", "-"), config=change), expected)
             for name, (change, expected) in CONFIGS.items() if change is not None}
    cases["not json"] = (variant(good_voice, tmp_path, "not-json"), CONFIGS["not json"][1])
    (cases["not json"][0] / STAGE / "adapter_config.json").write_text("{nope")
    cases.update({name: (variant(good_voice, tmp_path, name.replace(" ", "-"), tensors=change), expected)
                  for name, (change, expected) in WEIGHTS.items()})
    whole = (good_voice / STAGE / "adapter_model.safetensors").read_bytes()
    cases["truncated"] = (variant(good_voice, tmp_path, "truncated", raw=whole[:-100]), "truncated")
    cases["not safetensors"] = (variant(good_voice, tmp_path, "pickle", raw=b"\x80\x04K\x01."), "not a safetensors")
    linked = variant(good_voice, tmp_path, "linked")
    (linked / STAGE / "adapter_model.safetensors").unlink()
    (linked / STAGE / "adapter_model.safetensors").symlink_to("/dev/zero")
    cases["a link to /dev/zero"] = (linked, "not a regular file")
    for name, (folder, expected) in cases.items():
        result = speak_with(folder, tiny, tmp_path / f"{folder.name}.wav")
        assert result.exit_code == 1, (name, result.output)
        assert expected in result.output and result.output.count("\n") == 1, (name, result.output)
        assert "unexpected" not in result.output.lower() and "Traceback" not in result.output
        assert not (tmp_path / f"{folder.name}.wav").exists()


def test_the_adapter_id_covers_its_configuration(good_voice, tmp_path):
    from bark_clone.voices.folder import load_voice

    louder = variant(good_voice, tmp_path, "louder", config=lambda d: {**d, "lora_alpha": d["lora_alpha"] * 4})
    assert load_voice(louder).adapter_id != load_voice(good_voice).adapter_id
    same = variant(good_voice, tmp_path, "same")
    assert load_voice(same).adapter_id == load_voice(good_voice).adapter_id


def test_one_voice_folder_never_changes_another_speakers_audio(good_voice, tiny, tmp_path, hub):
    """A hostile voice and a good one are served, then a plain speaker: its bytes equal a fresh server's."""
    from fastapi.testclient import TestClient
    from test_force import a_prompt

    from bark_clone.server.app import create_app
    from bark_clone.server.service import ServiceConfig

    def server(folder: Path) -> TestClient:
        config = ServiceConfig(speakers=folder, bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                               models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                                   quantizer=str(tiny["quantizer"])))
        return TestClient(create_app(config, hub))

    def spoken(client: TestClient, name: str):
        return client.post("/speak", json={"name": name, "text": "Good morning to you all.", "seed": 5})

    fresh, used = tmp_path / "fresh", tmp_path / "used"
    for folder in (fresh, used):
        folder.mkdir()
        (folder / "plain.npz").write_bytes(a_prompt().npz_bytes())
    shutil.copytree(good_voice, used / "good")
    variant(good_voice, used, "evil", tensors=WEIGHTS["a base weight too"][0])
    variant(good_voice, used, "pissa", config=CONFIGS["pissa initialisation"][0])
    before = bark_state(hub)
    with server(fresh) as client:
        expected = spoken(client, "plain")
    assert expected.status_code == 200, expected.text
    with server(used) as client:
        for name in ("evil", "pissa"):
            answer = spoken(client, name)
            assert answer.status_code == 400 and name in answer.json()["error"], answer.text
            assert str(tmp_path) not in answer.text  # never a server path
        good = spoken(client, "good")
        assert good.status_code == 200 and good.content != expected.content  # the adapters were worn
        assert bark_state(hub) == before  # and are gone again
        assert spoken(client, "plain").content == expected.content


def bark_state(hub) -> dict[str, tuple]:
    """Every parameter of the shared Bark's stages by name, as a hash of its values: the base model, unchanged."""
    import hashlib

    bark = hub.bark()
    return {name: (tuple(value.shape), hashlib.sha256(value.detach().float().numpy().tobytes()).hexdigest())
            for name, value in bark.model.state_dict().items()}


def test_a_voice_speaks_in_every_precision_of_its_base(good_voice, tiny, tmp_path):
    """The voice records its base's fingerprint per precision: a bfloat16 Bark is still the Bark it was trained on."""
    from bark_clone.cli.main import cli

    for dtype in ("float32", "bfloat16", "auto"):
        result = CliRunner().invoke(cli, ["speak", str(good_voice), "Hello there.", "-o", str(tmp_path / f"{dtype}.wav"),
                                          "--bark", str(tiny["bark"]), "--device", "cpu", "--tries", "1", "--dtype",
                                          dtype], catch_exceptions=False)
        assert result.exit_code == 0, (dtype, result.output)
    other = tmp_path / "other-bark"
    import builders

    builders.build_bark(other, seed=7)
    result = CliRunner().invoke(cli, ["speak", str(good_voice), "Hi.", "-o", str(tmp_path / "x.wav"), "--bark",
                                      str(other), "--device", "cpu", "--dtype", "bfloat16"], catch_exceptions=False)
    assert result.exit_code == 1 and "its adapters fit only that model's weights" in result.output
