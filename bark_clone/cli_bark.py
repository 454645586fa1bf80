"""CLI commands that make Bark speak: speak, evaluate, and serve (the HTTP API and its page)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_options import FiniteFloat, default, device_option, force_option
from .constants import DEFAULT_BARK
from .errors import UserError
from .requests import EvaluateRequest
from .service import ServiceConfig


@click.command()
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
    from .bark import load_bark, require_text, sample_rate
    from .bark import speak as bark_speak
    from .files import check_output_path, write_files_atomically
    from .models import resolve_device
    from .prompt import SpeakerPrompt

    check_output_path(Path(output), force, ".wav")
    prompt = SpeakerPrompt.load(speaker)
    require_text(text)
    model = load_bark(bark, resolve_device(device))
    audio = bark_speak(model, prompt, text, seed)
    write_files_atomically({Path(output): wav_bytes(audio, sample_rate(model))}, force)
    click.echo(f"{output}: {len(audio) / sample_rate(model):.2f} s")


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
@click.option("--seed", type=int, default=default(EvaluateRequest, "seed"), show_default=True)
@force_option
def evaluate(speakers, targets, out, bark, sentences, transcript, quantizers, language, hubert, encodec, max_seconds,
             device, seed, force) -> None:
    """Measure how much Bark, speaking with each SPEAKER prompt, sounds like the target voice, next to baselines:
    'method 1' (semantic tokens from the transcript), the nearest stock preset and each --quantizer."""
    from .evaluation import run_evaluation
    from .report import ranked_rows

    if encodec is not None:
        click.echo("note: --encodec is no longer used; evaluate encodes with Bark's own codec", err=True)
    request = EvaluateRequest([Path(s) for s in speakers], [Path(t) for t in targets], Path(out), bark, sentences,
                              transcript, list(quantizers), language, hubert, max_seconds, device, seed, force)
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
@click.option("--workers", type=click.IntRange(1, 16), default=serve_default("workers"), show_default=True,
              help="Model worker threads.")
@click.option("--queue-size", type=click.IntRange(1, 1000), default=serve_default("queue_size"), show_default=True,
              help="Jobs that may wait; beyond that, requests get 429 with Retry-After.")
def serve(host, port, speakers, bark, hubert, encodec, quantizer, device, token, max_upload_mb, max_audio_seconds,
          cache_mb, workers, queue_size) -> None:
    """Serve the HTTP API (OpenAPI schema at /openapi.json) and a web page at /."""
    from .guard import loopback_only
    from .server import create_app

    if not token and not loopback_only(host):
        raise UserError(f"binding to {host} exposes the service beyond this machine: pass --token TOKEN "
                        "(clients then send Authorization: Bearer TOKEN)")
    config = ServiceConfig(Path(speakers), bark, hubert, encodec, quantizer, device, token, int(max_upload_mb * MB),
                           max_audio_seconds, cache_bytes=int(cache_mb * MB), workers=workers, queue_size=queue_size)
    import uvicorn

    app = create_app(config)
    click.echo(f"bark-clone serving {speakers}/ on http://{'[' + host + ']' if ':' in host else host}:{port}/ "
               "(models load on first use)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
