"""CLI commands that make and examine speaker prompts: make-speaker, inspect, decode."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..constants import DEFAULT_DTYPE, DEFAULT_ENCODEC, DEFAULT_HUBERT, DEFAULT_MAX_SECONDS, DEFAULT_QUANTIZER
from ..errors import UserError
from ..options import BarkOptions
from ..progress import progress_bar
from .options import FiniteFloat, decoder_options, device_option, dtype_option, force_option, offload_option

DEFAULT_SPEAKERS = Path("speakers")


def speaker_outputs(groups: list[list[str]], output: str | None, force: bool, count: int) -> list[list[Path]]:
    """The .npz paths of each speaker: ``-o FILE.npz`` for one, ``-o FOLDER``, or ``speakers/<stem>.npz``; with
    ``--candidates K`` also ``<stem>-2.npz`` .. ``<stem>-K.npz``."""
    from ..files import check_output_path

    if output is not None and output.lower().endswith(".npz"):
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


LONG_RECORDING_SECONDS = 60.0


def recording_seconds(paths: list[str]) -> float:
    """Total duration from the files' headers (no decoding; the headers were already checked)."""
    from ..audio.sound import check_audio_header

    return sum(check_audio_header(path) for path in paths)


def parse_window(text: str | None) -> tuple[float, float] | None:
    """``START:END`` in seconds."""
    if text is None:
        return None
    try:
        start, end = (float(part) for part in text.split(":"))
    except ValueError:
        raise UserError(f"--window {text!r}: write START:END in seconds, e.g. 12.5:26") from None
    if not 0 <= start < end:
        raise UserError(f"--window {text!r}: need 0 <= START < END")
    return start, end


def check_refine_options(refine, bark, candidates, window, dtype, offload) -> None:
    if refine is not None and bark is None:
        raise UserError("--refine needs --bark (suno/bark, suno/bark-small or a local folder)")
    if refine is not None and (candidates > 1 or window is not None):
        raise UserError("--refine picks one prompt itself; it cannot be used with --candidates or --window")
    if refine is None and (dtype != DEFAULT_DTYPE or offload):
        click.echo("note: --dtype and --offload set Bark's precision for --refine; without it make-speaker runs no "
                   "Bark, and HuBERT and the quantizer always run in float32", err=True)


def checked_consents(consent: str, language: str, asr: str | None, groups: list[list[str]], models):
    """``--consent`` checked against each group's first recording (``UserError`` naming the failed check, before
    anything is written); what was checked, by the group's first recording."""
    from ..speaking.consent import check_consent
    from ..speaking.recognizer import load_recognizer

    recognizer = load_recognizer(asr, models.hubert.device) if asr else None
    return {group[0]: {"recording": Path(consent).name, **check_consent(Path(consent), Path(group[0]), models.voice,
                                                                        language, recognizer)} for group in groups}


@click.command("make-speaker")
@click.argument("voices", nargs=-1, required=True)
@click.option("-o", "--output", help="Output .npz (one input) or folder. Default: speakers/<stem>.npz")
@click.option("--quantizer", default=DEFAULT_QUANTIZER, show_default=True,
              help="A published quantizer's name (en, en-large, de, es, it, ja, pl, pt, tr) or a path.")
@click.option("--hubert", default=DEFAULT_HUBERT, show_default=True, help="HuBERT hub id or local folder.")
@click.option("--encodec", default=DEFAULT_ENCODEC, show_default=True, help="EnCodec hub id or local folder.")
@device_option
@click.option("--max-seconds", type=FiniteFloat(), default=DEFAULT_MAX_SECONDS, show_default=True,
              help="Longest prompt window, in seconds of audio.")
@click.option("--window", "window_text", help="Use exactly START:END seconds of the recording.")
@click.option("--combine", is_flag=True, help="All inputs are one speaker: pool their windows, make one prompt.")
@click.option("--candidates", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Also write the next best windows as <name>-2.npz ... <name>-K.npz.")
@click.option("--refine", type=click.IntRange(1, 20), help="Make prompts from the K best windows, have Bark speak "
              "with each, and keep the one whose speech scores best against the recording (needs --bark).")
@click.option("--bark", help="Bark for --refine: suno/bark, suno/bark-small or a local folder.")
@click.option("--normalize/--no-normalize", default=True, show_default=True, help="Level the speech to -20 dBFS.")
@click.option("--consent", type=click.Path(dir_okay=False), help="The speaker saying they consent: checked before "
              "any prompt is written (the same speaker as each VOICE; with --asr, the consent statement said).")
@click.option("--consent-language", default="en", show_default=True, help="The consent's language (BCP 47).")
@click.option("--asr", help="A speech recognizer (hub id or folder) to check the consent's words.")
@dtype_option
@offload_option
@force_option
def make_speaker_command(voices, output, quantizer, hubert, encodec, device, max_seconds, window_text, combine,
                         candidates, refine, bark, normalize, consent, consent_language, asr, dtype, offload,
                         force) -> None:
    """Make a Bark speaker prompt from each recording VOICE (wav, flac, ogg, mp3), or one from all with --combine.

    The best window (at most --max-seconds, cut at pauses) is chosen by speaker consistency, speech, clipping,
    music and level; the sidecar <name>.json records it with its scores."""
    from ..audio.sound import check_audio_header

    window = parse_window(window_text)
    for voice in voices:  # every file's header, before any model loads: a bad one fails at once
        check_audio_header(voice)
    from ..clone.pipeline import analyse, load_models, make_speakers

    check_refine_options(refine, bark, candidates, window, dtype, offload)
    groups = [list(voices)] if combine else [[voice] for voice in voices]
    outputs = speaker_outputs(groups, output, force, candidates)
    if consent:
        check_audio_header(consent)
    models = load_models(hubert, encodec, quantizer, device)
    consents = checked_consents(consent, consent_language, asr, groups, models) if consent else None
    refiner = None
    if refine is not None:
        from ..search.refine import Refiner

        refiner = Refiner(BarkOptions(source=bark, device=device, dtype=dtype, offload=offload), models)
    results = []
    for group in progress_bar(groups, desc="speakers", unit="speaker", disable=len(groups) < 2):
        # a long recording gets its own bar: decoding and voice analysis take a while before the models run
        stages = progress_bar(total=3 if refiner is None else 4, desc=Path(group[0]).name, leave=False,
                      disable=len(groups) > 1 or recording_seconds(group) < LONG_RECORDING_SECONDS)
        stages.set_postfix_str("decoding, finding the speech")
        recordings = [analyse(path, models.vad) for path in group]
        stages.update()
        stages.set_postfix_str("choosing the window, encoding")
        speakers = make_speakers(recordings, models, max_seconds, normalize, window, refine or candidates)
        stages.update()
        if refiner is not None:
            stages.set_postfix_str(f"Bark speaks with {len(speakers)} candidates")
            speakers = [refiner.best(speakers, recordings)]
            stages.update()
        stages.update()
        stages.close()
        results.append(speakers)
    for group, speakers, paths in zip(groups, results, outputs):  # written only once every input has worked
        if len(speakers) < len(paths):
            click.echo(f"note: only {len(speakers)} usable window(s) for {paths[0].stem}", err=True)
        for speaker, path in zip(speakers, paths):
            if consents is not None:
                speaker.sidecar["consent"] = consents[group[0]]
            speaker.write(path, force)
            start, end = speaker.sidecar["window"]
            source = Path(speaker.sidecar["selection"]["source"]).name
            click.echo(f"{path}: {end - start:.2f} s of {source} ({start:.2f}-{end:.2f} s), "
                       f"{len(speaker.prompt.semantic_tokens)} semantic tokens, "
                       f"{speaker.prompt.fine_codes.shape[1]} codec frames")


@click.command()
@click.argument("speaker", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
def inspect(speaker: str, as_json: bool) -> None:
    """Check a speaker prompt the way Bark will, and show how much of it Bark reads. Exit 1 if Bark would reject it."""
    from ..constants import CODEC_FRAME_RATE_HZ, SEMANTIC_RATE_HZ
    from ..prompt import bark_usage, check_arrays, read_prompt_arrays

    arrays = read_prompt_arrays(speaker)
    checks = check_arrays(arrays)
    passed = all(check.ok for check in checks if check.hard)
    shapes = {key: {"shape": list(value.shape), "dtype": str(value.dtype)} for key, value in arrays.items()}
    report = {"path": speaker, "arrays": shapes, "pass": passed,
              "checks": [{"name": c.name, "ok": c.ok, "hard": c.hard, "detail": c.detail} for c in checks]}
    semantic, fine = arrays["semantic_prompt"], arrays["fine_prompt"]
    if passed:
        report["seconds"] = {"semantic": round(len(semantic) / SEMANTIC_RATE_HZ, 2),
                             "codes": round(fine.shape[1] / CODEC_FRAME_RATE_HZ, 2)}
        report["bark_reads"] = bark_usage(len(semantic), fine.shape[1])
    if as_json:
        from ..files import json_text

        click.echo(json_text(report))
    else:
        click.echo(speaker)
        for key, info in shapes.items():
            click.echo(f"  {key:16s} {str(tuple(info['shape'])):12s} {info['dtype']}")
        if passed:
            seconds, reads = report["seconds"], report["bark_reads"]
            click.echo(f"  covers {seconds['semantic']:.2f} s of semantic tokens, {seconds['codes']:.2f} s of codes")
            click.echo(f"  Bark reads: text model {reads['text_model_seconds']:.2f} s, coarse model "
                       f"{reads['coarse_model_seconds']:.2f} s, fine model {reads['fine_model_seconds']:.2f} s "
                       "(the tail; the rest is ignored)")
        for check in checks:
            label = "ok  " if check.ok else ("FAIL" if check.hard else "warn")
            click.echo(f"  {label} {check.name}: {check.detail}")
        click.echo(f"  verdict: {'PASS' if passed else 'FAIL'}")
    if not passed:
        sys.exit(1)


@click.command()
@click.argument("speaker", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--encodec", default=DEFAULT_ENCODEC, show_default=True, help="EnCodec hub id or local folder.")
@device_option
@decoder_options
@force_option
def decode(speaker: str, out: str, encodec: str, device: str, decoder: str, vocos: str, force: bool) -> None:
    """Decode a prompt's codes to a 24 kHz WAV, to hear what the prompt holds."""
    from ..audio.sound import wav_bytes
    from ..constants import CODEC_SAMPLE_RATE
    from ..decoders import load_decoder
    from ..files import check_output_path, write_files_atomically
    from ..models import resolve_device
    from ..prompt import SpeakerPrompt

    check_output_path(Path(out), force, ".wav")
    prompt = SpeakerPrompt.load(speaker)
    (audio,) = load_decoder(decoder, None, vocos if decoder == "vocos" else encodec,
                            resolve_device(device)).decode([prompt.fine_codes])
    write_files_atomically({Path(out): wav_bytes(audio, CODEC_SAMPLE_RATE)}, force)
    click.echo(f"{out}: {len(audio) / CODEC_SAMPLE_RATE:.2f} s at {CODEC_SAMPLE_RATE} Hz")
