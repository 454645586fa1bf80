"""Files someone else wrote, read as data with bounds: a speaker's sidecar (speak's guard reference), the search's
state in --work, the text file; and the small refusals that must come before any model loads."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import struct
from pathlib import Path

import numpy as np
import pytest
from standins import LevelStandIn, arctic_speech

MISSING_BARK = "no-such-bark-folder"  # speak then stops at loading Bark: everything before it has been checked


@contextlib.contextmanager
def within(seconds: int):
    """Fail (instead of hanging the suite) if the block takes longer than ``seconds``."""
    def expire(*_):
        raise TimeoutError(f"took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_hertz_wav(path: Path, n_bytes: int = 400_000) -> Path:
    """A valid 16-bit WAV that declares 1 sample per second: 200 000 samples 'last' 55 hours."""
    data = np.random.default_rng(0).integers(-3000, 3000, n_bytes // 2, dtype=np.int16).tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 1, 1, 1, 2, 2, 16,
                         b"data", len(data))
    path.write_bytes(header + data)
    return path


@pytest.fixture()
def speaker(run_cli, arctic, model_args, tmp_path):
    """make-speaker's me.npz and its good sidecar (read back), made from a copy of ARCTIC."""
    shutil.copy(arctic, tmp_path / "voice.wav")
    assert run_cli("make-speaker", tmp_path / "voice.wav", "-o", "me.npz", *model_args).exit_code == 0
    return tmp_path / "me.npz", json.loads((tmp_path / "me.json").read_text())


def sidecar_cases(tmp_path: Path, good: dict) -> dict[str, object]:
    """Hostile or broken sidecars: JSON text, or a callable that makes me.json itself."""
    source = good["selection"]["source"]
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not audio at all\n" * 100)
    one_hertz = one_hertz_wav(tmp_path / "slow.wav")

    def naming(path: Path, window) -> str:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return json.dumps({**good, "window": window, "selection": {"source": str(path)},
                           "sources": [{"path": str(path), "sha256": digest}]})

    def fifo(path: Path) -> None:
        os.mkfifo(path)

    def zeros(path: Path) -> None:
        path.symlink_to("/dev/zero")

    return {
        "NaN window": json.dumps(good).replace(json.dumps(good["window"]), "[NaN, 1]"),
        "strings as numbers": json.dumps({**good, "window": ["0", "1"]}),
        "dict as number": json.dumps({**good, "window": [{"a": 1}, 2]}),
        "path is a list": json.dumps({**good, "selection": {"source": [source]}}),
        "overflowing": json.dumps({**good, "window": [0, 1e308 * 10]}).replace("Infinity", "1e999"),
        "100k deep": "[" * 100_000 + "]" * 100_000,
        "not audio": naming(text_file, [0, 1]),
        "1 Hz header, huge window": naming(one_hertz, [0, 1e9]),
        "1 Hz header": naming(one_hertz, [0, 30]),
        "fifo": fifo,
        "link to /dev/zero": zeros,
    }


def test_a_bad_sidecar_is_one_warning_before_any_model_loads(speaker, run_cli, tmp_path):
    npz, good = speaker
    for name, case in sidecar_cases(tmp_path, good).items():
        sidecar = tmp_path / "me.json"
        sidecar.unlink()
        case(sidecar) if callable(case) else sidecar.write_text(case)
        with within(20):
            result = run_cli("speak", npz, "hello there", "-o", "out.wav", "--bark", MISSING_BARK, "--device", "cpu")
        lines = result.stderr.splitlines()
        assert result.exit_code == 1 and len(lines) == 2, (name, result.stderr)
        assert lines[0].startswith("warning: ") and "compares with the prompt's own decode" in lines[0], name
        assert lines[1].startswith("error: ") and MISSING_BARK in lines[1] and "unexpected" not in lines[1], name
        assert not (tmp_path / "out.wav").exists()


def test_speak_with_a_bad_sidecar_falls_back_to_the_prompts_decode(speaker, run_cli, tiny, tmp_path):
    npz, good = speaker
    (tmp_path / "me.json").write_text(json.dumps({**good, "window": [float("nan"), 1]}))  # Python writes NaN
    result = run_cli("speak", npz, "hello there", "-o", "out.wav", "--bark", tiny["bark"], "--device", "cpu",
                     "--seed", "1", "--tries", "1")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: ") == 1 and "error" not in result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["reference"]["kind"] == "prompt decode"


def test_every_read_of_a_recording_checks_its_header_and_bounds_the_span(tmp_path):
    from bark_clone.audio.sound import read_segment
    from bark_clone.errors import UserError

    slow = one_hertz_wav(tmp_path / "slow.wav")
    with pytest.raises(UserError, match="sample rate of 1 Hz"):
        read_segment(slow, 0, 30)
    for start, end in ((0, float("nan")), (5, 1), (-1, 2), (0, 4 * 3600)):
        with pytest.raises(UserError, match="is not 0 <= start < end"):
            read_segment(slow, start, end)


def test_a_text_file_is_read_only_if_regular_and_texts_must_say_something(speaker, run_cli, tmp_path):
    npz, _ = speaker
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "zw.txt").write_text("\u200b\u200d\ufeff \u2060\n")
    cases = {
        "device": (["--text-file", "/dev/zero"], "/dev/zero is not a regular file"),
        "fifo": (["--text-file", "pipe.txt"], "pipe.txt is not a regular file"),
        "zero-width only": (["--text-file", "zw.txt"], "the text to speak is empty"),
        "NUL": (["a\0b"], "holds a NUL character at character 2"),
    }
    for name, (arguments, message) in cases.items():
        with within(20):
            result = run_cli("speak", npz, *arguments, "-o", "out.wav", "--bark", MISSING_BARK)
        assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, \
            (name, result.stderr)
        assert MISSING_BARK not in result.stderr  # refused before any model loads


def test_seeds_are_checked_with_the_other_options(speaker, run_cli, arctic, tmp_path):
    npz, _ = speaker
    for arguments in (["speak", npz, "hello", "-o", "out.wav"], ["search", arctic, "-o", "best.npz", "--work", "w",
                                                                 "--steps", "1"],
                      ["evaluate", npz, "--target", arctic, "--out", "report"]):
        result = run_cli(*arguments, "--seed", "-1", "--bark", MISSING_BARK)
        assert result.exit_code == 2 and "-1 is not in the range 0<=x<=2147483647" in result.output, result.output
    from bark_clone.errors import UserError
    from bark_clone.requests import LongFormSettings

    with pytest.raises(UserError, match="--seed must lie in 0..2147483647"):
        LongFormSettings(seed=-1).check()


def test_help_shows_no_meaningless_ranges(run_cli):
    for command in ("evaluate", "speak", "search", "make-speaker"):
        result = run_cli(command, "--help")
        assert result.exit_code == 0 and "None" not in result.output, (command, result.output)


# ---- the search's state --------------------------------------------------------------------------------------------
@pytest.fixture()
def searched(tiny, tmp_path, arctic):
    """A one-step search in tmp_path/work (the stand-in's voices), and the CLI arguments that continue it."""
    from bark_clone.options import BarkOptions, ModelSources
    from bark_clone.requests import SearchRequest
    from bark_clone.search.command import search_voice

    settings = {"keep": 2, "max_seconds": 6.0}
    models = ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]), quantizer=str(tiny["quantizer"]))
    request = SearchRequest(recordings=[arctic], output=tmp_path / "first.npz", work=tmp_path / "work",
                            bark=BarkOptions(source=str(tiny["bark"]), device="cpu"), steps=1, models=models,
                            **settings)
    search_voice(request, LevelStandIn(arctic_speech(arctic, pad_seconds=0)), progress=False)
    arguments = ["search", arctic, "-o", "best.npz", "--work", tmp_path / "work", "--bark", tiny["bark"],
                 "--steps", "2", "--keep", "2", "--max-seconds", "6", "--device", "cpu",
                 *[value for key, path in vars(models).items() for value in (f"--{key}", path)]]
    return tmp_path / "work", arguments


def tampered_states(document: dict) -> dict[str, str]:
    first = document["candidates"][0]

    def with_first(**changes) -> str:
        return json.dumps({**document, "candidates": [{**first, **changes}] + document["candidates"][1:]})

    return {
        "NaN score": with_first(score=0.5).replace('"score": 0.5', '"score": NaN'),
        "string score": with_first(score="high"),
        "escaping id": with_first(id="../../../spk/voice"),
        "missing born": json.dumps({**document, "candidates": [{k: v for k, v in first.items() if k != "born"}]}),
        "lineage of strings": with_first(lineage=["window"]),
        "population unknown": json.dumps({**document, "population": ["0123456789abcdef"]}),
        "step a string": json.dumps({**document, "step": "1"}),
        "candidates a dict": json.dumps({**document, "candidates": {}}),
        "not a regular file": "FIFO",
    }


@pytest.mark.slow
def test_a_tampered_search_state_is_one_line_and_nothing_leaves_work(searched, run_cli, tmp_path):
    work, arguments = searched
    state = work / "search.json"
    original = state.read_text()
    outside = tmp_path / "spk" / "voice.npz"
    outside.parent.mkdir()
    shutil.copy(work / "top-1.npz", outside)
    for name, text in tampered_states(json.loads(original)).items():
        state.unlink()
        os.mkfifo(state) if text == "FIFO" else state.write_text(text)
        with within(30):
            result = run_cli(*arguments)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, (name, result.stderr)
        assert ("damaged" in result.stderr or "not a bark-clone search state" in result.stderr) and \
            "unexpected" not in result.stderr, (name, result.stderr)
        assert not (tmp_path / "best.npz").exists()
    state.unlink()
    state.write_text(original)
    first, second = (json.loads(original)["candidates"][index]["id"] for index in (0, 1))
    kept = (work / "candidates" / f"{first}.npz").read_bytes()
    shutil.copy(work / "candidates" / f"{second}.npz", work / "candidates" / f"{first}.npz")
    result = run_cli(*arguments)
    assert result.exit_code == 1 and f"candidates/{first}.npz holds another prompt" in result.stderr, result.stderr
    (work / "candidates" / f"{first}.npz").write_bytes(kept)
    result = run_cli(*arguments)  # the untouched state loads and the search goes on
    assert "damaged" not in result.stderr and "search state" not in result.stderr, result.stderr


def test_two_searches_on_one_work_folder_do_not_share_it(searched, run_cli):
    from filelock import FileLock

    work, arguments = searched
    before = (work / "search.json").read_bytes()
    with FileLock(str(work / ".search.lock")):
        result = run_cli(*arguments)
    assert result.exit_code == 1 and "is in use by another search" in result.stderr and str(work) in result.stderr
    assert result.stderr.count("\n") == 1 and (work / "search.json").read_bytes() == before


def test_no_json_we_write_holds_nan_or_infinity():
    """Every JSON writer goes through quantizer.jsonio (checked in the sources), which writes non-finite as null."""
    import ast

    from quantizer.jsonio import json_text, parse_json

    repository = Path(__file__).resolve().parents[1]
    writers = []
    for path in sorted([*repository.glob("bark_clone/**/*.py"), *repository.glob("quantizer/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("dump", "dumps") and \
                    isinstance(node.value, ast.Name) and node.value.id == "json":
                writers.append(str(path.relative_to(repository)))
    assert writers == ["quantizer/jsonio.py"], writers
    text = json_text({"score": float("nan"), "parts": [float("inf"), -float("inf"), 1.5], "name": "é"})
    assert parse_json(text) == {"score": None, "parts": [None, None, 1.5], "name": "é"}
    with pytest.raises(ValueError):
        parse_json('{"score": NaN}')
