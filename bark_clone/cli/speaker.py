"""CLI commands that make and examine speaker prompts: make-speaker, inspect, decode."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..constants import DEFAULT_DTYPE, DEFAULT_ENCODEC, DEFAULT_HUBERT, DEFAULT_MAX_SECONDS, DEFAULT_QUANTIZER
from ..errors import UserError
from ..options import BarkOptions, ModelSources
from ..requests import MakeSpeakerRequest
from .options import FiniteFloat, decoder_options, device_option, dtype_option, force_option, offload_option


def parse_window(text: str | None) -> tuple[float, float] | None:
    """``START:END`` in seconds (checked with the rest of the request)."""
    if text is None:
        return None
    try:
        start, end = (float(part) for part in text.split(":"))
    except ValueError:
        raise UserError(f"--window {text!r}: write START:END in seconds, e.g. 12.5:26") from None
    return start, end


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
              "any prompt is written: not VOICE's own audio, the same speaker, and (--asr) the consent statement said.")
@click.option("--consent-language", default="en", show_default=True, help="The consent's language (BCP 47).")
@click.option("--asr", help="A speech recognizer (hub id or folder) to check the consent's words.")
@click.option("--consent-without-words", is_flag=True, help="Check --consent without hearing its words (no --asr): "
              "only that it is not the sample's own audio and that its speaker is the sample's. Recorded in the "
              "sidecar.")
@dtype_option
@offload_option
@force_option
def make_speaker_command(voices, output, quantizer, hubert, encodec, device, max_seconds, window_text, combine,
                         candidates, refine, bark, normalize, consent, consent_language, asr, consent_without_words,
                         dtype, offload, force) -> None:
    """Make a Bark speaker prompt from each recording VOICE (wav, flac, ogg, mp3), or one from all with --combine.

    The best window (at most --max-seconds, cut at pauses) is chosen by speaker consistency, speech, clipping,
    music and level; the sidecar <name>.json records it with its scores."""
    from ..clone.command import run_make_speaker

    if refine is None and (dtype != DEFAULT_DTYPE or offload):
        click.echo("note: --dtype and --offload set Bark's precision for --refine; without it make-speaker runs no "
                   "Bark, and HuBERT and the quantizer always run in float32", err=True)
    request = MakeSpeakerRequest(
        voices=[Path(voice) for voice in voices], output=Path(output) if output else None,
        models=ModelSources(hubert=hubert, encodec=encodec, quantizer=quantizer), device=device,
        max_seconds=max_seconds, window=parse_window(window_text), combine=combine, candidates=candidates,
        refine=refine, bark=BarkOptions(source=bark, device=device, dtype=dtype, offload=offload) if bark else None,
        normalize=normalize, consent=Path(consent) if consent else None, consent_language=consent_language, asr=asr,
        consent_without_words=consent_without_words, force=force)
    for path, speaker in run_make_speaker(request, note=lambda line: click.echo(f"note: {line}", err=True)):
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
    from ..prompting.format import bark_usage, check_arrays, read_prompt_arrays

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
    from ..files import check_output_path, write_files_atomically
    from ..models.decoders import load_decoder
    from ..models.loading import resolve_device
    from ..prompting.format import SpeakerPrompt

    check_output_path(Path(out), force, ".wav")
    prompt = SpeakerPrompt.load(speaker)
    (audio,) = load_decoder(decoder, None, vocos if decoder == "vocos" else encodec,
                            resolve_device(device)).decode([prompt.fine_codes])
    write_files_atomically({Path(out): wav_bytes(audio, CODEC_SAMPLE_RATE)}, force)
    click.echo(f"{out}: {len(audio) / CODEC_SAMPLE_RATE:.2f} s at {CODEC_SAMPLE_RATE} Hz")
