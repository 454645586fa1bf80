"""bark-clone speak: Bark says a text of any length in a speaker's voice, checked chunk by chunk."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..options import BarkOptions
from ..requests import LongFormSettings, SpeakRequest
from ..speaking.script import LINE, MAX_NAME_CHARACTERS
from .options import (
    SEED,
    FiniteFloat,
    decoder_options,
    defaults,
    device_option,
    dtype_option,
    force_option,
    offload_option,
    sampling_options,
    words_options,
)

speak_default = defaults(SpeakRequest, LongFormSettings, BarkOptions)  # a speak option's default


def voice_pairs(context, parameter, values) -> dict[str, Path]:
    """--voice NAME=SPEAKER, repeated: each name once."""
    voices: dict[str, Path] = {}
    for value in values:
        name, equals, path = value.partition("=")
        if not equals or not name.strip() or not path:
            raise click.BadParameter(f"{value!r} is not NAME=SPEAKER (for example alice=speakers/alice.npz)")
        parsed = LINE.fullmatch(f"{name.strip()}: x")  # as the script's own lines will be read
        if parsed is None or parsed.group(1) != name.strip() or not name.strip().isprintable():
            raise click.BadParameter(f"the name {name.strip()[:80]!r} cannot stand before a colon in a script line "
                                     f"(at most {MAX_NAME_CHARACTERS} printable characters, no colon)")
        if name.strip() in voices:
            raise click.BadParameter(f"the name {name.strip()!r} is given twice")
        voices[name.strip()] = Path(path)
    return voices


@click.command()
@click.argument("speaker", type=click.Path(), required=False)
@click.argument("text", required=False)
@click.option("--text-file", type=click.Path(), help="Read the text from this UTF-8 file instead.")
@click.option("--script", type=click.Path(), help="Speak a script of NAME: text lines (a blank line: a longer "
              "pause), each in the voice --voice gives NAME; instead of SPEAKER and TEXT.")
@click.option("--voice", "voices", multiple=True, callback=voice_pairs, metavar="NAME=SPEAKER",
              help="A script's speaker: a prompt .npz or a voice folder (repeat for each name).")
@click.option("--split", type=click.Path(), help="With --script, also write one file per line into this folder.")
@click.option("-o", "--output", required=True, help="Output .wav, .flac or .ogg; the report goes beside it as .json.")
@click.option("--bark", default=speak_default("source"), show_default=True,
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
@words_options(speak_default("asr"), speak_default("max_wer"))
@click.option("--json", "as_json", is_flag=True, help="Print the report on stdout, and one JSON line on stderr as "
              "each chunk is ready.")
@dtype_option
@offload_option
@decoder_options
@sampling_options
@force_option
def speak(speaker, text, text_file, script, voices, split, output, bark, device, language, seed, batch_size, tries,
          min_similarity, chunk_seconds, pause, chain, max_chars, check_words, asr, max_wer, as_json, dtype, offload,
          decoder, vocos, sampling, force) -> None:
    """Have Bark say TEXT (or --text-file) in the voice of SPEAKER (.npz), any length: in chunks, each checked
    against the speaker's voice (and, with a recognizer, its words) and retried when it drifts. Writes the audio
    and a report (<output>.json). SPEAKER may also be a voice folder (train-voice): its adapters are merged into
    Bark. With --script, several voices read a script's lines."""
    from ..files import json_text
    from ..speaking.command import run_speak

    long_form = LongFormSettings(language=language, seed=seed, sampling=sampling,
                                 batch_size=batch_size,
                                 tries=tries, min_similarity=min_similarity, chunk_seconds=chunk_seconds, pause=pause,
                                 chain=chain, check_words=check_words, max_wer=max_wer)
    request = SpeakRequest(speaker=Path(speaker) if speaker else None, output=Path(output), text=text,
                           text_file=Path(text_file) if text_file else None,
                           bark=BarkOptions(source=bark, device=device, dtype=dtype, offload=offload, decoder=decoder,
                                            vocos=vocos), max_chars=max_chars,
                           force=force, long_form=long_form, asr=asr, script=Path(script) if script else None,
                           voices=voices, split=Path(split) if split else None)
    report = run_speak(request, progress=not as_json, warn=lambda line: click.echo(f"warning: {line}", err=True),
                       on_piece=chunk_line(time.perf_counter()) if as_json else None)
    if as_json:
        click.echo(json_text(report))
    else:
        click.echo(f"{output}: {report['duration']:.2f} s in {len(report['chunks'])} chunk(s), speaker similarity "
                   f"mean {report['mean_similarity']:.3f}, min {report['min_similarity']:.3f}; "
                   f"{report['retried']} retried, {report['flagged']} flagged")


def chunk_line(started: float):
    """--json's progress: one JSON line on stderr as each chunk is ready (its index, the audio so far, the time)."""
    from ..constants import CODEC_SAMPLE_RATE
    from ..files import json_text

    ready = {"samples": 0}

    def show(index: int, total: int, piece) -> None:
        ready["samples"] += len(piece)
        click.echo(json_text({"event": "chunk", "index": index, "chunks": total,
                               "audio_seconds": round(ready["samples"] / CODEC_SAMPLE_RATE, 3),
                               "elapsed_seconds": round(time.perf_counter() - started, 2)}, indent=None), err=True)

    return show
