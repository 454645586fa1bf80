"""Voice folders where commands take speakers: the search scores on Bark wearing a voice's adapters, and train-voice
under torchrun trains the same voice on two processes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from trained_voices import adapter_tensors, phrases_file, train_arguments


@pytest.fixture(scope="module")
def phrases(tmp_path_factory, arctic_audio) -> Path:
    return phrases_file(tmp_path_factory.mktemp("voice-phrases") / "me.wav", arctic_audio)


@pytest.mark.slow
def test_search_scores_candidates_on_bark_wearing_a_voice(run_cli, phrases, tiny, tmp_path, arctic, monkeypatch):
    """Bark's generations are stood in for (random Bark says nothing a VAD hears), by a stand-in that speaks in
    another voice unless the Bark it was given wears the voice's adapters (its stage weights are not the base's)."""
    from standins import LevelStandIn, arctic_speech

    from bark_clone.speaking import longform
    from bark_clone.voices.folder import load_voice
    from bark_clone.voices.switch import expected_base, stage_sha256

    assert run_cli(*train_arguments(phrases, tiny, "me", "--steps", "12")).exit_code == 0
    voice, worn_seen = load_voice(tmp_path / "me"), []
    speech = arctic_speech(arctic, pad_seconds=0)

    def stand_in(bark, *, sampling=None, batch_size=None):
        worn = stage_sha256(bark) != expected_base(voice, bark)  # the base in the precision it runs in
        worn_seen.append((worn, batch_size))
        return LevelStandIn(speech, other_voice="en-us+m3" if worn else "en-us+f4")

    monkeypatch.setattr(longform, "bark_generator", stand_in)
    common = ["search", phrases, "--bark", tiny["bark"], "--hubert", tiny["hubert"], "--encodec", tiny["encodec"],
              "--quantizer", tiny["quantizer"], "--device", "cpu", "--steps", "1", "--keep", "1", "--sentences", "2",
              "--max-seconds", "6"]
    worn = run_cli(*common, "--voice", "me", "-o", "tuned", "--work", "worn", "--batch-size", "5")
    assert worn.exit_code == 0, worn.output
    plain = run_cli(*common, "-o", "plain.npz", "--work", "plain")
    assert plain.exit_code == 0, plain.output
    assert worn_seen == [(True, 5), (False, None)]  # --batch-size reaches the generator
    states = {name: {entry["id"]: entry for entry in json.loads((tmp_path / name / "search.json").read_text())[
        "candidates"]} for name in ("worn", "plain")}
    starts = [entry for entry in states["worn"].values() if entry["kind"] == "voice"]
    assert len(starts) == 1 and starts[0]["lineage"] == [{"kind": "voice", "name": "me"}]
    shared = [key for key, entry in states["plain"].items() if entry["kind"] == "window" and key in states["worn"]
              and entry["rejected"] is None and states["worn"][key]["rejected"] is None]
    assert shared and all(states["worn"][key]["score"] != states["plain"][key]["score"] for key in shared)
    tuned = load_voice(tmp_path / "tuned")
    assert tuned.adapter_id == voice.adapter_id and tuned.stages == voice.stages  # its adapters, byte for byte
    sidecar = json.loads((tmp_path / "tuned" / "prompt.json").read_text())
    assert sidecar["method"] == "search" and sidecar["search"]["voice"]["adapter_id"] == voice.adapter_id
    best = max((entry for entry in states["worn"].values() if entry["rejected"] is None),
               key=lambda entry: entry["score"])
    assert tuned.prompt.content_id() == best["id"] and sidecar["score"]["score"] == best["score"]
    again = run_cli(*common, "--voice", "me", "-o", "tuned", "--work", "worn")
    assert again.exit_code == 1 and "--force" in again.stderr


@pytest.mark.slow
def test_torchrun_trains_the_same_voice_on_two_processes(run_cli, phrases, tiny, tmp_path):
    """Each process takes its share of every mini-batch and the gradients are summed: the adapters equal one
    process's, up to the order of float additions. (Both run one thread, as torchrun's processes do: the tiny
    random quantizer's near ties can turn on the thread count, and then the semantic tokens differ.)"""
    import os
    import sys

    from support import run_process

    def arguments(name):
        # float32: under bf16 autocast the two processes' split of a batch rounds differently
        return [str(argument) for argument in train_arguments(phrases, tiny, str(tmp_path / name), "--dtype",
                                                              "float32")]

    one_thread = {**os.environ, "OMP_NUM_THREADS": "1"}
    alone = run_process([sys.executable, "-m", "bark_clone", *arguments("alone")], env=one_thread)
    assert alone.returncode == 0, alone.stderr[-3000:]
    result = run_process([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "bark_clone", *arguments("two")], env=one_thread)
    assert result.returncode == 0, result.stderr[-3000:]
    alone, two = adapter_tensors(tmp_path / "alone"), adapter_tensors(tmp_path / "two")
    assert alone.keys() == two.keys()
    for key in alone:
        np.testing.assert_allclose(two[key], alone[key], rtol=1e-4, atol=1e-7, err_msg=key)
    documents = [json.loads((tmp_path / name / "voice.json").read_text()) for name in ("alone", "two")]
    assert [document["settings"]["processes"] for document in documents] == [1, 2]
    for stage in ("coarse", "fine"):  # the held-out figures are the whole held-out set's, summed over processes
        firsts = [document["metrics"][stage][-1]["adapter"]["alone"]["nll"] for document in documents]
        assert firsts[0] == pytest.approx(firsts[1], abs=2e-3)


@pytest.mark.slow
def test_a_script_wears_a_voices_adapters_only_for_its_own_rows(run_cli, phrases, tiny, tmp_path, arctic,
                                                                 model_args, monkeypatch):
    """alice is a plain prompt, bob a voice folder: every generation holding bob's rows runs with bob's adapters
    active, every one holding alice's with none, and the two never share a batch."""
    from peft.tuners.lora import LoraLayer
    from standins import arctic_speech, generation_of

    from bark_clone.speaking import longform

    assert run_cli(*train_arguments(phrases, tiny, "bob", "--steps", "2")).exit_code == 0
    assert run_cli("make-speaker", arctic, "-o", "alice.npz", *model_args).exit_code == 0
    speech, seen = arctic_speech(arctic), []

    class Recording:
        def __init__(self, bark, *, sampling=None, batch_size=None):
            self.bark = bark

        def rows(self, rows, seeds):
            layers = [module for module in self.bark.model.coarse_acoustics.modules() if isinstance(module, LoraLayer)]
            worn = bool(layers) and not any(layer.disable_adapters for layer in layers)
            seen.append((worn, {text for text, _ in rows}))
            return [generation_of(speech) for _ in rows]

    monkeypatch.setattr(longform, "bark_generator", Recording)
    (tmp_path / "play.txt").write_text("alice: One two three.\nbob: Four five six.\nalice: Seven eight.\n")
    result = run_cli("speak", "--script", "play.txt", "--voice", "alice=alice.npz", "--voice", "bob=bob", "-o",
                     "play.wav", "--bark", tiny["bark"], "--device", "cpu", "--tries", "1")
    assert result.exit_code == 0, result.output
    assert seen == [(False, {"One two three.", "Seven eight."}), (True, {"Four five six."})]
    report = json.loads((tmp_path / "play.json").read_text())
    assert report["adapters"] == {"bob": ["coarse", "fine"]} and len(report["lines"]) == 3
