"""Scripts with several voices: parsing (pauses, errors naming the line), each line in its speaker's voice and
guarded against that speaker (stand-in voices known in advance), adapters worn only for their voice's rows, and
speak --script end to end with the tiny Bark (--split, bad input)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest
import soundfile
from recordings import espeak
from standins import generation_of

from bark_clone.audio.sound import resample
from bark_clone.constants import CODEC_SAMPLE_RATE
from bark_clone.errors import UserError
from bark_clone.requests import LongFormSettings
from bark_clone.speaking.consistency import Reference
from bark_clone.speaking.longform import SpeakingVoice
from bark_clone.speaking.script import PARAGRAPH_PAUSE_FACTOR, parse_script, speak_script
from bark_clone.speaking.session import SpeakingSession

SCRIPT = """alice: The keeper climbed the stairs at dusk.
bob: He lit the lamp and watched the sea.

alice: A ship passed far out in the fog.
"""


def test_scripts_parse_into_lines_with_pauses_and_errors_name_the_line():
    lines = parse_script(SCRIPT, {"alice", "bob", "carol"}, 0.3)
    assert [(line.number, line.speaker, line.text) for line in lines] == [
        (1, "alice", "The keeper climbed the stairs at dusk."), (2, "bob", "He lit the lamp and watched the sea."),
        (4, "alice", "A ship passed far out in the fog.")]
    assert [line.pause for line in lines] == [0.3, 0.3, 0.3 * PARAGRAPH_PAUSE_FACTOR]  # a blank line: longer
    assert parse_script("\n\nbob：[laughs] Hi.", {"bob"}, 0.3)[0].text == "[laughs] Hi."  # full-width colon, cues
    cases = {"alice: hi\ncarol: hello": "script line 2: 'carol' is not one of the voices given (alice, bob)",
             "alice: hi\nbob:   \n": "script line 2: bob says nothing",
             "alice: hi\n\njust words without a name\n": "script line 3: 'just words without a name' is not NAME",
             " \n\n": "the script has no lines",
             "alice: hi\nbob: \u200b\u200d\n": "script line 2: bob says nothing",  # zero-width characters only
             "alice: hi\nbob: a\x00b\n": "script line 2: bob holds a NUL character",
             "alice: hi\r\nbob: \ud800\r\n": "script line 2: bob holds a lone surrogate"}
    for text, message in cases.items():
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_script(text, {"alice", "bob"}, 0.3)
    separated = parse_script("alice: one\u2028still one\r\nbob: two", {"alice", "bob"}, 0.3)
    assert [line.text for line in separated] == ["one\u2028still one", "two"]  # only \n and \r\n end a line


@dataclass
class TwoVoices:
    """Speaks each prompt's rows in that prompt's voice (``voices``: prompt -> voice name), except the first try
    of the texts in ``swapped``, which comes in the other speaker's voice."""

    voices: dict[int, str]
    speech: dict[str, callable]
    swapped: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)
    batches: list = field(default_factory=list)

    def __call__(self, texts, prompt, seed):
        self.batches.append((self.voices[id(prompt)], list(texts)))
        made = []
        for text in texts:
            name = self.voices[id(prompt)]
            if text in self.swapped and not self.calls.get(text):
                name = next(other for other in self.speech if other != name)
            self.calls[text] = self.calls.get(text, 0) + 1
            made.append(generation_of(self.speech[name](text)))
        return made


def test_each_line_is_spoken_and_guarded_in_its_speakers_voice(voices):
    from bark_clone.audio.speaker_encoder import embed

    robot = {}

    def bob_says(text):
        if text not in robot:
            spoken = espeak(text, "en-us+m3")
            robot[text] = resample(np.concatenate([np.zeros(4000, np.float32), 0.3 * spoken / np.abs(spoken).max(),
                                                   np.zeros(4000, np.float32)]), 16_000, CODEC_SAMPLE_RATE)
        return robot[text]

    bob_reference = embed(voices["encoder"], espeak("Meanwhile the weather turned and the trains ran late.",
                                                    "en-us+m3"))
    prompts = {"alice": object(), "bob": object()}
    speakers = {"alice": SpeakingVoice("alice", prompts["alice"], voices["reference"]),
                "bob": SpeakingVoice("bob", prompts["bob"], Reference(bob_reference, "recording", "espeak m3"))}
    lines = parse_script(SCRIPT, speakers, 0.3)
    standin = TwoVoices({id(prompts["alice"]): "alice", id(prompts["bob"]): "bob"},
                        {"alice": lambda text: voices["speaker"], "bob": bob_says}, swapped={lines[1].text})
    settings = LongFormSettings(seed=2, batch_size=4, tries=3, chunk_seconds=6)
    session = SpeakingSession(None, voices["encoder"], voices["vad"], generator=standin)
    audio, report, by_line = speak_script(session, lines, speakers, settings, progress=False)
    assert [(line["speaker"], line["text"], line["chunks"]) for line in report["lines"]] == [
        ("alice", lines[0].text, [0]), ("bob", lines[1].text, [1]), ("alice", lines[2].text, [2])]
    rows = report["chunks"]
    assert [row["speaker"] for row in rows] == ["alice", "bob", "alice"] and all(row["passed"] for row in rows)
    assert [row["tries"] for row in rows] == [1, 2, 1]  # bob's line first came in alice's voice: caught, retried
    assert rows[1]["attempts"][0]["flags"] == ["off-voice"]
    assert standin.batches[0] == ("alice", [lines[0].text, lines[2].text])  # one speaker's lines batched together
    assert set(report["references"]) == {"alice", "bob"}
    pauses = [0.3, 0.3 * PARAGRAPH_PAUSE_FACTOR]
    assert len(audio) == sum(len(part) for part in by_line) + sum(round(p * CODEC_SAMPLE_RATE) for p in pauses)
    np.testing.assert_array_equal(audio[: len(by_line[0])], by_line[0])
    np.testing.assert_array_equal(audio[len(audio) - len(by_line[2]):], by_line[2])


@pytest.fixture()
def two_speakers(run_cli, arctic, model_args, tmp_path):
    assert run_cli("make-speaker", arctic, "-o", "alice.npz", *model_args).exit_code == 0
    robot = espeak("Meanwhile the weather turned, the trains ran late, and the bread got dearer again.", "en-us+m3")
    soundfile.write(tmp_path / "robot.wav", robot, 16_000)
    assert run_cli("make-speaker", tmp_path / "robot.wav", "-o", "bob.npz", *model_args).exit_code == 0
    return ["--voice", "alice=alice.npz", "--voice", "bob=bob.npz"]


def test_speak_script_end_to_end_with_split_files(run_cli, two_speakers, tiny, tmp_path):
    (tmp_path / "play.txt").write_text(SCRIPT, encoding="utf-8")
    arguments = ["--bark", tiny["bark"], "--device", "cpu", "--seed", "3", "--tries", "1"]
    result = run_cli("speak", "--script", "play.txt", *two_speakers, "-o", "play.wav", "--split", "lines",
                     *arguments)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "play.json").read_text())
    assert [(line["speaker"], line["chunks"]) for line in report["lines"]] == [("alice", [0]), ("bob", [1]),
                                                                                ("alice", [2])]
    assert report["voices"] == {"alice": "alice.npz", "bob": "bob.npz"}
    assert {name: ref["kind"] for name, ref in report["references"].items()} == {"alice": "recording",
                                                                                  "bob": "recording"}
    whole, rate = soundfile.read(tmp_path / "play.wav", dtype="float32")
    files = sorted((tmp_path / "lines").iterdir())
    assert [path.name for path in files] == ["001-alice.wav", "002-bob.wav", "003-alice.wav"]
    parts = [soundfile.read(path, dtype="float32")[0] for path in files]
    assert len(whole) == sum(map(len, parts)) + round(0.3 * rate) + round(0.3 * PARAGRAPH_PAUSE_FACTOR * rate)
    np.testing.assert_array_equal(whole[: len(parts[0])], parts[0])
    again = run_cli("speak", "--script", "play.txt", *two_speakers, "-o", "other.wav", "--split", "lines",
                    *arguments)
    assert again.exit_code == 1 and "pass --force" in again.stderr and not (tmp_path / "other.wav").exists()


def test_speak_script_refuses_bad_input_with_one_line_and_writes_nothing(run_cli, two_speakers, tiny, tmp_path):
    scripts = {"unknown.txt": "alice: hi\ncarol: hello\n", "empty.txt": "alice: hi\nbob:\n",
               "long.txt": "alice: " + "word " * 40 + "\n", "plain.txt": "hello there\n"}
    for name, text in scripts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "afile").write_text("x")
    bark = ["--bark", tiny["bark"], "--device", "cpu"]
    cases = {
        "unknown speaker": (["--script", "unknown.txt", *two_speakers], "script line 2: 'carol' is not one of"),
        "empty line": (["--script", "empty.txt", *two_speakers], "script line 2: bob says nothing"),
        "over --max-chars": (["--script", "long.txt", *two_speakers, "--max-chars", "100"], "at most 100 are spoken"),
        "no name": (["--script", "plain.txt", *two_speakers], "script line 1: 'hello there' is not NAME: text"),
        "speaker too": (["alice.npz", "--script", "unknown.txt", *two_speakers], "give no SPEAKER, TEXT"),
        "no voices": (["--script", "unknown.txt"], "--script needs a --voice NAME=SPEAKER"),
        "missing voice": (["--script", "unknown.txt", "--voice", "alice=none.npz", "--voice", "carol=bob.npz"],
                          "none.npz"),
        "split is a file": (["--script", "empty.txt", "--voice", "alice=alice.npz", "--voice", "bob=bob.npz",
                             "--split", "afile"], "script line 2"),
        "no script file": (["--script", "nothing.txt", *two_speakers], "no such script file: nothing.txt"),
        "script is a folder": (["--script", ".", *two_speakers], "is a folder, not a script file"),
    }
    for name, (options, message) in cases.items():
        result = run_cli("speak", *options, "-o", "out.wav", *bark)
        assert result.exit_code != 0, (name, result.output)
        assert message in result.stderr and result.stderr.count("\n") == 1, (name, result.stderr)
        assert not (tmp_path / "out.wav").exists() and not (tmp_path / "out.json").exists(), name
    for options in (["alice.npz", "hello", "--split", "lines"], ["alice.npz", "hello", *two_speakers]):
        lonely = run_cli("speak", *options, "-o", "out.wav", *bark)
        assert lonely.exit_code == 1 and "go with --script" in lonely.stderr and not (tmp_path / "out.wav").exists()
    bad_voice = run_cli("speak", "--script", "unknown.txt", "--voice", "alice", "-o", "out.wav", *bark)
    assert bad_voice.exit_code == 2 and "'alice' is not NAME=SPEAKER" in bad_voice.stderr  # click's usage error
    split_file = run_cli("speak", "--script", "unknown.txt", "--voice", "alice=alice.npz", "--voice",
                         "carol=bob.npz", "--split", "afile", "-o", "out.wav", *bark)
    assert split_file.exit_code == 1 and "--split afile is a file" in split_file.stderr
