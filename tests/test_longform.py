"""Long text: chunking that loses nothing, the consistency guard on voices known in advance, Bark's failures,
joining, and the speak command end to end with the tiny Bark."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from standins import VoiceStandIn, generation_of

from bark_clone.audio.joining import chunk_piece
from bark_clone.constants import CODEC_SAMPLE_RATE, DEFAULT_MIN_SIMILARITY
from bark_clone.requests import SpeakRequest
from bark_clone.speaking.chunking import BARK_TEXT_TOKENS, estimated_seconds, plan_chunks
from bark_clone.speaking.consistency import failure_flags, judge
from bark_clone.speaking.longform import LongFormSettings, speak_long
from bark_clone.speaking.session import SpeakingSession

TEXTS = {
    "en": "The lighthouse stood on the rock for a century. Storms came and went, and the keepers came and went "
          "with them, one after another, each writing the weather into the same thick book, page after page, "
          "until the ink faded, the binding cracked, the pages curled with salt, and nobody could read the early "
          "years any more. Then the lamp was automated. Dr. Smith arrived at 5 p.m. to see it!",
    "de": "Der Leuchtturm stand hundert Jahre auf dem Felsen. Stürme kamen und gingen, und mit ihnen die Wärter, "
          "einer nach dem anderen, jeder schrieb das Wetter in dasselbe dicke Buch, Seite um Seite, bis die Tinte "
          "verblasste. Dann kam Dr. Müller am 3. Mai um 17 Uhr.",
    "ja": "灯台は百年のあいだ岩の上に立っていた。嵐が来ては去り、灯台守たちも次々にやって来ては去っていき、"
          "それぞれが同じ分厚い本に天気を書き続け、インクが薄れ、表紙がひび割れるまで続いた。そして灯りは自動になった。",
    "zh": "灯塔在岩石上矗立了一百年。风暴来了又走，守塔人也一个接一个地来了又走，每个人都在同一本厚厚的书上记录天气，"
          "一页又一页，直到墨水褪色，书脊开裂。后来灯被自动化了。",
    "fr": "Le phare est resté debout sur son rocher pendant un siècle. Les tempêtes sont venues et reparties.",
    "ko": "등대는 백 년 동안 바위 위에 서 있었다. 폭풍이 왔다가 갔다. 그리고 등불은 자동화되었다.",
}


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_chunks_lose_nothing_and_fit_bark(language):
    text = TEXTS[language]
    for seconds in (3.0, 6.0, 12.0):
        chunks = plan_chunks(text, language, seconds)
        assert "".join(chunks) == text  # nothing lost, nothing added, whitespace included
        assert all(chunk.strip() for chunk in chunks)
        for chunk in chunks:
            assert estimated_seconds(chunk, language) <= seconds + 1e-9, (chunk, seconds)
            assert len(chunk.encode("utf-8")) <= BARK_TEXT_TOKENS
    assert len(plan_chunks(text, language, 3.0)) > len(plan_chunks(text, language, 12.0)) >= 1


def test_long_sentences_split_at_commas_then_spaces_never_in_a_word():
    text = TEXTS["en"]
    chunks = plan_chunks(text, "en", 4.0)
    for left, right in zip(chunks, chunks[1:]):
        assert left[-1] in " ,.!?" or right[0] == " ", (left[-15:], right[:15])  # cut at a break, not in a word
    long_sentence = next(sentence for sentence in text.split(". ") if sentence.startswith("Storms"))
    pieces = [chunk for chunk in chunks if chunk.strip() and chunk.strip() in long_sentence + "."]
    assert len(pieces) > 1 and all(piece.rstrip().endswith((",", ".")) for piece in pieces[:-1])
    words = plan_chunks("a" * 30 + " " + "b" * 30, "en", 3.0)  # a budget of 42 characters: split at the space
    assert [chunk.strip() for chunk in words] == ["a" * 30, "b" * 30]


def test_chunking_is_linear_in_runs_of_whitespace_and_loses_nothing(tiny):
    import random
    import time

    from bark_clone.bark.core import load_bark
    from bark_clone.speaking.longform import token_counter

    count = token_counter(load_bark(str(tiny["bark"]), "cpu"))  # Bark's own tokenizer: whitespace costs no token
    rng = random.Random(0)
    pieces = [" ", "\n", "\t", "\r\n", "\u00a0", "\u2003", "\u3000", "\n\n\n"]
    text = "Hello there." + "".join(rng.choice(pieces) for _ in range(100_000)) + "And then, at last, the end."
    text = text + "\n" * (200_000 - len(text))
    assert len(text) == 200_000
    started = time.perf_counter()
    chunks = plan_chunks(text, "en", 12.0, count)
    elapsed = time.perf_counter() - started
    assert "".join(chunks) == text  # every whitespace character is still there, in order
    assert [chunk.split() for chunk in chunks if chunk.strip()][0][0] == "Hello"
    assert elapsed < 5.0, elapsed  # linear: about 0.1 s; the quadratic packer took 12 s for 20 000 newlines


def test_chunking_counts_tokens_with_the_given_counter():
    chunks = plan_chunks(TEXTS["en"], "en", 12.0, count_tokens=lambda piece: 10 * len(piece.split()))
    assert all(10 * len(chunk.split()) <= BARK_TEXT_TOKENS for chunk in chunks)


SENTENCES = ["The keeper climbed the stairs at dusk.", "He lit the lamp and watched the sea.",
             "A ship passed far out in the fog.", "By morning the storm had gone.",
             "He wrote it all down in the book."]


def test_guard_retries_exactly_the_off_voice_chunks_and_flags_the_hopeless_one(voices):
    standin = VoiceStandIn(voices["speaker"], off_first={SENTENCES[1], SENTENCES[3]}, never={SENTENCES[4]})
    settings = LongFormSettings(seed=5, batch_size=2, tries=3, chunk_seconds=3.5)
    session = SpeakingSession(None, voices["encoder"], voices["vad"], generator=standin)
    audio, report = speak_long(session, None, " ".join(SENTENCES), settings, reference=voices["reference"],
                               progress=False)
    rows = report["chunks"]
    assert [row["text"] for row in rows] == SENTENCES  # one sentence a chunk at this budget
    assert [row["tries"] for row in rows] == [1, 2, 1, 2, 3]
    assert dict(standin.calls) == {text: tries for text, tries in zip(SENTENCES, [1, 2, 1, 2, 3])}
    for row in rows[:4]:  # the speaker's own voice, kept at once or after one retry
        assert row["passed"] and row["flags"] == [] and row["similarity"] >= DEFAULT_MIN_SIMILARITY
    for row in (rows[1], rows[3]):
        assert row["similarities"][0] < DEFAULT_MIN_SIMILARITY <= row["similarities"][1] == row["similarity"]
    hopeless = rows[4]
    assert not hopeless["passed"] and hopeless["flags"] == ["off-voice"] and len(hopeless["similarities"]) == 3
    assert hopeless["similarity"] == max(hopeless["similarities"]) < DEFAULT_MIN_SIMILARITY
    assert report["flagged"] == 1 and report["retried"] == 3 and report["min_similarity"] == hopeless["similarity"]
    pauses = settings.pause * (len(rows) - 1)
    assert len(audio) == round((sum(row["duration"] for row in rows) + pauses) * CODEC_SAMPLE_RATE)
    # the earliest unfinished chunks first, retries with them: batches stay full and chunks finish in order
    order = [[SENTENCES.index(text) for text in texts] for texts, _ in standin.batches]
    assert order == [[0, 1], [1, 2], [3, 4], [3, 4], [4]]


def test_the_same_seed_gives_the_same_choices_and_audio(voices):
    def run(seed):
        standin = VoiceStandIn(voices["speaker"], off_first={SENTENCES[0]})
        return speak_long(SpeakingSession(None, voices["encoder"], voices["vad"], generator=standin), None,
                          " ".join(SENTENCES[:3]), LongFormSettings(seed=seed, chunk_seconds=3.5),
                          reference=voices["reference"], progress=False)

    (audio_a, report_a), (audio_b, report_b) = run(3), run(3)
    np.testing.assert_array_equal(audio_a, audio_b)
    assert [row["seed"] for row in report_a["chunks"]] == [row["seed"] for row in report_b["chunks"]]
    assert [row["seed"] for row in run(4)[1]["chunks"]] != [row["seed"] for row in report_a["chunks"]]


def test_barks_failures_are_detected_on_constructed_audio(voices):
    speaker = voices["speaker"]
    arguments = ("en", 1, voices["reference"], voices["encoder"], voices["vad"], DEFAULT_MIN_SIMILARITY)
    fine = judge(generation_of(speaker), SENTENCES[0], *arguments)
    assert fine.passed, fine.flags
    cut = judge(generation_of(speaker, ended=False), SENTENCES[0], *arguments)
    assert cut.flags == ["cut-off"]
    silent = judge(generation_of(np.zeros(3 * CODEC_SAMPLE_RATE, np.float32)), SENTENCES[0], *arguments)
    assert "silence" in silent.flags
    long_text = " ".join(SENTENCES * 3)  # 13 s of text cannot take 3 s of speech
    assert "duration" in judge(generation_of(speaker), long_text, *arguments).flags
    assert failure_flags("Hi.", "en", 30.0, 25.0, True) == ["duration"]  # and 3 characters cannot take 25 s
    assert len(fine.audio) < len(speaker) - CODEC_SAMPLE_RATE // 2  # trimmed to the speech (+0.1 s)


def test_joining_adds_pauses_fades_and_never_clips():
    rate = CODEC_SAMPLE_RATE
    loud = np.full(rate, 1.5, np.float32)
    pieces = [chunk_piece(loud, rate, 0.0), chunk_piece(np.full(rate // 2, 0.5, np.float32), rate, 0.3)]
    joined, gain_db = np.concatenate([piece for piece, _ in pieces]), min(gain for _, gain in pieces)
    assert len(joined) == rate + rate // 2 + int(0.3 * rate)
    assert np.abs(joined).max() <= 0.99 and gain_db < 0
    assert joined[0] == 0 and abs(joined[rate + 10]) == 0  # faded in; the pause is silent


LONG_TEXT = ("The keeper climbed the stairs at dusk. He lit the lamp, checked the lens, and watched the sea for a "
             "long while. A ship passed far out in the fog.")


@pytest.fixture()
def speaker_npz(run_cli, arctic, model_args, tmp_path):
    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    return tmp_path / "me.npz"


@pytest.mark.slow
def test_speak_command_end_to_end_with_the_tiny_bark(run_cli, speaker_npz, tiny, tmp_path):
    (tmp_path / "long.txt").write_text(LONG_TEXT, encoding="utf-8")
    arguments = ["--bark", tiny["bark"], "--device", "cpu", "--seed", "1", "--batch-size", "2", "--tries", "2",
                 "--chunk-seconds", "4"]
    result = run_cli("speak", speaker_npz, "--text-file", "long.txt", "-o", "out.flac", *arguments, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert json.loads(result.stdout) == report
    progress = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [line["index"] for line in progress] == list(range(len(report["chunks"])))  # each chunk, in order
    assert {line["event"] for line in progress} == {"chunk"} and progress[-1]["audio_seconds"] == report["duration"]
    rows = report["chunks"]
    assert len(rows) >= 3 and " ".join(row["text"] for row in rows).split() == LONG_TEXT.split()
    for row in rows:
        assert set(row) >= {"text", "seed", "tries", "similarity", "similarities", "duration", "flags"}
        assert 1 <= row["tries"] == len(row["similarities"]) <= 2 and row["similarity"] == max(row["similarities"])
        assert row["tries"] == 2 or not row["flags"]  # a flagged chunk was retried up to --tries
    assert report["reference"]["kind"] == "recording"  # the sidecar's source recording was found unchanged
    assert report["min_similarity"] == min(row["similarity"] for row in rows) and report["elapsed_seconds"] > 0
    audio, rate = soundfile.read(tmp_path / "out.flac", dtype="float32")
    expected = sum(row["duration"] for row in rows) + 0.3 * (len(rows) - 1)
    assert rate == 24_000 and abs(len(audio) / rate - expected) <= 0.001 * len(rows) + 1e-6
    again = run_cli("speak", speaker_npz, "--text-file", "long.txt", "-o", "again.flac", *arguments)
    assert again.exit_code == 0, again.output
    np.testing.assert_array_equal(soundfile.read(tmp_path / "again.flac", dtype="float32")[0], audio)


def test_speak_refuses_bad_input_with_one_line_and_writes_nothing(run_cli, speaker_npz, tiny, tmp_path):
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "long.txt").write_text("word " * 30, encoding="utf-8")
    (tmp_path / "blank.txt").write_text(" \n\t ", encoding="utf-8")
    np.savez(tmp_path / "notprompt.npz", semantic_prompt=np.zeros(3, np.int64))
    (tmp_path / "taken.wav").write_bytes(b"mine")
    bark = ["--bark", tiny["bark"], "--device", "cpu"]
    cases = {
        "empty text": (["speak", speaker_npz, "   ", "-o", "a.wav"], "the text to speak is empty"),
        "blank file": (["speak", speaker_npz, "--text-file", "blank.txt", "-o", "a.wav"], "empty"),
        "not utf-8": (["speak", speaker_npz, "--text-file", "latin1.txt", "-o", "a.wav"], "is not UTF-8 text"),
        "too long": (["speak", speaker_npz, "--text-file", "long.txt", "-o", "a.wav", "--max-chars", "100"],
                     "at most 100 are spoken"),
        "not a prompt": (["speak", tmp_path / "notprompt.npz", "hello", "-o", "a.wav"], "lacks coarse_prompt"),
        "exists": (["speak", speaker_npz, "hello", "-o", "taken.wav"], "pass --force"),
        "both texts": (["speak", speaker_npz, "hello", "--text-file", "long.txt", "-o", "a.wav"], "not both"),
        "neither": (["speak", speaker_npz, "-o", "a.wav"], "either as TEXT or with --text-file"),
        "format": (["speak", speaker_npz, "hello", "-o", "a.m4a"], "must end in .wav, .flac, .mp3"),
    }
    for name, (arguments, message) in cases.items():
        result = run_cli(*arguments, *bark)
        assert result.exit_code == 1, (name, result.output)
        assert message in result.stderr and result.stderr.count("\n") == 1, (name, result.stderr)
        assert not (tmp_path / "a.wav").exists() and not (tmp_path / "a.json").exists(), name
    assert (tmp_path / "taken.wav").read_bytes() == b"mine"


def test_library_defaults_match_the_cli():
    from bark_clone.constants import DEFAULT_MIN_SIMILARITY
    from bark_clone.speaking.command import settings_for

    request = SpeakRequest(speaker="me.npz", output="out.wav", text="hi")
    assert request.long_form.min_similarity == DEFAULT_MIN_SIMILARITY
    assert settings_for(request) == LongFormSettings(seed=0)
    unseeded = SpeakRequest(speaker="me.npz", output="out.wav", text="hi", long_form=LongFormSettings(seed=None))
    assert settings_for(unseeded).seed != settings_for(unseeded).seed  # drawn, then reported


def test_default_threshold_lies_between_measured_same_and_other_voices():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "guard_threshold.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lies in it" in result.stdout


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_output_format_follows_the_suffix(suffix):
    import io

    from bark_clone.audio.sound import encoded_audio

    tone = (0.3 * np.sin(np.arange(CODEC_SAMPLE_RATE) / 10)).astype(np.float32)
    decoded, rate = soundfile.read(io.BytesIO(encoded_audio(tone, CODEC_SAMPLE_RATE, suffix)), dtype="float32")
    assert rate == CODEC_SAMPLE_RATE and len(decoded) == len(tone)
    assert np.corrcoef(decoded, tone)[0, 1] > 0.99
