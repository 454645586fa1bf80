"""bark-clone make-speaker as a library call: every input checked before any model loads, the consent checked
before anything is written, the prompts made (refined by Bark's own speech on request), then written together."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..progress import progress_bar
from ..requests import MakeSpeakerRequest

DEFAULT_SPEAKERS = Path("speakers")
LONG_RECORDING_SECONDS = 60.0


def speaker_outputs(groups: list[list[Path]], output: Path | None, force: bool, count: int) -> list[list[Path]]:
    """The .npz paths of each speaker: ``-o FILE.npz`` for one, ``-o FOLDER``, or ``speakers/<stem>.npz``; with
    ``--candidates K`` also ``<stem>-2.npz`` .. ``<stem>-K.npz``."""
    from ..files import check_output_path

    if output is not None and str(output).lower().endswith(".npz"):
        if len(groups) > 1:
            raise UserError("-o FILE.npz takes one input (or --combine); give a folder for several")
        bases = [Path(output)]
    else:
        folder = Path(output) if output is not None else DEFAULT_SPEAKERS
        if folder.exists() and not folder.is_dir():
            raise UserError(f"-o {folder}: exists and is not a folder (a single prompt must end in .npz)")
        if not folder.parent.is_dir() and not folder.exists():
            raise UserError(f"-o {folder}: its parent folder {folder.parent} does not exist")
        bases = [folder / f"{Path(group[0]).stem}.npz" for group in groups]
        names = [base.name for base in bases]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise UserError(f"several inputs would all be written to {', '.join(duplicates)}; rename them")
        folder.mkdir(exist_ok=True)
    paths = [[base] + [base.with_name(f"{base.stem}-{rank}.npz") for rank in range(2, count + 1)] for base in bases]
    for path in (path for group in paths for path in group):
        check_output_path(path, force, ".npz")
        check_output_path(path.with_suffix(".json"), force)
    return paths


def recording_seconds(paths: list[Path]) -> float:
    """Total duration from the files' headers (no decoding; the headers were already checked)."""
    from ..audio.sound import check_audio_header

    return sum(check_audio_header(path) for path in paths)


def check_request(request: MakeSpeakerRequest) -> None:
    from ..audio.sound import check_audio_header

    for voice in request.voices:  # every file's header, before any model loads: a bad one fails at once
        check_audio_header(voice)
    if request.window is not None and not 0 <= request.window[0] < request.window[1]:
        raise UserError(f"--window {request.window[0]:g}:{request.window[1]:g}: need 0 <= START < END")
    if request.refine is not None and request.bark is None:
        raise UserError("--refine needs --bark (suno/bark, suno/bark-small or a local folder)")
    if request.refine is not None and (request.candidates > 1 or request.window is not None):
        raise UserError("--refine picks one prompt itself; it cannot be used with --candidates or --window")
    if request.consent is not None:
        check_audio_header(request.consent)
        if request.asr is None and not request.consent_without_words:
            raise UserError("--consent is checked by ear: pass --asr (a Whisper or CTC model, hub id or folder) to "
                            "hear the consent statement, or --consent-without-words to make the voice without it")


def checked_consents(request: MakeSpeakerRequest, groups: list[list[Path]], models) -> dict:
    """``--consent`` checked against each group's first recording (``UserError`` naming the failed check, before
    anything is written); what was checked, by the group's first recording."""
    from ..models.recognizer import load_recognizer
    from ..speaking.consent import check_consent

    recognizer = load_recognizer(request.asr, models.hubert.device) if request.asr else None
    consent = Path(request.consent)
    return {group[0]: {"recording": consent.name, **check_consent(
        consent, Path(group[0]), models.voice, request.consent_language, recognizer,
        words_required=not request.consent_without_words)} for group in groups}


def make_group(group: list[Path], request: MakeSpeakerRequest, models, refiner, quiet: bool) -> list:
    """One speaker's prompts (the best first), a bar of its stages when its recording is long."""
    from ..prompting.pipeline import analyse, make_speakers

    stages = progress_bar(total=3 if refiner is None else 4, desc=Path(group[0]).name, leave=False,
                          disable=quiet or recording_seconds(group) < LONG_RECORDING_SECONDS)
    stages.set_postfix_str("decoding, finding the speech")
    recordings = [analyse(path, models.vad) for path in group]
    stages.update()
    stages.set_postfix_str("choosing the window, encoding")
    speakers = make_speakers(recordings, models, request.max_seconds, request.normalize, request.window,
                             request.refine or request.candidates)
    stages.update()
    if refiner is not None:
        stages.set_postfix_str(f"Bark speaks with {len(speakers)} candidates")
        speakers = [refiner.best(speakers, recordings)]
        stages.update()
    stages.update()
    stages.close()
    return speakers


def run_make_speaker(request: MakeSpeakerRequest, note: Callable[[str], None] | None = None) -> list[tuple]:
    """Make and write every speaker's prompts; ``[(path, Speaker)]`` in order. ``note(line)`` hears of a speaker
    with fewer usable windows than ``--candidates`` asked for."""
    from ..prompting.pipeline import load_models

    check_request(request)
    groups = [list(request.voices)] if request.combine else [[voice] for voice in request.voices]
    outputs = speaker_outputs(groups, request.output, request.force, request.candidates)
    sources = request.models
    models = load_models(sources.hubert, sources.encodec, sources.quantizer, request.device)
    consents = checked_consents(request, groups, models) if request.consent is not None else None
    refiner = None
    if request.refine is not None:  # Bark's code loads only for --refine
        from .refine import Refiner

        refiner = Refiner(request.bark, models)
    results = [make_group(group, request, models, refiner, len(groups) > 1)
               for group in progress_bar(groups, desc="speakers", unit="speaker", disable=len(groups) < 2)]
    written = []
    for group, speakers, paths in zip(groups, results, outputs):  # written only once every input has worked
        if len(speakers) < len(paths) and note is not None:
            note(f"only {len(speakers)} usable window(s) for {paths[0].stem}")
        for speaker, path in zip(speakers, paths):
            if consents is not None:
                speaker.sidecar["consent"] = consents[group[0]]
            speaker.write(path, request.force)
            written.append((path, speaker))
    return written
