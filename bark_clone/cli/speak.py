"""bark-clone speak: Bark says a text of any length in a speaker's voice, checked chunk by chunk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ..requests import LongFormSettings, SpeakRequest
from .options import SEED, FiniteFloat, default, device_option, dtype_option, force_option, offload_option


def speak_default(name: str):
    """A speak option's default: the request's own fields, or its long-form settings'."""
    names = {field.name for field in dataclasses.fields(SpeakRequest)}
    return default(SpeakRequest if name in names else LongFormSettings, name)


@click.command()
@click.argument("speaker", type=click.Path())
@click.argument("text", required=False)
@click.option("--text-file", type=click.Path(), help="Read the text from this UTF-8 file instead.")
@click.option("-o", "--output", required=True, help="Output .wav, .flac or .ogg; the report goes beside it as .json.")
@click.option("--bark", default=speak_default("bark"), show_default=True,
              help="suno/bark, suno/bark-small or a local folder.")
@device_option
@click.option("--language", default=speak_default("language"), show_default=True,
              help="The text's language: sentence splitting and the speaking rate.")
@click.option("--seed", type=SEED, help="Seed for reproducible audio (default: a random one, written to the report).")
@click.option("--batch-size", type=click.IntRange(1, 64), default=speak_default("batch_size"), show_default=True,
              help="Chunks per Bark generation.")
@click.option("--tries", type=click.IntRange(1, 20), default=speak_default("tries"), show_default=True,
              help="Generations per chunk at most (the first and its retries).")
@click.option("--min-similarity", type=FiniteFloat(-1, 1), default=speak_default("min_similarity"), show_default=True,
              help="Retry a chunk whose speaker similarity to the reference is below this.")
@click.option("--chunk-seconds", type=FiniteFloat(1, 14), default=speak_default("chunk_seconds"), show_default=True,
              help="Longest estimated duration of one chunk.")
@click.option("--pause", type=FiniteFloat(0, 5), default=speak_default("pause"), show_default=True,
              help="Seconds of silence between chunks.")
@click.option("--chain", is_flag=True, help="Continue each chunk from the previous one's audio (drifts more).")
@click.option("--max-chars", type=click.IntRange(1, 1_000_000), default=speak_default("max_chars"),
              show_default=True, help="Refuse longer texts.")
@click.option("--json", "as_json", is_flag=True, help="Also print the report on stdout.")
@dtype_option
@offload_option
@force_option
def speak(speaker, text, text_file, output, bark, device, language, seed, batch_size, tries, min_similarity,
          chunk_seconds, pause, chain, max_chars, as_json, dtype, offload, force) -> None:
    """Have Bark say TEXT (or --text-file) in the voice of SPEAKER (.npz), any length: in chunks, each checked
    against the speaker's voice and retried when it drifts. Writes the audio and a report (<output>.json). SPEAKER
    may also be a voice folder (train-voice): its adapters are merged into Bark."""
    from ..files import json_text
    from ..speaking.command import run_speak

    long_form = LongFormSettings(language, 0, batch_size, tries, min_similarity, chunk_seconds, pause, chain)
    request = SpeakRequest(Path(speaker), Path(output), text, Path(text_file) if text_file else None, bark, device,
                           seed, max_chars, force, dtype, offload, long_form)
    report = run_speak(request, progress=not as_json, warn=lambda line: click.echo(f"warning: {line}", err=True))
    if as_json:
        click.echo(json_text(report))
    else:
        click.echo(f"{output}: {report['duration']:.2f} s in {len(report['chunks'])} chunk(s), speaker similarity "
                   f"mean {report['mean_similarity']:.3f}, min {report['min_similarity']:.3f}; "
                   f"{report['retried']} retried, {report['flagged']} flagged")
