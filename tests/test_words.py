"""The words check: error rates after Whisper's normalisation with Bark's cues left out, chunks that never split a
cue, a stand-in recognizer whose mishearings are known (exactly those chunks are retried and flagged), the best-try
rule, and the real loading path: random-weight CTC and Whisper recognizers saved with save_pretrained, on speech."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from recognizers import ScriptedRecognizer, build_ctc, build_whisper
from standins import VoiceStandIn

from bark_clone.constants import DEFAULT_MAX_WER
from bark_clone.speaking.chunking import plan_chunks
from bark_clone.speaking.consistency import Attempt, WordsCheck
from bark_clone.speaking.longform import LongFormSettings, speak_long
from bark_clone.speaking.session import SpeakingSession
from bark_clone.speaking.words import error_rate, normalised

SENTENCES = ["The keeper climbed the stairs at dusk.", "He lit the lamp and watched the sea.",
             "A ship passed far out in the fog.", "By morning the storm had gone.",
             "He wrote it all down in the book."]


def test_error_rates_ignore_cues_case_punctuation_and_spelled_numbers():
    assert error_rate("It costs two dollars [laughs], really... ♪ la la ♪", "it costs $2 really", "en") == 0.0
    assert error_rate("Hello, Mr. Brown!", "hello mister brown", "en") == 0.0
    assert error_rate("He lit the lamp and watched the sea.", "he lit the lamp", "en") == pytest.approx(4 / 8)
    assert error_rate("He lit the lamp.", "he he lit the lamp lamp", "en") == pytest.approx(2 / 4)
    assert error_rate("[laughs] ♪", "ha ha", "en") is None  # only cues: nothing to check
    assert error_rate("Hola, ¿qué tal?", "hola que tal", "es") == pytest.approx(1 / 3)  # accents are words' letters
    assert normalised("灯台は 百年、立っていた。", "ja") == "灯台は百年立っていた"
    assert error_rate("灯台は百年立っていた", "灯台は百年", "ja") == pytest.approx(5 / 10)  # characters, not words
    assert error_rate("Something to say.", "", "en") == 1.0


def test_default_threshold_lies_between_a_mumbled_word_and_barks_failures():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from wer_threshold import text_failures

    text = ("The keeper climbed the stairs at dusk, lit the lamp and checked the lens, and then he sat down by the "
            "window to watch the sea for a long while.")
    rates = {kind: error_rate(text, said, "en") for kind, said in text_failures(text).items()}
    assert rates["one word mumbled"] < DEFAULT_MAX_WER / 4  # recognizer noise of this size never triggers a retry
    assert rates["last clause skipped"] > DEFAULT_MAX_WER and rates["cut off at 70 %"] > DEFAULT_MAX_WER


def test_chunking_never_splits_inside_brackets():
    text = ("Hello there. [clears throat. then laughs, loudly and long, for a while] Next sentence here, with commas, "
            "and more words, and more words again [sighs, twice], and then more. ♪ la la ♪ The end.")
    for seconds in (1.0, 2.0, 3.0, 12.0):
        chunks = plan_chunks(text, "en", seconds)
        assert "".join(chunks) == text
        for chunk in chunks:
            assert chunk.count("[") == chunk.count("]"), (seconds, chunk)
            assert chunk.index("]") > chunk.index("[") if "[" in chunk else True


def speak_with_words(voices, recognizer, text, **options):
    standin = VoiceStandIn(voices["speaker"])
    settings = LongFormSettings(seed=5, batch_size=2, tries=3, chunk_seconds=3.5, **options)
    session = SpeakingSession(None, voices["encoder"], voices["vad"], WordsCheck(recognizer, settings.max_wer),
                              generator=standin)
    audio, report = speak_long(session, None, text, settings, reference=voices["reference"], progress=False)
    return standin, report


def test_words_check_retries_exactly_the_off_script_chunks_and_flags_the_hopeless_one(voices):
    recognizer = ScriptedRecognizer(dropped={SENTENCES[1]: "he lit the lamp",  # 4 of 8 words missing: once
                                             SENTENCES[3]: "by morning the storm had had had gone gone",  # repeats
                                             SENTENCES[4]: "he wrote"},  # every try (below)
                                    always={SENTENCES[4]})
    standin, report = speak_with_words(voices, recognizer, " ".join(SENTENCES))
    rows = report["chunks"]
    assert [row["text"] for row in rows] == SENTENCES
    assert [row["tries"] for row in rows] == [1, 2, 1, 2, 3]
    assert dict(standin.calls) == {text: tries for text, tries in zip(SENTENCES, [1, 2, 1, 2, 3])}
    assert report["words_checked"] and report["settings"]["max_wer"] == DEFAULT_MAX_WER == 0.25
    for row in rows[:4]:
        assert row["passed"] and row["wer"] == 0.0 and row["transcript"] == row["text"]
    for row in (rows[1], rows[3]):  # the off-script try is reported with what was heard, then the good one kept
        first, second = row["attempts"]
        assert first["flags"] == ["off-script"] and first["wer"] > DEFAULT_MAX_WER and first["transcript"] != row["text"]
        assert second["flags"] == [] and second["wer"] == 0.0 and row["seed"] == second["seed"]
    assert rows[1]["attempts"][0]["wer"] == 0.5 and rows[3]["attempts"][0]["wer"] == pytest.approx(3 / 6, abs=1e-4)
    hopeless = rows[4]
    assert not hopeless["passed"] and hopeless["flags"] == ["off-script"] and hopeless["transcript"] == "he wrote"
    assert [attempt["wer"] for attempt in hopeless["attempts"]] == [0.75] * 3
    assert report["flagged"] == 1 and report["retried"] == 3 and report["max_wer_seen"] == 0.75


def test_a_looser_threshold_lets_the_same_mishearings_pass(voices):
    recognizer = ScriptedRecognizer(dropped={SENTENCES[1]: "he lit the lamp"})
    standin, report = speak_with_words(voices, recognizer, " ".join(SENTENCES[:3]), max_wer=0.6)
    assert [row["tries"] for row in report["chunks"]] == [1, 1, 1] and report["chunks"][1]["wer"] == 0.5
    assert all(row["passed"] for row in report["chunks"])


def test_the_best_try_rule():
    def attempt(similarity, flags=(), wer=None):
        return Attempt(np.zeros(1, np.float32), 0, similarity, list(flags), None, "", wer)

    passed = attempt(0.8, wer=0.1)
    candidates = [attempt(0.95, ["off-voice", "cut-off"]), attempt(0.9, ["off-script"], wer=0.5),
                  attempt(0.9, ["off-script"], wer=0.4), attempt(0.5, ["off-voice"], wer=0.2), passed]
    ranked = sorted(candidates, key=Attempt.rank, reverse=True)
    assert ranked[0] is passed  # a try that passes everything always wins
    assert ranked[1] is candidates[3]  # then on script (even in another voice) before off script
    assert ranked[2:4] == [candidates[2], candidates[1]]  # off script: the lower error rate first
    assert ranked[4] is candidates[0]  # a broken chunk last, however similar its voice


@pytest.mark.parametrize("build", [build_ctc, build_whisper])
def test_real_recognizers_load_from_folders_and_transcribe_speech(build, tmp_path, arctic):
    import torch

    from bark_clone.models.recognizer import load_recognizer

    recognizer = load_recognizer(str(build(tmp_path / "asr")), torch.device("cpu"))
    samples, rate = soundfile.read(arctic, dtype="float32")
    assert rate == 16_000
    transcript = recognizer.transcribe(samples, "en", "Author of the danger trail, Philip Steels, etc.")
    assert isinstance(transcript, str) and transcript.strip()  # random weights: some text, never a crash
    assert recognizer.transcribe(np.zeros(0, np.float32)) == ""
    rate_of = error_rate("Author of the danger trail.", transcript, "en")
    assert rate_of is not None and rate_of > 0


@pytest.mark.slow
def test_speak_checks_words_with_a_ctc_folder_end_to_end(run_cli, arctic, model_args, tiny, tmp_path):
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    asr = build_ctc(tmp_path / "ctc")
    result = run_cli("speak", "me.npz", "Hello there. This is a test.", "-o", "out.wav", "--bark", tiny["bark"],
                     "--device", "cpu", "--seed", "1", "--tries", "2", "--asr", asr, "--max-wer", "0.9")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["words_checked"] and report["settings"]["check_words"] is True
    for row in report["chunks"]:
        for attempt in row["attempts"]:
            assert isinstance(attempt["transcript"], str) and 0 <= attempt["wer"]
            assert ("off-script" in attempt["flags"]) == (attempt["wer"] > 0.9)
    off = run_cli("speak", "me.npz", "Hello there.", "-o", "off.wav", "--bark", tiny["bark"], "--device", "cpu",
                  "--asr", asr, "--no-check-words")
    assert off.exit_code == 0, off.output
    assert json.loads((tmp_path / "off.json").read_text())["chunks"][0]["transcript"] is None


def test_speak_refuses_a_bad_recognizer_or_threshold_with_one_line(run_cli, arctic, model_args, tiny, tmp_path):
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    (tmp_path / "empty").mkdir()
    bark = ["--bark", tiny["bark"], "--device", "cpu"]
    cases = {
        "hubert without a CTC head": (["--asr", tiny["hubert"]], "without a CTC head, not a speech recognizer"),
        "bark": (["--asr", tiny["bark"]], "holds a 'bark' model, not a speech recognizer"),
        "empty folder": (["--asr", "empty"], "is not a model folder"),
        "missing": (["--asr", "no/such-recognizer-here", "--check-words"], "cannot load a speech recognizer"),
        "max-wer high": (["--max-wer", "1.5"], "--max-wer"),
        "max-wer negative": (["--max-wer", "-0.1"], "--max-wer"),
    }
    for name, (options, message) in cases.items():
        result = run_cli("speak", "me.npz", "Hello there.", "-o", "a.wav", *bark, *options)
        assert result.exit_code != 0, (name, result.output)
        assert message in result.stderr and "Traceback" not in result.stderr, (name, result.stderr)
        assert not (tmp_path / "a.wav").exists() and not (tmp_path / "a.json").exists(), name


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory):
    return build_whisper(tmp_path_factory.mktemp("whisper") / "whisper")


def test_a_chunk_longer_than_whispers_decoder_is_heard_in_parts(whisper_folder, arctic_audio, monkeypatch):
    """The tiny Whisper's decoder holds 64 positions: a 300-character chunk would ask for about 158 tokens."""
    from bark_clone.models.recognizer import load_recognizer

    recognizer = load_recognizer(str(whisper_folder), "cpu")
    model, asked = recognizer.loaded.model, []
    original = model.generate

    def recorded(*args, **options):
        asked.append(options["max_new_tokens"])
        return original(*args, **options)

    monkeypatch.setattr(model, "generate", recorded)
    samples, _ = arctic_audio
    text = "Author of the danger trail, Philip Steels, etc. " * 6
    assert isinstance(recognizer.transcribe(np.tile(samples, 3), "en", text), str)
    assert len(asked) == 3 and all(tokens <= 64 - 8 for tokens in asked)


def hostile_whisper(source, folder, change_config=None, change_generation=None, raw_generation=None):
    import shutil

    shutil.copytree(source, folder)
    for name, change in (("config.json", change_config), ("generation_config.json", change_generation)):
        if change is not None:
            document = {**json.loads((folder / name).read_text()), "_from_model_config": False}  # else not read
            (folder / name).write_text(json.dumps(change(document)))
    if raw_generation is not None:
        (folder / "generation_config.json").write_bytes(raw_generation)
    return folder


def test_a_recognizer_that_cannot_transcribe_fails_when_it_loads(whisper_folder, run_cli, arctic, model_args, tiny,
                                                                 tmp_path):
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    cases = {
        "languages as a list": (dict(change_generation=lambda d: {**d, "lang_to_id": ["<|en|>"]}), "lang_to_id"),
        "a 5 MB generation config": (dict(raw_generation=b'{"a": "' + b"x" * (5 * 2**20) + b'"}'),
                                     "generation_config.json is not JSON in a regular file"),
        "not json": (dict(raw_generation=b"{nope"), "generation_config.json is not JSON"),
        "weights that do not fit": (dict(change_config=lambda d: {**d, "max_target_positions": 3}),
                                    "its weights do not fit its config.json"),
        "a start token outside the vocabulary": (
            dict(change_generation=lambda d: {**d, "decoder_start_token_id": 10**6}), "recognizer"),
    }
    for name, (changes, message) in cases.items():
        folder = hostile_whisper(whisper_folder, tmp_path / name.replace(" ", "-"), **changes)
        result = run_cli("speak", "me.npz", "Hello there.", "-o", "a.wav", "--bark", tiny["bark"], "--device", "cpu",
                         "--asr", folder)
        assert result.exit_code == 1 and message in result.stderr, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and "unexpected" not in result.stderr, (name, result.stderr)
        assert not (tmp_path / "a.wav").exists(), name
