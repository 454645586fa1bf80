"""Voice adapters against a planted speaker: a correct trainer brings the base model's held-out NLL close to the
speaker model's own, which no prompt does; a trainer whose layout is off by one frame does not."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
from planted_voice import build_planted_pair

from bark_clone.bark.core import load_bark
from bark_clone.requests import TrainVoiceRequest

pytestmark = pytest.mark.slow  # about three minutes: generation, training, the control


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Base and speaker Bark, 64 clips the speaker said (generate-data with the new codes column), and the held-out
    NLL figures of a trained voice (base, base with the prompt, adapter) and of the speaker model itself."""
    from bark_clone.requests import GenerateOptions
    from bark_clone.training.generate import generate_data
    from bark_clone.voices.command import train_voice

    root = tmp_path_factory.mktemp("planted")
    base, speaker = build_planted_pair(root)
    generate_data(root / "data", GenerateOptions(samples=64, bark=str(speaker), batch_size=8, shard_size=32),
                  device="cpu", progress=False)
    request = TrainVoiceRequest(recordings=[], output=root / "voice", bark=str(base), data=root / "data", device="cpu",
                                steps=200, rank=8)
    document = train_voice(request, progress=False, warn=lambda line: None)
    return root, base, speaker, request, document


def speaker_nll(speaker: Path, request: TrainVoiceRequest) -> dict[str, float]:
    """The speaker model's own held-out NLL per stage: the floor a trained adapter should come close to."""
    from bark_clone.voices.command import gather, stage_tasks
    from bark_clone.voices.folder import STAGES
    from bark_clone.voices.train import measure

    data = gather(request, lambda line: None)
    tasks = stage_tasks(request.stages, data["training"], data["held_out"], data["prompt"])
    model = load_bark(str(speaker), "cpu").model
    return {stage: measure(getattr(model, STAGES[stage]), task, task.held_out["alone"], torch.device("cpu"), 8,
                           contextlib.nullcontext)["nll"] for stage, task in tasks.items()}


def test_a_trained_adapter_recovers_the_planted_speaker(planted):
    _, _, speaker, request, document = planted
    floor = speaker_nll(speaker, request)
    for stage, closes in (("coarse", 0.6), ("fine", 0.3)):
        first, best = document["metrics"][stage][0]["base"], document["best"][stage]["held_out_nll"]
        gap = first["alone"]["nll"] - floor[stage]
        assert gap > 0.05, (stage, first, floor)  # the planted change is there to learn
        assert best <= floor[stage] + (1 - closes) * gap, (stage, best, floor[stage], first)
        assert first["with prompt"]["nll"] > floor[stage] + 0.5 * gap  # no prompt reaches it


def test_a_misaligned_trainer_does_not(planted):
    """The control: the same data and trainer, but the logits read two positions (one frame) early while training,
    the classic off-by-one; measured aligned afterwards, it stays far from the speaker."""
    from bark_clone.progress import progress_bar
    from bark_clone.voices.command import gather, stage_tasks
    from bark_clone.voices.train import Settings, measure, train_stage, wrap

    _, base, speaker, request, document = planted
    data = gather(request, lambda line: None)
    task = stage_tasks(("coarse",), data["training"], data["held_out"], data["prompt"])["coarse"]
    bark = load_bark(str(base), "cpu")
    shifted = bark.model.coarse_acoustics.lm_head.register_forward_hook(
        lambda module, inputs, logits: torch.roll(logits, 2, 1))
    model = wrap(bark.model.coarse_acoustics, Settings(rank=8))
    with progress_bar(total=200, disable=True) as bar:
        train_stage(model, task, Settings(rank=8, steps=200), torch.device("cpu"), bar)
    shifted.remove()
    misaligned = measure(model, task, task.held_out["alone"], torch.device("cpu"), 8, contextlib.nullcontext)["nll"]
    floor, aligned = speaker_nll(speaker, request)["coarse"], document["best"]["coarse"]["held_out_nll"]
    base_nll = document["metrics"]["coarse"][0]["base"]["alone"]["nll"]
    assert misaligned > aligned + 0.5 * (base_nll - floor), (misaligned, aligned, base_nll, floor)


def test_the_voice_folder_is_peft_format_and_plain_transformers_can_use_it(planted):
    from peft import PeftModel
    from transformers import BarkModel

    root, base, _, _, document = planted
    voice = root / "voice"
    assert {path.name for path in voice.iterdir()} >= {"prompt.npz", "prompt.json", "voice.json", "metrics.png",
                                                       "coarse", "fine"}
    assert json.loads((voice / "voice.json").read_text()) == document
    model = BarkModel.from_pretrained(base)
    wrapped = PeftModel.from_pretrained(model.coarse_acoustics, str(voice / "coarse"))
    assert any("lora_A" in name for name, _ in wrapped.named_parameters())
    assert (voice / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
