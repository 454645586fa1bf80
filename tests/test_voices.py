"""Voice adapters: examples laid out token for token as Bark's loops read them, the recordings -> voice folder ->
speak path, resuming, one Bark switching voices, plain transformers + peft, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from reference_bark import transformers_generate
from trained_voices import adapter_tensors, phrases_file, train_arguments

from bark_clone.bark.core import load_bark
from bark_clone.bark.generation import generate, semantic_until_end
from bark_clone.bark.layouts import coarse_windows, fine_windows, flatten_coarse
from bark_clone.options import Sampling
from bark_clone.prompting.format import SpeakerPrompt


@pytest.fixture(scope="module")
def long_bark(tmp_path_factory):
    """The tiny Bark saying 341 semantic tokens: exactly 512 new frames, so after a 512-frame prompt the fine loop
    runs one full window (no padding) and the coarse loop 18 windows."""
    import builders

    return builders.build_bark(tmp_path_factory.mktemp("long-bark") / "bark", semantic_max_new_tokens=341)


def recorded_calls(bark):
    """Capture what the coarse model's prefills and the fine model's passes receive."""
    coarse, fine = [], []
    hook = bark.model.coarse_acoustics.register_forward_pre_hook(
        lambda module, args, kwargs: coarse.append(kwargs["input_ids"][0].clone()), with_kwargs=True)
    original = bark.model.fine_acoustics.forward

    def forward(codebook, input_ids, *args, **kwargs):  # the loop calls forward() itself, past any hook
        fine.append((codebook, input_ids[0].clone()))
        return original(codebook, input_ids, *args, **kwargs)

    bark.model.fine_acoustics.forward = forward
    return coarse, fine, lambda: (hook.remove(), delattr(bark.model.fine_acoustics, "forward"))


def test_examples_are_what_the_generation_loops_fed_the_models(long_bark):
    """Checked against transformers' own loops (the reference), which the engine's equal."""
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
    )

    from bark_clone.bark import layouts

    coarse_config, fine_config = BarkCoarseGenerationConfig(), BarkFineGenerationConfig()
    assert (layouts.COARSE_SEMANTIC_PAD, layouts.COARSE_INFER_TOKEN, layouts.MAX_COARSE_INPUT,
            layouts.MAX_COARSE_HISTORY, layouts.SLIDING_WINDOW) == (
        coarse_config.coarse_semantic_pad_token, coarse_config.coarse_infer_token,
        coarse_config.max_coarse_input_length, coarse_config.max_coarse_history, coarse_config.sliding_window_len)
    assert (layouts.FINE_WINDOW, layouts.FINE_HISTORY) == (fine_config.max_fine_input_length,
                                                           fine_config.max_fine_history_length)
    bark = load_bark(str(long_bark), "cpu")
    rng = np.random.default_rng(0)
    prompt = SpeakerPrompt.from_streams(rng.integers(0, 10_000, 400), rng.integers(0, 1024, (8, 601)))
    coarse_seen, fine_seen, done = recorded_calls(bark)
    semantic_out, _, lengths, fine_out = transformers_generate(bark, ["hello there"], prompt, seed=3,
                                                               greedy=True)
    done()
    generation = SimpleNamespace(semantic_tokens=semantic_until_end(semantic_out[0].numpy()),
                                 fine_codes=fine_out[0, :, : int(lengths[0]) // 2].numpy())
    assert generation.fine_codes.shape[1] == 512
    (ours,) = generate(bark, [("hello there", prompt)], Sampling(greedy=True, semantic_budget=None),
                       seed=3)  # the engine's loops read the same
    np.testing.assert_array_equal(ours.fine_codes, generation.fine_codes)
    frames = prompt.fine_codes.shape[1]
    # the recording: the prompt, then what Bark said (its coarse codes start a frame before the prompt's end)
    semantic = np.concatenate([prompt.semantic_tokens, generation.semantic_tokens])
    coarse = np.concatenate([prompt.coarse_codes[:, :frames - 1], generation.fine_codes[:2]], axis=1)
    windows = coarse_windows(semantic, coarse, len(prompt.semantic_tokens), frames)
    prefills = [ids.numpy() for ids in coarse_seen if len(ids) > 1]
    assert len(windows) == len(prefills) == 18
    for window, prefill in zip(windows, prefills):
        np.testing.assert_array_equal(window.input_ids, prefill)  # token for token
    written = np.concatenate([window.targets for window in windows])
    np.testing.assert_array_equal(written, flatten_coarse(generation.fine_codes[:2]))  # what the loop wrote
    (window,) = fine_windows(np.concatenate([prompt.fine_codes, generation.fine_codes], axis=1), frames)
    assert [codebook for codebook, _ in fine_seen] == [2, 3, 4, 5, 6, 7]
    for codebook, inputs in fine_seen:
        np.testing.assert_array_equal(window.inputs_for(codebook), inputs.numpy())
    assert (window.fill_start, window.n_real) == (512, 1024)


# ---- recordings -> voice -> speak ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def phrases(tmp_path_factory, arctic_audio) -> Path:
    return phrases_file(tmp_path_factory.mktemp("voice-phrases") / "me.wav", arctic_audio)


@pytest.mark.slow
def test_recordings_to_a_voice_that_speak_uses(run_cli, phrases, tiny, tmp_path, bark_checks):
    result = run_cli(*train_arguments(phrases, tiny))
    assert result.exit_code == 0, result.output
    assert "warning: only" in result.stderr  # under a minute of speech is said, not hidden
    document = json.loads((tmp_path / "voice" / "voice.json").read_text())
    assert document["sources"]["held_out_pieces"] >= 1 and document["sources"]["training_pieces"] >= 1
    assert document["base"]["stage_sha256"] and document["stages"] == ["coarse", "fine"]
    bark_checks(tmp_path / "voice" / "prompt.npz")
    spoken = run_cli("speak", tmp_path / "voice", "Hello there.", "-o", "out.wav", "--bark", tiny["bark"],
                     "--device", "cpu", "--seed", "1", "--tries", "1")
    assert spoken.exit_code == 0, spoken.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["adapters"] == ["coarse", "fine"] and report["reference"]["kind"] == "recording"
    again = run_cli(*train_arguments(phrases, tiny, "again"))
    assert again.exit_code == 0, again.output
    first, second = adapter_tensors(tmp_path / "voice"), adapter_tensors(tmp_path / "again")
    assert first.keys() == second.keys() and all(np.array_equal(first[key], second[key]) for key in first)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "voice").stat().st_mode) == 0o777 & ~umask  # as mkdir would make it
    replaced = run_cli(*train_arguments(phrases, tiny, "again", "--force", "--seed", "3"))  # our voice: replaced
    assert replaced.exit_code == 0, replaced.output
    assert adapter_tensors(tmp_path / "again").keys() == first.keys()
    assert not [entry for entry in tmp_path.iterdir() if entry.name.startswith(".again.")]  # no staging left


@pytest.mark.slow
def test_a_resumed_training_equals_an_uninterrupted_one(run_cli, phrases, tiny, tmp_path, monkeypatch):
    from bark_clone.voices import checkpoint as voice_folder

    assert run_cli(*train_arguments(phrases, tiny, "straight")).exit_code == 0
    original, saves = voice_folder.save_checkpoint, []

    def interrupted(out, state):
        original(out, state)
        saves.append(out)
        if len(saves) == 2:  # after the coarse stage's second epoch
            raise KeyboardInterrupt

    monkeypatch.setattr(voice_folder, "save_checkpoint", interrupted)
    result = run_cli(*train_arguments(phrases, tiny, "resumed"))
    assert result.exit_code == 130 and (tmp_path / "resumed" / "train_state.pt").is_file()
    assert not (tmp_path / "resumed" / "voice.json").exists()
    monkeypatch.setattr(voice_folder, "save_checkpoint", original)
    refused = run_cli(*train_arguments(phrases, tiny, "resumed"))
    assert refused.exit_code == 1 and "--resume" in refused.stderr
    assert run_cli(*train_arguments(phrases, tiny, "resumed", "--resume")).exit_code == 0
    straight, resumed = adapter_tensors(tmp_path / "straight"), adapter_tensors(tmp_path / "resumed")
    assert all(np.array_equal(straight[key], resumed[key]) for key in straight)
    documents = [json.loads((tmp_path / name / "voice.json").read_text()) for name in ("straight", "resumed")]
    assert documents[0]["metrics"] == documents[1]["metrics"]


def test_bad_voices_and_inputs_are_one_line_and_write_nothing(run_cli, phrases, tiny, tmp_path, arctic):
    import builders
    from hostile import Exploit

    assert run_cli(*train_arguments(phrases, tiny)).exit_code == 0
    voice = tmp_path / "voice"
    broken = {}
    for name, damage in {
        "no voice.json": lambda folder: (folder / "voice.json").unlink(),
        "no adapter": lambda folder: (folder / "fine" / "adapter_model.safetensors").unlink(),
        "pickled adapter": lambda folder: torch.save({"x": Exploit(tmp_path / "pwned")},
                                                     folder / "coarse" / "adapter_model.safetensors"),
        "adapter is a link": lambda folder: ((folder / "coarse" / "adapter_model.safetensors").unlink(), (
            folder / "coarse" / "adapter_model.safetensors").symlink_to("/dev/zero")),
    }.items():
        folder = tmp_path / name.replace(" ", "-")
        shutil.copytree(voice, folder)
        damage(folder)
        broken[name] = folder
    other_bark = builders.build_bark(tmp_path / "other-bark", seed=1)
    cases = {name: (["speak", folder, "hi", "-o", "out.wav", "--bark", tiny["bark"]], "")
             for name, folder in broken.items()}
    cases["base mismatch"] = (["speak", voice, "hi", "-o", "out.wav", "--bark", other_bark], "was trained on")
    cases["existing -o"] = (train_arguments(phrases, tiny), "already exists; pass --force")
    cases["too little speech"] = (train_arguments(arctic, tiny, "short"), "a voice needs at least two")
    cases["recordings and data"] = (train_arguments(phrases, tiny, "both", "--data", str(tmp_path)), "not both")
    cases["bad stage"] = (train_arguments(phrases, tiny, "stage", "--stages", "semantic"), "--stages takes")
    # --dtype float16 is no longer offered (click refuses it: test_plain_messages.py)
    for name, (arguments, message) in cases.items():
        result = run_cli(*arguments, "--device", "cpu")
        assert result.exit_code == 1 and message in result.stderr, (name, result.output)
        assert result.stderr.count("\n") == 1 and "unexpected" not in result.stderr, (name, result.stderr)
        assert not (tmp_path / "out.wav").exists() and not (tmp_path / "short").exists()
    assert not (tmp_path / "pwned").exists()  # the pickle never ran


@pytest.mark.slow
def test_the_docs_show_plain_transformers_and_peft_using_a_voice(run_cli, phrases, tiny, tmp_path):
    (tmp_path / "voices").mkdir()
    assert run_cli(*train_arguments(phrases, tiny, "voices/me")).exit_code == 0
    page = (Path(__file__).parents[1] / "docs" / "voices.md").read_text(encoding="utf-8")
    code = page.split("With plain transformers and peft", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert 'from_pretrained("suno/bark")' in code and "voices/me/prompt.npz" in code
    code = code.replace('"suno/bark"', repr(str(tiny["bark"])))
    namespace: dict = {}
    exec(compile(code, "docs/voices.md", "exec"), namespace)  # noqa: S102 - our own documentation, as written
    assert namespace["audio"].ndim == 2 and namespace["audio"].shape[1] > 0
    assert not any("lora" in name for name, _ in namespace["bark"].named_parameters())  # merged into the weights


@pytest.mark.slow
def test_one_bark_switches_between_voices_without_mixing_them(run_cli, phrases, tiny, tmp_path):
    from bark_clone.voices.folder import load_voice
    from bark_clone.voices.switch import VoiceSwitch, merge_voice

    for name, seed in (("a", "1"), ("b", "2")):
        assert run_cli(*train_arguments(phrases, tiny, name, "--seed", seed, "--steps", "12")).exit_code == 0
    voices = {name: load_voice(tmp_path / name) for name in ("a", "b")}
    probe = torch.randint(10_000, 12_048, (1, 40), generator=torch.Generator().manual_seed(0))

    def logits(bark):
        with torch.no_grad():
            return bark.model.coarse_acoustics(input_ids=probe).logits

    expected = {None: logits(load_bark(str(tiny["bark"]), "cpu"))}
    for name, voice in voices.items():
        alone = load_bark(str(tiny["bark"]), "cpu")
        merge_voice(alone, voice)
        expected[name] = logits(alone)
    assert not torch.allclose(expected["a"], expected["b"]) and not torch.allclose(expected["a"], expected[None])
    switch = VoiceSwitch(load_bark(str(tiny["bark"]), "cpu"))
    for name in ("a", None, "b", "a", None, "b"):  # any order: each request sees its own voice alone
        with switch.wearing(voices[name] if name else None) as bark:
            torch.testing.assert_close(logits(bark), expected[name], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_evaluate_puts_a_voices_prompt_and_its_adapters_side_by_side(run_cli, phrases, tiny, tmp_path):
    assert run_cli(*train_arguments(phrases, tiny, "me", "--steps", "12")).exit_code == 0
    result = run_cli("evaluate", tmp_path / "me", "--target", phrases, "--out", "report", "--bark", tiny["bark"],
                     "--sentences", "2", "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    rows = {row["name"]: row for row in report["prompts"]}
    assert set(rows) == {"me (prompt only)", "me (prompt + adapters)"}
    assert rows["me (prompt + adapters)"]["adapters"] == ["coarse", "fine"]
    heard = [[(tmp_path / "report" / wav).read_bytes() for wav in rows[name]["wavs"]] for name in rows]
    assert heard[0] != heard[1]  # the adapters change what Bark says, on the same seed
    assert any(row["kind"] == "preset" for row in report["baselines"])


@pytest.mark.slow
def test_a_dataset_without_the_codes_column_still_trains_a_voice(run_cli, tiny, tmp_path, model_args):
    import builders
    import pyarrow.parquet as pq

    bark = builders.build_bark(tmp_path / "bark-96", semantic_max_new_tokens=96)
    made = run_cli("generate-data", "--out", "data", "--samples", "6", "--bark", bark, "--batch-size", "3",
                   "--shard-size", "6", "--device", "cpu")
    assert made.exit_code == 0, made.output
    shard = tmp_path / "data" / "shards" / "00000.parquet"
    table = pq.read_table(shard)
    assert "codes" in table.column_names and len(table.column("codes")[0].as_py()) % 8 == 0
    pq.write_table(table.drop(["codes"]), shard)  # as generate-data wrote it before the column existed
    result = run_cli("train-voice", "--data", "data", "-o", "voice", "--bark", bark, "--steps", "2", "--rank", "2",
                     *model_args)
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "voice" / "voice.json").read_text())
    assert document["sources"]["clips"] == table.num_rows and document["sources"]["held_out_pieces"] >= 1


