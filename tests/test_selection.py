"""Window selection on recordings built from known parts, --combine, --candidates, --refine and evaluate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from recordings import RATE, espeak, main_speaker_phrase, overlaps, podcast, silence


@pytest.fixture()
def podcast_file(tmp_path, arctic_audio):
    layout = podcast(arctic_audio[0])
    return layout, layout.write(tmp_path / "podcast.wav")


def test_chosen_window_stays_in_the_main_speakers_speech_and_ends_at_a_pause(run_cli, model_args, podcast_file,
                                                                         tmp_path):
    layout, path = podcast_file
    result = run_cli("make-speaker", path, *model_args)
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "speakers" / "podcast.json").read_text())
    window = tuple(sidecar["window"])
    assert not overlaps(window, layout.other_voice), (window, layout.other_voice)
    assert not overlaps(window, layout.tone), (window, layout.tone)
    phrase_ends = [end for _, end in layout.main_phrases]
    # ends after one of the main speaker's phrases, within the 0.3 s pause kept (VAD edges differ by ~50 ms)
    assert any(-0.1 <= window[1] - end <= 0.4 for end in phrase_ends), (window, phrase_ends)
    selection = sidecar["selection"]
    assert selection["method"] == "scored" and selection["rank"] == 1
    assert {"speaker_similarity", "worst_speaker_similarity", "speech_fraction", "clipping", "music",
            "level"} <= set(selection["scores"])
    assert selection["scores"]["speaker_similarity"] > 0.9 and selection["scores"]["music"] < 0.05


def test_windows_with_the_other_voice_or_the_tone_are_disqualified(podcast_file, models):
    from bark_clone.prompting.pipeline import analyse
    from bark_clone.prompting.selection import candidate_windows, profile_recording, score_window, speaker_reference

    layout, path = podcast_file
    recording = analyse(path, models.vad)
    profile = profile_recording(recording.samples_16k, recording.audio.clipped, recording.speech_probabilities,
                                recording.segments, models.voice)
    centroid, floor = speaker_reference([profile])
    scored = [score_window(profile, 0, start, end, speech, centroid, floor)
              for start, end, speech in candidate_windows(profile.segments, profile.duration, 14.0)]
    with_other = [c for c in scored if overlaps((c.start, c.end), layout.other_voice)]
    assert with_other and all(c.rejected == "holds another voice" for c in with_other)
    clean = [c for c in scored if not overlaps((c.start, c.end), layout.other_voice)]
    assert clean and all(c.rejected is None for c in clean)
    # the tone is not speech, so no window reaches into it
    assert not any(overlaps((c.start, c.end), layout.tone) for c in scored)


def test_a_tone_inside_a_window_is_music(models, arctic_audio, tmp_path):
    from bark_clone.prompting.pipeline import analyse
    from bark_clone.prompting.selection import profile_recording, score_window, speaker_reference

    phrase = main_speaker_phrase(arctic_audio[0])
    tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(2 * RATE) / RATE).astype(np.float32)
    path = tmp_path / "music.wav"
    soundfile.write(path, np.concatenate([silence(0.3), phrase, silence(0.3), tone, silence(0.3), phrase,
                                          silence(0.4)]), RATE)
    recording = analyse(path, models.vad)
    profile = profile_recording(recording.samples_16k, recording.audio.clipped, recording.speech_probabilities,
                                recording.segments, models.voice)
    centroid, floor = speaker_reference([profile])
    whole = score_window(profile, 0, 0.2, profile.duration - 0.1, 6.4, centroid, floor)
    assert whole.scores["music"] > 0.15 and whole.rejected == "holds music or a tone"
    first = score_window(profile, 0, 0.2, 3.8, 3.2, centroid, floor)
    assert first.scores["music"] < 0.05 and first.rejected is None


def test_combine_pools_several_short_files_into_one_speaker(run_cli, model_args, arctic_audio, tmp_path):
    samples = arctic_audio[0]
    for name, (start, end) in {"a1.wav": (0.35, 2.0), "a2.wav": (2.0, 3.55), "a3.wav": (0.35, 3.55)}.items():
        soundfile.write(tmp_path / name, np.concatenate([silence(0.3), samples[int(start * RATE): int(end * RATE)],
                                                         silence(0.4)]), RATE)
    other = espeak("Hello there, how are you?")  # the minority voice: about 1.5 s
    soundfile.write(tmp_path / "b.wav", np.concatenate([silence(0.3), 0.3 * other / np.abs(other).max(),
                                                        silence(0.4)]), RATE)
    names = ["a1.wav", "b.wav", "a2.wav", "a3.wav"]
    result = run_cli("make-speaker", *names, "--combine", "-o", "me.npz", *model_args)
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "me.json").read_text())
    assert [source["path"].rsplit("/", 1)[-1] for source in sidecar["sources"]] == names
    # pooled, the ARCTIC speaker dominates: the espeak file's windows are another voice
    assert sidecar["selection"]["source"].rsplit("/", 1)[-1] in ("a1.wav", "a2.wav", "a3.wav")
    assert all(names[candidate["source"]] != "b.wav" for candidate in sidecar["selection"]["top"])
    assert sidecar["durations"]["prompt_speech_seconds"] >= 1.0
    separate = run_cli("make-speaker", *names, *model_args)  # without --combine: each file is its own speaker
    assert separate.exit_code == 0, separate.output
    assert sorted(p.name for p in (tmp_path / "speakers").glob("*.npz")) == ["a1.npz", "a2.npz", "a3.npz", "b.npz"]


def test_candidates_write_the_top_k_windows(run_cli, model_args, podcast_file, tmp_path):
    _, path = podcast_file
    result = run_cli("make-speaker", path, "--candidates", "3", *model_args)
    assert result.exit_code == 0, result.output
    scores = []
    for rank, name in enumerate(["podcast", "podcast-2", "podcast-3"], 1):
        sidecar = json.loads((tmp_path / "speakers" / f"{name}.json").read_text())
        assert (tmp_path / "speakers" / f"{name}.npz").exists() and sidecar["selection"]["rank"] == rank
        scores.append(sidecar["selection"]["score"])
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(json.loads((tmp_path / "speakers" / f"{n}.json").read_text())["window"])
                for n in ("podcast", "podcast-2", "podcast-3")}) == 3


def test_window_overrides_the_choice(run_cli, model_args, podcast_file, tmp_path):
    _, path = podcast_file
    result = run_cli("make-speaker", path, "--window", "12:18.5", *model_args)  # the other voice, on purpose
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "speakers" / "podcast.json").read_text())
    assert sidecar["selection"]["method"] == "manual"
    assert sidecar["window"][0] == 12 and abs(sidecar["window"][1] - 18.5) < 1 / 75


def test_no_usable_window_is_a_clear_error(run_cli, model_args, arctic_audio, tmp_path):
    samples = arctic_audio[0]
    burst = samples[int(0.9 * RATE): int(1.6 * RATE)]  # 0.7 s of speech
    soundfile.write(tmp_path / "bursts.wav", np.concatenate([silence(0.5), burst, silence(3.0), burst,
                                                             silence(0.5)]), RATE)
    result = run_cli("make-speaker", "bursts.wav", "--max-seconds", "2", *model_args)
    assert result.exit_code == 1 and "no usable window" in result.stderr and len(result.stderr.splitlines()) == 1
    tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(4 * RATE) / RATE)
    soundfile.write(tmp_path / "tone.wav", tone, RATE)
    result = run_cli("make-speaker", "tone.wav", *model_args)
    assert result.exit_code == 1 and "0.0 s of speech" in result.stderr
    assert not (tmp_path / "speakers").exists() or not list((tmp_path / "speakers").iterdir())


@pytest.mark.slow
def test_evaluate_reports_prompts_and_every_baseline(run_cli, model_args, tiny, arctic, tmp_path, monkeypatch):
    from bark_clone.models import codecs as models

    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    model_paths = dict(zip(model_args[0::2], model_args[1::2]))

    def no_second_codec(*args, **kwargs):
        raise AssertionError("evaluate must encode with Bark's own codec, not load another EnCodec")

    monkeypatch.setattr(models, "load_encodec", no_second_codec)
    result = run_cli("evaluate", "me.npz", "--target", arctic, "--out", "report", "--bark", tiny["bark"],
                     "--sentences", "2", "--transcript", "Author of the danger trail, Philip Steels, et cetera.",
                     "--quantizer", tiny["quantizer"], "--hubert", model_paths["--hubert"], "--device", "cpu",
                     "--batch-size", "1")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["batch_size"] == 1  # one sentence a generation: each voice's two wavs still come out below
    assert [entry["name"] for entry in report["prompts"]] == ["me"]
    kinds = {entry["kind"] for entry in report["baselines"]}
    assert kinds == {"quantizer", "method 1", "preset"}
    from bark_clone.audio.sound import resample
    from bark_clone.audio.speaker_encoder import embed, load_voice_encoder

    encoder = load_voice_encoder()
    for entry in report["prompts"] + report["baselines"]:
        # the self similarity is that of the audio written: recomputed from the two wavs, independently of the run
        first, second = (embed(encoder, resample(soundfile.read(tmp_path / "report" / wav, dtype="float32")[0],
                                                  24_000, 16_000)) for wav in entry["wavs"])
        assert entry["self_similarity"] == pytest.approx(float(first @ second), abs=2e-3)
        assert 0.01 <= entry["feature_similarity"] <= 1 and -1 <= entry["target_similarity"] <= 1
        harmonic = 1.0 / (0.48 / max(entry["target_similarity"], 1e-6) + 0.5 / max(entry["self_similarity"], 1e-6)
                          + 0.02 / entry["feature_similarity"])
        assert entry["score"] == pytest.approx(harmonic, abs=2e-4)
        assert len(entry["wavs"]) == 2 and all((tmp_path / "report" / wav).exists() for wav in entry["wavs"])
    preset = next(entry for entry in report["baselines"] if entry["kind"] == "preset")
    assert preset["name"].startswith("nearest preset v2/en_speaker_")
    table = (tmp_path / "report" / "report.md").read_text()
    assert "| me | prompt |" in table and "method 1" in table
    assert (tmp_path / "report" / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = run_cli("evaluate", "me.npz", "--target", arctic, "--out", "report", "--bark", tiny["bark"])
    assert again.exit_code == 1 and "--force" in again.stderr


def test_evaluate_refuses_a_silent_target(run_cli, model_args, tiny, arctic, tmp_path):
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    soundfile.write(tmp_path / "quiet.wav", np.zeros(3 * RATE, np.float32), RATE)
    soundfile.write(tmp_path / "hum.wav", 0.01 * np.random.default_rng(0).standard_normal(3 * RATE), RATE)
    for target in ("quiet.wav", "hum.wav"):
        result = run_cli("evaluate", "me.npz", "--target", target, "--out", f"report-{target}", "--bark",
                         tiny["bark"], "--device", "cpu")
        assert result.exit_code == 1 and f"target {target}" in result.stderr, result.stderr
        assert not (tmp_path / f"report-{target}").exists()


def test_refine_keeps_the_best_scoring_candidate(run_cli, model_args, tiny, podcast_file, tmp_path):
    _, path = podcast_file
    result = run_cli("make-speaker", path, "--refine", "2", "--bark", tiny["bark"], *model_args)
    assert result.exit_code == 0, result.output
    refine = json.loads((tmp_path / "speakers" / "podcast.json").read_text())["selection"]["refine"]
    assert len(refine["candidates"]) == 2 and refine["sentences"] == 3
    best = max(refine["candidates"], key=lambda candidate: candidate["score"])
    assert refine["candidates"][refine["chosen"] - 1] == best
    chosen_window = json.loads((tmp_path / "speakers" / "podcast.json").read_text())["window"]
    assert chosen_window == best["window"]
    refused = run_cli("make-speaker", path, "--refine", "2", *model_args)
    assert refused.exit_code == 1 and "--refine needs --bark" in refused.stderr


def test_espeak_voice_is_another_speaker_for_resemblyzer(models, arctic_audio):
    """The test recordings rely on this: if it failed, the selection tests would prove nothing."""
    from bark_clone.audio.speaker_encoder import embed

    main = embed(models.voice, main_speaker_phrase(arctic_audio[0]))
    other = embed(models.voice, espeak("This is somebody else entirely, speaking for a while."))
    same = embed(models.voice, main_speaker_phrase(arctic_audio[0], 0.7))
    assert main @ same > 0.9 and main @ other < 0.7
