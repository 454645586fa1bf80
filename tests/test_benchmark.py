"""bark-clone benchmark: the lists read as data, the protocol's normalisation and the bootstrap, the meters loaded
from folders, and the whole command on a small list of three speakers (the bundled recording and two espeak-ng
voices) with tiny random models: it writes the report, resumes without redoing a row, and refuses a folder of
another benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from recognizers import build_whisper
from recordings import espeak

from bark_clone.benchmark.lists import read_list
from bark_clone.benchmark.meters import error_rate, load_verifier, normalise
from bark_clone.benchmark.report import bootstrap_interval
from bark_clone.errors import UserError

SENTENCES = ["Please call Stella and ask her to bring these things.", "The birch canoe slid on the smooth planks.",
             "Glue the sheet to the dark blue background.", "It is easy to tell the depth of a well."]


def build_verifier(folder: Path, head: bool = True) -> Path:
    """A tiny WavLM with an x-vector head (or without one), and its feature extractor."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector, WavLMModel

    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                         conv_dim=(32, 32, 32), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, tdnn_dim=(32, 32),
                         tdnn_kernel=(5, 3), tdnn_dilation=(1, 2), xvector_output_dim=16)
    (WavLMForXVector if head else WavLMModel)(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("truth, heard, language, expected", [
    ("Hello, world!", "hello world", "en", 0.0),  # punctuation and case are not errors
    ("It's fine.", "its fine", "en", 0.0),  # the protocol strips the apostrophe too
    ("It's fine.", "it is fine", "en", 1.0),  # ...and does not expand contractions (its -> it is: 1 sub + 1 ins)
    ("The birch canoe slid.", "the birch canoe", "en", 0.25),
    ("你好，世界。", "你好世界", "zh", 0.0),  # CJK punctuation (zhon's) removed, compared by characters
    ("你好，世界。", "你们世界", "zh", 0.25),
    ("Hello", "", "en", 1.0),
])
def test_the_protocols_normalisation_and_error_rate(truth, heard, language, expected):
    assert error_rate(truth, heard, language) == pytest.approx(expected)


def test_normalisation_follows_the_protocols_rules():
    assert normalise("Mr. Smith's «car», costs $5!", "en") == "mr smiths «car» costs 5"
    assert normalise("你好，世界。", "zh") == "你 好 世 界"
    assert error_rate("...", "anything", "en") is None  # nothing to say: no score


def test_the_bootstrap_interval():
    rng = np.random.default_rng(0)
    small, large = list(rng.normal(0.5, 0.1, 20)), list(rng.normal(0.5, 0.1, 400))
    low, high = bootstrap_interval(small, 1000, seed=1)
    assert low < np.mean(small) < high and bootstrap_interval(small, 1000, seed=1) == (low, high)
    wide, narrow = high - low, np.subtract(*bootstrap_interval(large, 1000, seed=1)[::-1])
    assert narrow < wide / 2  # 20x the rows: the interval about 4.5x narrower
    assert bootstrap_interval([0.7], 1000) == (0.7, 0.7) and bootstrap_interval([], 1000) is None


def test_both_list_formats_and_their_bad_rows(tmp_path):
    (tmp_path / "seed.lst").write_text("u1|Prompt one.|prompt-wavs/u1.wav|Say this.\n"
                                       "u2|Prompt two.|prompt-wavs/u2.wav|Say that.|wavs/u2.wav\n\n"
                                       "u3|Prompt three.|prompt-wavs/u3.wav|And this.\n")
    rows = read_list(tmp_path / "seed.lst")
    assert [row.utt for row in rows] == ["u1", "u2", "u3"]
    assert rows[0].prompt_wav == tmp_path / "prompt-wavs" / "u1.wav" and rows[0].target_wav == tmp_path / "wavs" / \
        "u1.wav" and rows[1].target_wav == tmp_path / "wavs" / "u2.wav"
    assert [row.utt for row in read_list(tmp_path / "seed.lst", every=2)] == ["u1", "u3"]
    assert [row.utt for row in read_list(tmp_path / "seed.lst", limit=1)] == ["u1"]
    (tmp_path / "ls.lst").write_text("1089-134686-0001\t3.2\tStuff it into you.\t1089-134686-0002\t6.1\tHe hoped.\n")
    (row,) = read_list(tmp_path / "ls.lst", root=tmp_path / "test-clean")
    assert row.prompt_wav == tmp_path / "test-clean" / "1089" / "134686" / "1089-134686-0001.flac"
    assert row.utt == "1089-134686-0002" and row.speaker == "1089" and row.target_text == "He hoped."
    (tmp_path / "seed.lst").write_bytes("u1|Prompt\x0cone.|p.wav|Say\u2028this.\r\nu1|P.|p.wav|T.\n".encode())
    with pytest.raises(UserError, match="seed.lst line 2: utterance 'u1' is listed twice"):  # an editor's line 2
        read_list(tmp_path / "seed.lst")
    bad = {"u1|only three|fields\n": "seed.lst line 1: 3 fields",
           "u1|Prompt.|p.wav|Target.\nu1|Prompt.|p.wav|Again.\n": "line 2: utterance 'u1' is listed twice",
           "u1|Prompt.|p.wav|   \n": "line 1: its target text is empty",
           "../x|Prompt.|p.wav|Target.\n": "line 1: '../x' is not an utterance name",
           "..|Prompt.|p.wav|Target.\n": "line 1: '..' is not an utterance name",
           "a\tb\tc\n": "line 1: 3 fields; LibriSpeech-PC's list has"}
    for content, message in bad.items():
        (tmp_path / "seed.lst").write_text(content)
        with pytest.raises(UserError, match=message.replace("(", r"\(")):
            read_list(tmp_path / "seed.lst")


def test_the_meters_load_from_folders_saved_with_save_pretrained(tmp_path, monkeypatch):
    from bark_clone.models import loading as models
    from bark_clone.models.recognizer import load_recognizer

    verifier = load_verifier(str(build_verifier(tmp_path / "sv")), "cpu")
    speech = espeak(SENTENCES[0], "en-us+f4")
    one, other = verifier.embed(speech), verifier.embed(espeak(SENTENCES[1], "en-us+m3"))
    assert one.shape == (16,) and abs(float(one @ one) - 1) < 1e-5 and float(one @ other) < 1 - 1e-6
    whisper = load_recognizer(str(build_whisper(tmp_path / "whisper")), "cpu", beams=5)
    assert whisper.beams == 5 and isinstance(whisper.transcribe(speech, "en", SENTENCES[0]), str)
    with pytest.raises(UserError, match="a WavLM without a speaker-verification"):
        load_verifier(str(build_verifier(tmp_path / "plain", head=False)), "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models.hub_offline.cache_clear()
    try:
        with pytest.raises(UserError, match="not in the local Hugging Face cache.*--sim-model DIR"):
            load_verifier("microsoft/not-a-cached-verifier", "cpu")
    finally:
        models.hub_offline.cache_clear()


@pytest.fixture(scope="module")
def meters_folders(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("meters")
    return ["--asr", str(build_whisper(root / "whisper")), "--sim-model", str(build_verifier(root / "sv"))]


def seed_tts_list(folder: Path, arctic: Path) -> Path:
    """Seed-TTS-eval's layout: three speakers (the ARCTIC clip, two espeak-ng voices), one target recording."""
    (folder / "prompt-wavs").mkdir(parents=True)
    (folder / "wavs").mkdir()
    samples, rate = soundfile.read(arctic, dtype="float32")
    soundfile.write(folder / "prompt-wavs" / "arctic.wav", samples, rate)
    for name, voice in (("f4", "en-us+f4"), ("m3", "en-us+m3")):
        soundfile.write(folder / "prompt-wavs" / f"{name}.wav", espeak(SENTENCES[1], voice), 16_000)
    soundfile.write(folder / "wavs" / "f4.wav", espeak(SENTENCES[2], "en-us+f4"), 16_000)
    lines = [f"arctic|{SENTENCES[0]}|prompt-wavs/arctic.wav|{SENTENCES[2]}",
             f"f4|{SENTENCES[1]}|prompt-wavs/f4.wav|{SENTENCES[2]}",
             f"m3|{SENTENCES[1]}|prompt-wavs/m3.wav|{SENTENCES[3]}",
             f"broken|{SENTENCES[1]}|prompt-wavs/m3.wav|{SENTENCES[2]}|wavs/broken.wav"]  # an unusable target
    (folder / "wavs" / "broken.wav").write_bytes(b"RIFF" + b"\0" * 200)
    (folder / "meta.lst").write_text("\n".join(lines) + "\n")
    return folder / "meta.lst"


def an_edited_row_is_made_again(run_cli, common: list, listed: Path, out: Path, rows_generated: list) -> None:
    """One row's target text edited in the list: that row is made again by every system that speaks, no other."""
    rows_generated.clear()
    listed.write_text(listed.read_text().replace(f"m3|{SENTENCES[1]}|prompt-wavs/m3.wav|{SENTENCES[3]}",
                                                 f"m3|{SENTENCES[1]}|prompt-wavs/m3.wav|{SENTENCES[2]}"))
    assert run_cli(*common, "--out", out).exit_code == 0 and sum(rows_generated) == 4, rows_generated
    assert json.loads((out / "rows" / "prompt" / "m3.json").read_text())["target_text"] == SENTENCES[2]
    rows_generated.clear()
    assert run_cli(*common, "--out", out).exit_code == 0 and rows_generated == []  # unchanged: none again


@pytest.mark.slow
def test_the_benchmark_end_to_end_resumes_and_reports(run_cli, tiny, model_args, meters_folders, arctic, tmp_path,
                                                      monkeypatch):
    from standins import LevelStandIn, arctic_speech

    from bark_clone.bark import generation
    from bark_clone.speaking import longform

    # random Bark says nothing a VAD hears, so the search (which judges its candidates' speech) hears a stand-in
    # whose voice is known; the benchmark's own rows are Bark's
    speech = arctic_speech(arctic, pad_seconds=0)
    monkeypatch.setattr(longform, "bark_generator", lambda bark, **options: LevelStandIn(speech))
    listed = seed_tts_list(tmp_path / "seedtts", arctic)
    common = ["benchmark", listed, "--bark", tiny["bark"], *model_args, *meters_folders, "--batch-size", "4",
              "--resamples", "200", "--voices", "--search-minutes", "0.01"]
    original, rows_generated = generation.generate, []

    def counted(bark, rows, *args, **options):
        rows_generated.append(len(rows))
        return original(bark, rows, *args, **options)

    monkeypatch.setattr(generation, "generate", counted)
    result = run_cli(*common, "--out", "bench")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench" / "report.json").read_text())
    systems = {row["system"]: row for row in report["systems"]}
    assert list(systems) == ["prompt", "method 1", "preset", "search", "voice"]
    for name in ("prompt", "method 1", "search"):
        row = systems[name]
        assert row["rows_scored"] == 3 and row["rows_failed"] == 1 and 0 <= row["wer_percent"]
        (reason,) = row["failures"]  # the broken target fails its own row, named by its line; the others score
        assert reason.startswith("meta.lst line 4: its target recording: ") and "broken.wav" in reason, reason
        assert -1 <= row["sim_o_interval"][0] <= row["sim_o"] <= row["sim_o_interval"][1] <= 1
        assert row["sim_r"] is not None  # the one row with its target's recording
    assert systems["voice"]["rows_failed"] == 4 and all("a voice needs 60 s" in reason
                                                        for reason in systems["voice"]["failures"])
    assert report["meters"]["wer"] == meters_folders[1] and report["meters"]["sim"] == meters_folders[3]
    markdown = (tmp_path / "bench" / "report.md").read_text()
    assert meters_folders[3] in markdown and "Published numbers (not ours" in markdown and "| F5-TTS" in markdown
    lines = (tmp_path / "bench" / "utterances.csv").read_text().splitlines()
    assert len(lines) == 1 + 5 * 4 and lines[0].startswith("utt,system,speaker,wer,sim_o")
    assert (tmp_path / "bench" / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "bench" / "rows" / "method-1" / "m3.wav").is_file()
    made = sum(rows_generated)
    rows_generated.clear()
    again = run_cli(*common, "--out", "bench")  # finished rows are kept, not made again
    assert again.exit_code == 0, again.output
    assert rows_generated == [] and json.loads((tmp_path / "bench" / "report.json").read_text()) == report
    (tmp_path / "bench" / "rows" / "prompt" / "f4.json").unlink()
    assert run_cli(*common, "--out", "bench").exit_code == 0 and rows_generated == [1] and made >= 9
    an_edited_row_is_made_again(run_cli, common, listed, tmp_path / "bench", rows_generated)
    other = run_cli(*common, "--out", "bench", "--seed", "1")
    assert other.exit_code == 1 and "holds a benchmark with other settings (seed)" in other.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    foreign = run_cli(*common, "--out", "mine")
    assert foreign.exit_code == 1 and (tmp_path / "mine" / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_voice_per_speaker_from_a_librispeech_list(run_cli, tiny, model_args, meters_folders, arctic, tmp_path):
    """LibriSpeech-PC's list under --root: the speaker's other recordings train a voice (a low bar here)."""
    root = tmp_path / "test-clean"
    for utt, text in (("19-198-0001", SENTENCES[0]), ("19-198-0002", SENTENCES[1]), ("19-198-0003", SENTENCES[2])):
        (root / "19" / "198").mkdir(parents=True, exist_ok=True)
        soundfile.write(root / "19" / "198" / f"{utt}.flac", espeak(text, "en-us+f4"), 16_000)
    (tmp_path / "ls.lst").write_text(f"19-198-0001\t3.0\t{SENTENCES[0]}\t19-198-0002\t3.0\t{SENTENCES[1]}\n"
                                     f"19-198-0003\t3.0\t{SENTENCES[2]}\t19-198-0004\t3.0\t{SENTENCES[3]}\n")
    result = run_cli("benchmark", tmp_path / "ls.lst", "--root", root, "--out", "ls", "--bark", tiny["bark"],
                     *model_args, *meters_folders, "--voices", "--voice-min-seconds", "2", "--voice-steps", "2",
                     "--resamples", "100")
    assert result.exit_code == 0, result.output
    rows = {row["system"]: row for row in json.loads((tmp_path / "ls" / "report.json").read_text())["systems"]}
    assert rows["voice"]["rows_scored"] == 2 and rows["voice"]["rows_failed"] == 0, rows["voice"]
    assert (tmp_path / "ls" / "voices" / "19" / "voice.json").is_file()
    voice = json.loads((tmp_path / "ls" / "rows" / "voice" / "19-198-0002.json").read_text())
    assert voice["voice"] == "19" and voice["stages"] == ["coarse", "fine"] and "sim_r" in voice
    missing = json.loads((tmp_path / "ls" / "rows" / "voice" / "19-198-0004.json").read_text())
    assert "sim_o" in missing and "sim_r" not in missing  # the list's target recording is not there: SIM-o only
