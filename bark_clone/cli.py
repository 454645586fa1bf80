"""The ``bark-clone`` command: thin click wrappers over the library, with user errors caught in one place."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click

from . import __version__
from .constants import DEFAULT_BARK, DEFAULT_ENCODEC, DEFAULT_HUBERT, DEFAULT_MAX_SECONDS, DEFAULT_QUANTIZER
from .errors import UserError

DEFAULT_SPEAKERS = Path("speakers")


class BarkCloneGroup(click.Group):
    """Prints a ``UserError`` (or any unexpected error) as one line and exits 1; ``--debug`` shows tracebacks."""

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug"))
        if not debug:
            warnings.filterwarnings("ignore")
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written was left behind", err=True)
            ctx.exit(130)
        except UserError as error:
            if debug:
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(1)
        except Exception as error:  # the last line of defence: still one line, never a traceback
            if debug:
                raise
            message = " ".join(str(error).split())[:300]
            click.echo(f"error: unexpected {type(error).__name__}: {message} (run with --debug for details)", err=True)
            ctx.exit(1)


@click.group(cls=BarkCloneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks and library warnings.")
@click.version_option(__version__, prog_name="bark-clone")
def cli(debug: bool) -> None:
    """Clone a voice for Bark: turn a recording into a speaker prompt (.npz) whose semantic tokens and codec
    codes all come from the same audio."""


def device_option(function):
    return click.option(
        "--device", default="auto", show_default=True, help="auto (cuda, then mps, then cpu), cpu, cuda or mps."
    )(function)


def force_option(function):
    return click.option("--force", is_flag=True, help="Overwrite existing output files.")(function)


def speaker_outputs(voices: tuple[str, ...], output: str | None, force: bool) -> list[Path]:
    """The .npz path for each input: ``-o FILE.npz`` for one input, ``-o FOLDER``, or ``speakers/<stem>.npz``."""
    from .files import check_output_path

    if output is not None and output.lower().endswith(".npz"):
        if len(voices) > 1:
            raise UserError("-o FILE.npz takes one input; give a folder for several")
        paths = [Path(output)]
    else:
        folder = Path(output) if output is not None else DEFAULT_SPEAKERS
        if folder.exists() and not folder.is_dir():
            raise UserError(f"-o {folder}: exists and is not a folder (a single prompt must end in .npz)")
        if not folder.parent.is_dir() and not folder.exists():
            raise UserError(f"-o {folder}: its parent folder {folder.parent} does not exist")
        paths = [folder / f"{Path(voice).stem}.npz" for voice in voices]
        stems = [path.name for path in paths]
        duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
        if duplicates:
            raise UserError(f"several inputs would all be written to {', '.join(duplicates)}; rename them")
        folder.mkdir(exist_ok=True)
    for path in paths:
        check_output_path(path, force, ".npz")
        check_output_path(path.with_suffix(".json"), force)
    return paths


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


@cli.command("make-speaker")
@click.argument("voices", nargs=-1, required=True)
@click.option("-o", "--output", help="Output .npz (one input) or folder. Default: speakers/<stem>.npz")
@click.option("--quantizer", default=DEFAULT_QUANTIZER, show_default=True,
              help="A published quantizer's name (en, en-large, de, es, it, ja, pl, pt, tr) or a path.")
@click.option("--hubert", default=DEFAULT_HUBERT, show_default=True, help="HuBERT hub id or local folder.")
@click.option("--encodec", default=DEFAULT_ENCODEC, show_default=True, help="EnCodec hub id or local folder.")
@device_option
@click.option("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS, show_default=True,
              help="Longest prompt window, in seconds of audio.")
@click.option("--window", "window_text", help="Use exactly START:END seconds of the recording.")
@click.option("--normalize/--no-normalize", default=True, show_default=True, help="Level the speech to -20 dBFS.")
@force_option
def make_speaker_command(voices, output, quantizer, hubert, encodec, device, max_seconds, window_text, normalize,
                         force) -> None:
    """Make a Bark speaker prompt from each recording VOICE (wav, flac, ogg, mp3)."""
    from tqdm import tqdm

    from .pipeline import load_models, make_speaker

    window = parse_window(window_text)
    missing = [voice for voice in voices if not Path(voice).is_file()]
    if missing:
        raise UserError(f"no such file: {missing[0]}")
    outputs = speaker_outputs(voices, output, force)
    models = load_models(hubert, encodec, quantizer, device)
    speakers = []
    for voice in tqdm(voices, desc="speakers", unit="file", disable=len(voices) < 2):
        speakers.append(make_speaker(voice, models, max_seconds, normalize, window))
    for speaker, path in zip(speakers, outputs):  # written only once every input has worked
        speaker.write(path, force)
        start, end = speaker.sidecar["window"]
        click.echo(f"{path}: {end - start:.2f} s from {start:.2f}-{end:.2f} s, "
                   f"{len(speaker.prompt.semantic_tokens)} semantic tokens, {speaker.prompt.fine_codes.shape[1]} "
                   f"codec frames")


@cli.command()
@click.argument("speaker", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
def inspect(speaker: str, as_json: bool) -> None:
    """Check a speaker prompt the way Bark will, and show how much of it Bark reads. Exit 1 if Bark would reject it."""
    from .constants import CODEC_FRAME_RATE_HZ, SEMANTIC_RATE_HZ
    from .prompt import bark_usage, check_arrays, read_prompt_arrays

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
        click.echo(json.dumps(report, indent=2))
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


@cli.command()
@click.argument("speaker", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--encodec", default=DEFAULT_ENCODEC, show_default=True, help="EnCodec hub id or local folder.")
@device_option
@force_option
def decode(speaker: str, out: str, encodec: str, device: str, force: bool) -> None:
    """Decode a prompt's codes to a 24 kHz WAV, to hear what the prompt holds."""
    from .audio import wav_bytes
    from .constants import CODEC_SAMPLE_RATE
    from .files import check_output_path, write_files_atomically
    from .models import encodec_decode, load_encodec, resolve_device
    from .prompt import SpeakerPrompt

    check_output_path(Path(out), force, ".wav")
    prompt = SpeakerPrompt.load(speaker)
    audio = encodec_decode(load_encodec(encodec, resolve_device(device)), prompt.fine_codes)
    write_files_atomically({Path(out): wav_bytes(audio, CODEC_SAMPLE_RATE)}, force)
    click.echo(f"{out}: {len(audio) / CODEC_SAMPLE_RATE:.2f} s at {CODEC_SAMPLE_RATE} Hz")


@cli.command()
@click.argument("speaker", type=click.Path(dir_okay=False))
@click.argument("text")
@click.option("-o", "--output", required=True, help="Output .wav file.")
@click.option("--bark", default=DEFAULT_BARK, show_default=True, help="suno/bark, suno/bark-small or a local folder.")
@device_option
@click.option("--seed", type=int, help="Seed for reproducible sampling.")
@force_option
def speak(speaker: str, text: str, output: str, bark: str, device: str, seed: int | None, force: bool) -> None:
    """Have Bark say TEXT in the voice of SPEAKER (.npz)."""
    from .audio import wav_bytes
    from .bark import load_bark, sample_rate
    from .bark import speak as bark_speak
    from .files import check_output_path, write_files_atomically
    from .models import resolve_device
    from .prompt import SpeakerPrompt

    check_output_path(Path(output), force, ".wav")
    prompt = SpeakerPrompt.load(speaker)
    if not text.strip():
        raise UserError("the text to speak is empty")
    model = load_bark(bark, resolve_device(device))
    audio = bark_speak(model, prompt, text, seed)
    write_files_atomically({Path(output): wav_bytes(audio, sample_rate(model))}, force)
    click.echo(f"{output}: {len(audio) / sample_rate(model):.2f} s")


from . import cli_train  # noqa: E402,F401  (registers the training commands on ``cli``)


def main() -> None:
    """Console entry point."""
    cli(prog_name="bark-clone")
