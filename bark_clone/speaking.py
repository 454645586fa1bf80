"""bark-clone speak: read the text (bounded), speak it in the speaker's voice with the consistency guard, and write
the audio (wav, flac or ogg by its suffix) and its report (<output>.json) together."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import Any

from .errors import UserError
from .requests import SpeakRequest


def read_text(request: SpeakRequest) -> str:
    """The text to speak: TEXT or --text-file (UTF-8), at most ``max_chars`` characters, not empty."""
    if (request.text is None) == (request.text_file is None):
        raise UserError("give the text to speak either as TEXT or with --text-file, not both")
    if request.text_file is not None:
        path = Path(request.text_file)
        if not path.is_file():
            raise UserError(f"no such text file: {path}" if not path.exists() else f"{path} is a folder, not a text")
        limit = 4 * request.max_chars + 1024
        if path.stat().st_size > limit:
            raise UserError(f"{path} holds {path.stat().st_size} bytes; at most {request.max_chars} characters "
                            "(--max-chars) are spoken at once")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as error:
            raise UserError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    else:
        text = request.text
    if not text.strip():
        raise UserError("the text to speak is empty")
    if len(text) > request.max_chars:
        raise UserError(f"the text has {len(text)} characters; at most {request.max_chars} are spoken at once "
                        "(raise --max-chars, or split the text)")
    return text


def settings_for(request: SpeakRequest):
    """The request's long-form settings, with its seed (a random one when none was given)."""
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    settings = dataclasses.replace(request.long_form, seed=seed)
    settings.check()
    return settings


def run_speak(request: SpeakRequest, progress: bool = True) -> dict[str, Any]:
    """Check everything a user can get wrong, then speak and write ``output`` and ``output.json``; the report."""
    from .audio import OUTPUT_FORMATS, encoded_audio
    from .bark import load_bark
    from .files import check_output_path, json_bytes, write_files_atomically
    from .longform import speak_long
    from .models import resolve_device
    from .prompt import SpeakerPrompt

    output = Path(request.output)
    if output.suffix.lower() not in OUTPUT_FORMATS:
        raise UserError(f"-o {output}: the output must end in {', '.join(OUTPUT_FORMATS)}")
    report_path = output.with_suffix(".json")
    check_output_path(output, request.force)
    check_output_path(report_path, request.force)
    text = read_text(request)
    settings = settings_for(request)
    prompt = SpeakerPrompt.load(request.speaker)
    bark = load_bark(request.bark, resolve_device(request.device), request.dtype, request.offload)
    audio, report = speak_long(bark, prompt, text, settings, sidecar=Path(request.speaker).with_suffix(".json"),
                               progress=progress)
    report = {"speaker": str(request.speaker), "bark": request.bark, "output": str(output), **report}
    write_files_atomically({output: encoded_audio(audio, report["sample_rate"], output.suffix),
                            report_path: json_bytes(report)}, request.force)
    return report
