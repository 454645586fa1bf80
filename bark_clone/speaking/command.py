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
    from ..bark.generation import require_text

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


def read_text_file(path: Path, max_chars: int) -> str:
    """A UTF-8 text file of at most about ``max_chars`` characters; only a regular file is read."""
    from ..files import read_regular_file

    if not path.exists():
        raise UserError(f"no such text file: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a text file")
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
    seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
    settings = dataclasses.replace(request.long_form, seed=seed)
    settings.check()
    return settings


def run_speak(request: SpeakRequest, progress: bool = True, warn=None) -> dict[str, Any]:
    """Check everything a user can get wrong, then speak and write ``output`` and ``output.json``; the report.
    ``warn(line)`` hears why the speaker's sidecar could not give the guard its reference (default: warnings)."""
    from ..audio.sound import OUTPUT_FORMATS, encoded_audio
    from ..bark.generation import load_bark
    from ..bark.voices import merge_voice, open_speaker
    from ..clone.models import resolve_device
    from ..files import check_output_path, json_bytes, write_files_atomically
    from .consistency import sidecar_window
    from .longform import speak_long

    output = Path(request.output)
    if output.suffix.lower() not in OUTPUT_FORMATS:
        raise UserError(f"-o {output}: the output must end in {', '.join(OUTPUT_FORMATS)}")
    report_path = output.with_suffix(".json")
    check_output_path(output, request.force)
    check_output_path(report_path, request.force)
    text = read_text(request)
    settings = settings_for(request)
    prompt, sidecar, voice = open_speaker(request.speaker)  # a prompt, or a voice folder with adapters
    window = sidecar_window(sidecar, warn)  # checked before any model loads
    bark = load_bark(request.bark, resolve_device(request.device), request.dtype, request.offload)
    if voice is not None:
        merge_voice(bark, voice)  # this process speaks only with it: merged, generation runs at full speed
    audio, report = speak_long(bark, prompt, text, settings, reference_window=window, progress=progress)
    report = {"speaker": str(request.speaker), "bark": request.bark, "output": str(output),
              "adapters": list(voice.stages) if voice is not None else [], **report}
    write_files_atomically({output: encoded_audio(audio, report["sample_rate"], output.suffix),
                            report_path: json_bytes(report)}, request.force)
    return report
