"""CLI commands that make Bark speak: speak, evaluate, and serve (the HTTP API and its page)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from .cli_options import SEED, FiniteFloat, default, device_option, dtype_option, force_option, offload_option
from .errors import UserError
from .requests import EvaluateRequest, LongFormSettings, SpeakRequest
from .service import ServiceConfig


def speak_default(name: str):
    """A speak option's default: the request's own fields, or its long-form settings'."""
    names = {field.name for field in dataclasses.fields(SpeakRequest)}
    return default(SpeakRequest if name in names else LongFormSettings, name)


@click.command()
@click.argument("speaker", type=click.Path(dir_okay=False))
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
    against the speaker's voice and retried when it drifts. Writes the audio and a report (<output>.json)."""
    from .files import json_text
    from .speaking import run_speak

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


@click.command()
@click.argument("speakers", nargs=-1, required=True)
@click.option("--target", "targets", multiple=True, required=True, help="Recording(s) of the voice to match.")
@click.option("--out", required=True, help="Report folder: report.json, report.md, scores.png and wavs/.")
@click.option("--bark", default=default(EvaluateRequest, "bark"), show_default=True,
              help="suno/bark, suno/bark-small or a local folder.")
@click.option("--sentences", type=int, default=default(EvaluateRequest, "sentences"), show_default=True,
              help="Held-out sentences Bark speaks per voice.")
@click.option("--transcript", help="What the target says: enables the 'method 1' baseline (tokens from text).")
@click.option("--quantizer", "quantizers", multiple=True, help="Also evaluate a prompt made with this quantizer "
              "(a name or path; repeatable).")
@click.option("--language", default=default(EvaluateRequest, "language"), show_default=True,
              help="Language of the stock voices to compare.")
@click.option("--hubert", default=default(EvaluateRequest, "hubert"), show_default=True,
              help="HuBERT for --quantizer baselines.")
@click.option("--encodec", hidden=True, help="No longer used: the baselines use Bark's own codec.")
@click.option("--max-seconds", type=FiniteFloat(), default=default(EvaluateRequest, "max_seconds"), show_default=True)
@device_option
@click.option("--seed", type=SEED, default=default(EvaluateRequest, "seed"), show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 64), default=default(EvaluateRequest, "batch_size"),
              show_default=True, help="Sentences per Bark generation (lower it if a GPU runs out of memory).")
@dtype_option
@offload_option
@force_option
def evaluate(speakers, targets, out, bark, sentences, transcript, quantizers, language, hubert, encodec, max_seconds,
             device, seed, batch_size, dtype, offload, force) -> None:
    """Measure how much Bark, speaking with each SPEAKER prompt, sounds like the target voice, next to baselines:
    'method 1' (semantic tokens from the transcript), the nearest stock preset and each --quantizer."""
    from .evaluation import run_evaluation
    from .report import ranked_rows

    if encodec is not None:
        click.echo("note: --encodec is no longer used; evaluate encodes with Bark's own codec", err=True)
    request = EvaluateRequest([Path(s) for s in speakers], [Path(t) for t in targets], Path(out), bark, sentences,
                              transcript, list(quantizers), language, hubert, max_seconds, device, seed, force,
                              dtype, offload, batch_size)
    report = run_evaluation(request)
    for entry in ranked_rows(report):
        click.echo(f"{entry['score']:.3f}  {entry['name']} (target {entry['target_similarity']:.3f}, "
                   f"self {entry['self_similarity']:.3f})")
    click.echo(f"report: {Path(out) / 'report.md'}")


MB = 1024 * 1024


def serve_default(name: str):
    return default(ServiceConfig, name)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--speakers", default=str(serve_default("speakers")), show_default=True,
              help="Folder of speakers (npz + json).")
@click.option("--bark", default=serve_default("bark"), show_default=True,
              help="suno/bark, suno/bark-small or a local folder.")
@click.option("--hubert", default=serve_default("hubert"), show_default=True, help="HuBERT hub id or local folder.")
@click.option("--encodec", default=serve_default("encodec"), show_default=True,
              help="EnCodec hub id or local folder.")
@click.option("--quantizer", default=serve_default("quantizer"), show_default=True, help="Quantizer name or path.")
@device_option
@click.option("--token", help="Bearer token every API call must carry; required to bind beyond loopback.")
@click.option("--max-upload-mb", type=FiniteFloat(min=0.1), default=serve_default("max_upload_bytes") / MB,
              show_default=True)
@click.option("--max-audio-seconds", type=FiniteFloat(min=1), default=serve_default("max_audio_seconds"),
              show_default=True)
@click.option("--cache-mb", type=FiniteFloat(min=1), default=serve_default("cache_bytes") / MB, show_default=True,
              help="Size bound of the /speak WAV cache (least recently used files go first).")
@click.option("--max-text-chars", type=click.IntRange(1, 1_000_000), default=serve_default("max_text_characters"),
              show_default=True, help="Longest text /speak takes (longer: 413); long texts are spoken in chunks.")
@click.option("--workers", type=click.IntRange(1, 16), default=serve_default("workers"), show_default=True,
              help="Model worker threads.")
@click.option("--queue-size", type=click.IntRange(1, 1000), default=serve_default("queue_size"), show_default=True,
              help="Jobs that may wait; beyond that, requests get 429 with Retry-After.")
@dtype_option
@offload_option
def serve(host, port, speakers, bark, hubert, encodec, quantizer, device, token, max_upload_mb, max_audio_seconds,
          cache_mb, max_text_chars, workers, queue_size, dtype, offload) -> None:
    """Serve the HTTP API (OpenAPI schema at /openapi.json) and a web page at /."""
    from .guard import loopback_only
    from .server import create_app

    if not token and not loopback_only(host):
        raise UserError(f"binding to {host} exposes the service beyond this machine: pass --token TOKEN "
                        "(clients then send Authorization: Bearer TOKEN)")
    config = ServiceConfig(Path(speakers), bark, hubert, encodec, quantizer, device, token, int(max_upload_mb * MB),
                           max_audio_seconds, max_text_characters=max_text_chars, cache_bytes=int(cache_mb * MB),
                           workers=workers, queue_size=queue_size, dtype=dtype, offload=offload)
    import uvicorn

    app = create_app(config)
    click.echo(f"bark-clone serving {speakers}/ on http://{'[' + host + ']' if ':' in host else host}:{port}/ "
               "(models load on first use)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
