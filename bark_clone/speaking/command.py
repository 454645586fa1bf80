"""bark-clone speak: read the text (bounded), speak it in the speaker's voice with the consistency guard, and write
the audio (wav, flac or ogg by its suffix) and its report (<output>.json) together."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import Any

from ..constants import MAX_SEED
from ..errors import UserError
from ..requests import SpeakRequest


def read_text(request: SpeakRequest) -> str:
    """The text to speak: TEXT or --text-file (UTF-8), at most ``max_chars`` characters, something to say."""
    from ..bark.core import require_text

    if (request.text is None) == (request.text_file is None):
        raise UserError("give the text to speak either as TEXT or with --text-file, not both")
    if request.text_file is not None:
        text = read_text_file(Path(request.text_file), request.max_chars)
    else:
        text = request.text
    require_text(text)
    if len(text) > request.max_chars:
        raise UserError(f"the text has {len(text)} characters; at most {request.max_chars} are spoken at once "
                        "(raise --max-chars, or split the text)")
    return text


def read_text_file(path: Path, max_chars: int, what: str = "text file") -> str:
    """A UTF-8 text file of at most about ``max_chars`` characters; only a regular file is read."""
    from ..files import read_regular_file

    if not path.exists():
        raise UserError(f"no such {what}: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a {what}")
    limit = 4 * max_chars + 1024
    data = read_regular_file(path, limit)
    if data is None:
        raise UserError(f"{path} is not a regular file" if not path.is_file() else
                        f"{path} holds {path.stat().st_size} bytes; at most {max_chars} characters (--max-chars) "
                        "are spoken at once")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def settings_for(request: SpeakRequest):
    """The request's long-form settings, with its seed (a random one when none was given)."""
    seed = request.long_form.seed
    seed = seed if seed is not None else secrets.randbelow(MAX_SEED + 1)
    settings = dataclasses.replace(request.long_form, seed=seed)
    settings.check()
    return settings


def words_check(request: SpeakRequest, device):
    """The words check the request asks for, its recognizer loaded (None when it is off: by default it is on when
    ``--asr`` is given or the default recognizer is in the local cache)."""
    from ..models.recognizer import load_recognizer, words_wanted
    from .consistency import WordsCheck

    if not words_wanted(request.long_form.check_words, request.asr):
        return None
    return WordsCheck(load_recognizer(request.asr, device), request.long_form.max_wer)


def check_outputs(request: SpeakRequest) -> Path:
    """The output's format, and that nothing is overwritten without --force; the report path."""
    from ..audio.formats import format_for_suffix
    from ..files import check_output_path

    output = Path(request.output)
    try:
        format_for_suffix(output.suffix)
    except UserError as error:
        raise UserError(f"-o {output}: {error}") from None
    report_path = output.with_suffix(".json")
    check_output_path(output, request.force)
    check_output_path(report_path, request.force)
    return report_path


def run_speak(request: SpeakRequest, progress: bool = True, warn=None, on_piece=None) -> dict[str, Any]:
    """Check everything a user can get wrong, then speak and write ``output`` and ``output.json`` (with a script,
    also ``--split``'s files); the report. ``warn(line)`` hears why a speaker's sidecar could not give the guard its
    reference (default: warnings); ``on_piece(index, n_chunks, piece)`` hears each chunk as it is ready."""
    from ..audio.sound import encoded_audio
    from ..bark.core import open_bark
    from ..files import json_bytes, write_files_atomically
    from ..models.loading import resolve_device
    from .session import SpeakingSession

    if request.script is None and (request.voices or request.split is not None):
        raise UserError("--voice and --split go with --script (a script's speakers, one file per line)")
    report_path = check_outputs(request)
    settings = settings_for(request)
    request.output = Path(request.output)
    if request.script is not None:
        lines = read_script(request, settings)
        speakers = open_voices(request.voices, warn)  # checked before any model loads
        split = split_files(request, lines)
    else:
        text = read_text(request)
        speakers, split = open_voices({"": request.speaker}, warn), None
    device = resolve_device(request.bark.device)
    words = words_check(request, device)
    settings.check_words = words is not None
    session = SpeakingSession.open(open_bark(request.bark, device), words)
    if request.script is not None:
        audio, report, line_audio = speak_script_request(session, lines, speakers, settings, progress, on_piece)
    else:
        audio, report = speak_one(session, speakers[""], text, settings, progress, on_piece)
    files = {request.output: encoded_audio(audio, report["sample_rate"], request.output.suffix)}
    if split is not None:
        Path(request.split).mkdir(exist_ok=True)  # made only now: a refused or failed job leaves nothing behind
        files.update({path: encoded_audio(samples, report["sample_rate"], path.suffix)
                      for path, samples in zip(split, line_audio)})
    speaker = {"voices": {name: str(path) for name, path in request.voices.items()}} if request.script else {
        "speaker": str(request.speaker)}
    report = {**speaker, "bark": request.bark.source, **request.bark.audio_identity(), **settings.sampling.identity(),
              "output": str(request.output), **report}
    files[report_path] = json_bytes(report)
    write_files_atomically(files, request.force)
    return report


def speak_one(session, opened, text: str, settings, progress: bool, on_piece):
    """One speaker's text: its voice's adapters merged into Bark (this process speaks only with it)."""
    from ..voices.switch import merge_voice
    from .longform import speak_long

    prompt, window, voice = opened
    if voice is not None:
        merge_voice(session.bark, voice)  # merged, generation runs at full speed
    audio, report = speak_long(session, prompt, text, settings, reference_window=window, progress=progress,
                               on_piece=on_piece)
    return audio, {"adapters": list(voice.stages) if voice is not None else [], **report}


def read_script(request: SpeakRequest, settings) -> list:
    """The script's lines (bounded by --max-chars), every speaker among --voice's names."""
    from .script import parse_script

    if request.text is not None or request.text_file is not None or request.speaker is not None:
        raise UserError("--script takes its voices from --voice NAME=SPEAKER; give no SPEAKER, TEXT or --text-file")
    if not request.voices:
        raise UserError("--script needs a --voice NAME=SPEAKER for every name in it")
    text = read_text_file(Path(request.script), request.max_chars, "script file")
    if len(text) > request.max_chars:
        raise UserError(f"the script has {len(text)} characters; at most {request.max_chars} are spoken at once "
                        "(raise --max-chars, or split the script)")
    return parse_script(text, request.voices, settings.pause)


def open_voices(voices: dict[str, Path], warn) -> dict[str, tuple]:
    """Each named speaker opened and checked (prompt, the sidecar's reference or window, the voice folder or None),
    before any model loads."""
    from ..voices.folder import open_speaker
    from .consistency import sidecar_reference

    opened = {}
    for name, path in voices.items():
        if path is None:
            raise UserError("give the SPEAKER to speak with (a prompt .npz or a voice folder)")
        prompt, sidecar, voice = open_speaker(path)
        opened[name] = (prompt, sidecar_reference(sidecar, warn), voice)
    return opened


def split_files(request: SpeakRequest, lines: list) -> list[Path] | None:
    """--split DIR: one file per script line, ``001-alice.wav`` and so on, none overwritten without --force."""
    import re

    from ..files import check_output_path

    if request.split is None:
        return None
    folder = Path(request.split)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--split {folder} is a file, not a folder")
    if not folder.parent.is_dir():
        raise UserError(f"--split {folder}: folder {folder.parent} does not exist")
    paths = [folder / f"{index + 1:03d}-{re.sub(r'[^A-Za-z0-9_-]+', '_', line.speaker)[:32]}{request.output.suffix}"
             for index, line in enumerate(lines)]
    taken = {Path(request.output).resolve(), Path(request.output).with_suffix(".json").resolve()}
    if folder.resolve() in taken or any(path.resolve() in taken for path in paths):
        raise UserError(f"--split {folder} would write over -o {request.output} or its report; choose another folder")
    for path in paths:
        if folder.is_dir():
            check_output_path(path, request.force)
    check_output_path((folder if folder.is_dir() else folder.parent) / ".probe", False)  # writable, before the work
    return paths


def speak_script_request(session, lines, opened: dict[str, tuple], settings, progress: bool, on_piece):
    """A script's voices as speakers (each guarded against its own reference; Bark switches adapters per batch
    where some voices have them), spoken."""
    from ..voices.switch import VoiceSwitch
    from .script import speak_script

    speakers = {name: session.speaker(name, prompt, voice, window) for name, (prompt, window, voice) in opened.items()}
    if any(voice is not None for _, _, voice in opened.values()):
        session.wear = VoiceSwitch(session.bark).wearing
    audio, report, line_audio = speak_script(session, lines, speakers, settings, on_piece=on_piece,
                                             progress=progress)
    report["adapters"] = {name: list(voice.stages) for name, (_, _, voice) in opened.items() if voice is not None}
    return audio, report, line_audio
