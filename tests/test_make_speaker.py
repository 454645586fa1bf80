"""make-speaker end to end: real audio in, a prompt Bark (suno's checks and transformers' BarkModel) accepts out."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import soundfile
import torch

from bark_clone.audio.sound import resample


def test_make_speaker_writes_a_consistent_prompt_and_sidecar(run_cli, copy_arctic, model_args, bark_checks, tmp_path):
    voice = copy_arctic("me.wav")
    result = run_cli("make-speaker", voice, *model_args)
    assert result.exit_code == 0, result.output
    npz, sidecar_path = tmp_path / "speakers" / "me.npz", tmp_path / "speakers" / "me.json"
    with np.load(npz, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["coarse_prompt", "fine_prompt", "semantic_prompt"]
        semantic, coarse, fine = archive["semantic_prompt"], archive["coarse_prompt"], archive["fine_prompt"]
    assert semantic.dtype == coarse.dtype == fine.dtype == np.int64
    assert fine.shape[0] == 8 and np.array_equal(coarse, fine[:2])
    assert len(semantic) == round(fine.shape[1] * 49.9 / 75)
    assert round(coarse.shape[1] / len(semantic), 1) == 1.5
    sidecar = json.loads(sidecar_path.read_text())
    start, end = sidecar["window"]
    # ARCTIC a0007: speech from about 0.4 s to 3.5 s; the window trims the silence but keeps a pause at the end
    assert 0.2 < start < 0.45 and 3.5 < end <= 4.0
    assert abs((end - start) * 75 - fine.shape[1]) < 1e-3
    assert sidecar["sources"][0]["path"].endswith("me.wav") and len(sidecar["sources"][0]["sha256"]) == 64
    assert sidecar["models"]["hubert"]["layer"] == 9 and sidecar["models"]["encodec"]["bandwidth_kbps"] == 6.0
    assert sidecar["models"]["quantizer"]["format"] == "gitmylo" and sidecar["tool"]["version"]
    assert sidecar["durations"]["prompt_speech_seconds"] > 2.5
    bark_checks(npz)
    assert run_cli("inspect", npz).exit_code == 0


def test_tokens_and_codes_equal_an_independent_computation(run_cli, arctic_audio, model_args, tiny, tmp_path):
    """Layer 9 of an untruncated HuBERT, then the quantizer read straight from its file, then time alignment.

    The clip is 13 s long: from about 5 s on, reading tokens by index instead of by time would pick other frames.
    """
    from transformers import EncodecModel, HubertModel

    samples, rate = arctic_audio
    voice = tmp_path / "voice.wav"
    soundfile.write(voice, np.concatenate([samples[: int(3.6 * rate)]] * 4), rate)
    assert run_cli("make-speaker", voice, *model_args, "--no-normalize", "--window", "0.3:14.3").exit_code == 0
    sidecar = json.loads((tmp_path / "speakers" / "voice.json").read_text())
    with np.load(tmp_path / "speakers" / "voice.npz") as archive:
        semantic, fine = archive["semantic_prompt"], archive["fine_prompt"]
    start, end = sidecar["window"]
    samples, rate = soundfile.read(voice, dtype="float32")
    assert rate == 16_000 and (start, end) == (0.3, 14.3)
    n_frames = fine.shape[1]
    window_16k = samples[round(start * 16_000): round(start * 16_000) + round(n_frames * 320 * 2 / 3)]

    hubert = HubertModel.from_pretrained(tiny["hubert"]).eval()
    state = torch.load(tiny["quantizer"], weights_only=True)
    lstm = torch.nn.LSTM(32, state["lstm.weight_hh_l0"].shape[1], 2, batch_first=True)
    lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
    with torch.no_grad():
        layer9 = hubert(torch.from_numpy(window_16k)[None], output_hidden_states=True).hidden_states[9]
        logits = torch.nn.functional.linear(lstm(layer9)[0], state["fc.weight"], state["fc.bias"])[0]
    per_frame = logits.argmax(-1).numpy()
    token_times = (np.arange(len(semantic)) + 0.5) / 49.9  # the centre of each 49.9 Hz token
    expected = per_frame[np.minimum((token_times * 50).astype(int), len(per_frame) - 1)]
    np.testing.assert_array_equal(semantic, expected)
    assert not np.array_equal(semantic, per_frame[: len(semantic)])  # by index would have been wrong

    codec = EncodecModel.from_pretrained(tiny["encodec"]).eval()
    window_24k = resample(samples[round(start * rate): round(end * rate)], rate, 24_000)[: n_frames * 320]
    with torch.no_grad():
        codes = codec.encode(torch.from_numpy(window_24k)[None, None], bandwidth=6.0).audio_codes[0, 0].numpy()
    assert codes.shape == fine.shape
    assert (codes == fine).mean() > 0.99  # identical up to the resampler's edge samples


def test_transformers_bark_accepts_the_prompt_as_voice_preset(run_cli, copy_arctic, model_args, tiny, tmp_path):
    from transformers import BarkModel, BarkProcessor

    assert run_cli("make-speaker", copy_arctic(), *model_args).exit_code == 0
    npz = tmp_path / "speakers" / "voice.npz"
    processor = BarkProcessor.from_pretrained(tiny["bark"])
    model = BarkModel.from_pretrained(tiny["bark"]).eval()
    inputs = processor("hello this is a test", voice_preset=str(npz))
    assert inputs["history_prompt"]["semantic_prompt"].dtype == torch.int64
    torch.manual_seed(0)
    with torch.no_grad():
        audio = model.generate(**inputs, do_sample=True)
    assert audio.ndim == 2 and audio.shape[1] > 0 and torch.isfinite(audio).all()


def test_speak_and_decode_commands_write_audio(run_cli, copy_arctic, model_args, tiny, tmp_path):
    assert run_cli("make-speaker", copy_arctic(), *model_args).exit_code == 0
    npz = tmp_path / "speakers" / "voice.npz"
    result = run_cli("decode", npz, "prompt.wav", "--encodec", tiny["encodec"])
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(tmp_path / "prompt.wav")
    with np.load(npz) as archive:
        assert rate == 24_000 and len(audio) == archive["fine_prompt"].shape[1] * 320
    result = run_cli("speak", npz, "hello this is a test", "-o", "said.wav", "--bark", tiny["bark"], "--seed", "1")
    assert result.exit_code == 0, result.output
    said, rate = soundfile.read(tmp_path / "said.wav")
    assert rate == 24_000 and len(said) > 0
    again = run_cli("speak", npz, "hello", "-o", "said.wav", "--bark", tiny["bark"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_several_inputs_load_models_once_and_write_one_prompt_each(run_cli, copy_arctic, model_args, tmp_path,
                                                                   monkeypatch, arctic_audio):
    from bark_clone.prompting import pipeline

    samples, rate = arctic_audio
    first = copy_arctic("first.wav")
    soundfile.write(tmp_path / "second.flac", np.stack([samples, samples], 1), rate)  # stereo flac
    soundfile.write(tmp_path / "third.mp3", resample(samples, rate, 48_000), 48_000)
    soundfile.write(tmp_path / "fourth.wav", samples, rate, subtype="PCM_U8")
    loads = []
    original = pipeline.load_models
    monkeypatch.setattr(pipeline, "load_models", lambda *a, **k: loads.append(1) or original(*a, **k))
    result = run_cli("make-speaker", first, "second.flac", "third.mp3", "fourth.wav", *model_args, "-o", "voices")
    assert result.exit_code == 0, result.output
    assert loads == [1]
    for stem in ("first", "second", "third", "fourth"):
        assert (tmp_path / "voices" / f"{stem}.npz").exists() and (tmp_path / "voices" / f"{stem}.json").exists()
    refused = run_cli("make-speaker", first, "second.flac", *model_args, "-o", "one.npz")
    assert refused.exit_code == 1 and "takes one input" in refused.output


def test_long_recording_gets_a_window_that_starts_and_ends_at_pauses(run_cli, model_args, tmp_path, arctic_audio):
    samples, rate = arctic_audio
    speech = samples[int(0.35 * rate): int(3.55 * rate)]
    pause = np.zeros(int(0.6 * rate), dtype=np.float32)
    soundfile.write(tmp_path / "long.wav", np.concatenate([pause, *[np.concatenate([speech, pause])] * 6]), rate)
    result = run_cli("make-speaker", "long.wav", *model_args, "--max-seconds", "9")
    assert result.exit_code == 0, result.output
    start, end = json.loads((tmp_path / "speakers" / "long.json").read_text())["window"]
    assert 5 < end - start <= 9.0  # two whole utterances fit in 9 s, three do not
    period = len(speech) / rate + 0.6  # utterance k spans [0.6 + k * period, 0.6 + k * period + 3.2 s]
    starts = [0.6 + k * period for k in range(6)]
    ends = [s + len(speech) / rate for s in starts]
    assert min(abs(end - (e + 0.3)) for e in ends) < 0.1, (end, ends)  # 0.3 s after a phrase: a natural pause
    assert min(abs(start - (s - 0.1)) for s in starts) < 0.1, (start, starts)  # 0.1 s before a phrase


def test_atomic_write_leaves_nothing_when_interrupted(run_cli, copy_arctic, model_args, tmp_path, monkeypatch):
    from bark_clone import files

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "_commit", crash)
    result = run_cli("make-speaker", copy_arctic(), *model_args)
    assert result.exit_code == 130
    assert list((tmp_path / "speakers").iterdir()) == []  # no prompt, no sidecar, no temporary file


def test_existing_output_is_kept_byte_for_byte_without_force(run_cli, copy_arctic, model_args, tmp_path):
    voice = copy_arctic()
    assert run_cli("make-speaker", voice, *model_args).exit_code == 0
    npz = tmp_path / "speakers" / "voice.npz"
    before = npz.read_bytes()
    refused = run_cli("make-speaker", voice, *model_args, "--max-seconds", "2")
    assert refused.exit_code == 1 and "already exists" in refused.output and "--force" in refused.output
    assert npz.read_bytes() == before
    forced = run_cli("make-speaker", voice, *model_args, "--max-seconds", "2", "--force")
    assert forced.exit_code == 0 and npz.read_bytes() != before
    assert zipfile.is_zipfile(npz)


@pytest.fixture()
def bad_inputs(tmp_path, arctic_audio, tiny):
    """Every bad input the issue lists, as (arguments, expected words in the one-line error)."""
    import builders as testing

    samples, rate = arctic_audio
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("definitely not audio\n" * 30)
    soundfile.write(tmp_path / "full.wav", samples, rate)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "full.wav").read_bytes()[:50_000])
    soundfile.write(tmp_path / "silence.wav", np.zeros(3 * rate, dtype=np.float32), rate)
    short = np.concatenate([np.zeros(rate, np.float32), samples[int(0.4 * rate): int(1.0 * rate)],
                            np.zeros(rate, np.float32)])
    soundfile.write(tmp_path / "short.wav", short, rate)
    nan = samples.copy()
    nan[1000] = np.nan
    soundfile.write(tmp_path / "nan.wav", nan, rate, subtype="FLOAT")
    (tmp_path / "notq.pth").write_text("not a quantizer")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "wrongq.pth")
    testing.write_gitmylo_quantizer(tmp_path / "wide.pth", input_size=768, hidden_size=8)
    voice = str(tmp_path / "full.wav")
    return {
        "missing": (["make-speaker", str(tmp_path / "nope.wav")], "no such file"),
        "empty": (["make-speaker", str(tmp_path / "empty.wav")], "is empty"),
        "not audio": (["make-speaker", str(tmp_path / "text.wav")], "not an audio file"),
        "truncated": (["make-speaker", str(tmp_path / "cut.wav")], "truncated"),
        "silence": (["make-speaker", str(tmp_path / "silence.wav")], "digital silence"),
        "short speech": (["make-speaker", str(tmp_path / "short.wav")], "needs at least about 1 s"),
        "nan": (["make-speaker", str(tmp_path / "nan.wav")], "NaN"),
        "not a quantizer": (["make-speaker", voice, "--quantizer", str(tmp_path / "notq.pth")], "not a PyTorch"),
        "wrong quantizer": (["make-speaker", voice, "--quantizer", str(tmp_path / "wrongq.pth")], "lacks lstm"),
        "quantizer width": (["make-speaker", voice, "--quantizer", str(tmp_path / "wide.pth")], "768-dim"),
        "wrong model kind": (["make-speaker", voice, "--hubert", str(tiny["encodec"])], "not a HuBERT model"),
        "window outside": (["make-speaker", voice, "--window", "2:9"], "outside"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "not audio", "truncated", "silence", "short speech", "nan",
                                  "not a quantizer", "wrong quantizer", "quantizer width", "wrong model kind",
                                  "window outside"])
def test_bad_input_gets_one_line_no_traceback_and_nothing_written(run_cli, model_args, bad_inputs, tmp_path, case):
    arguments, words = bad_inputs[case]
    overrides = {arguments[i] for i in range(2, len(arguments), 2)}
    defaults = [arg for i, arg in enumerate(model_args) if not (model_args[i - (i % 2)] in overrides)]
    result = run_cli(*arguments, *defaults)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "speakers").exists() or list((tmp_path / "speakers").iterdir()) == []


def test_library_use_from_a_notebook(models, arctic, tmp_path):
    """The same pipeline without the CLI: load the models once, make a prompt, save it."""
    from bark_clone.prompting.format import SpeakerPrompt
    from bark_clone.prompting.pipeline import make_speaker

    speaker = make_speaker(arctic, models, max_seconds=14.0)
    speaker.write(tmp_path / "me.npz")
    loaded = SpeakerPrompt.load(tmp_path / "me.npz")
    np.testing.assert_array_equal(loaded.semantic_tokens, speaker.prompt.semantic_tokens)
    assert json.loads((tmp_path / "me.json").read_text())["window"] == speaker.sidecar["window"]


def test_the_make_speaker_command_imports_no_server_training_plotting_or_bark_code(model_args, arctic, tmp_path):
    import subprocess
    import sys

    unused = ("bark_clone.server", "bark_clone.server.service", "fastapi", "uvicorn", "bark_clone.training",
              "quantizer.train", "matplotlib", "bark_clone.bark", "transformers.models.bark.modeling_bark")
    code = ("import sys\nfrom bark_clone.cli import main\ntry:\n    main()\nexcept SystemExit as end:\n"
            f"    print(end.code, sorted(m for m in {unused!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, "make-speaker", str(arctic), "-o", str(tmp_path / "me.npz"),
                             *model_args], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stdout + result.stderr[-2000:]
    assert (tmp_path / "me.npz").exists()
