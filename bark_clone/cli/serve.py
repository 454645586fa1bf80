"""bark-clone serve: the HTTP API and its web page."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from ..options import BarkOptions, ModelSources
from ..server.service import ServiceConfig
from .options import (
    FiniteFloat,
    decoder_options,
    defaults,
    device_option,
    dtype_option,
    offload_option,
    sampling_options,
    words_options,
)

MB = 1024 * 1024


serve_default = defaults(ServiceConfig, BarkOptions, ModelSources)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--speakers", default=str(serve_default("speakers")), show_default=True,
              help="Folder of speakers (npz + json).")
@click.option("--bark", default=serve_default("source"), show_default=True,
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
@click.option("--workers", type=click.IntRange(1, 64), default=serve_default("workers"), show_default=True,
              help="Jobs served at once; their Bark rows meet in shared batches.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=serve_default("batch_size"), show_default=True,
              help="Rows of all clients' jobs in one Bark generation at most.")
@click.option("--queue-size", type=click.IntRange(1, 1000), default=serve_default("queue_size"), show_default=True,
              help="Jobs that may wait; beyond that, requests get 429 with Retry-After.")
@click.option("--ray", "on_ray", is_flag=True, help="Serve through Ray Serve: --replicas copies behind Ray's HTTP "
              "proxy, sharing --speakers (needs the ray extra: pip install bark-clone[ray]).")
@click.option("--replicas", type=click.IntRange(1, 1024), default=1, show_default=True, help="With --ray: replicas.")
@click.option("--ray-address", help="With --ray: the Ray cluster to join (default: start a local one).")
@click.option("--gpus-per-replica", type=FiniteFloat(min=0), default=0.0, show_default=True,
              help="With --ray: GPUs each replica reserves (fractions share a GPU).")
@words_options(serve_default("asr"), serve_default("max_wer"), "chunk /speak makes")
@click.option("--consent-without-words", is_flag=True, help="Make OpenAI custom voices without hearing the consent "
              "statement (when no recognizer is loaded): only that the consent is not the sample's own audio and is "
              "the same speaker. Recorded in each voice's metadata. Without it and without a recognizer, "
              "POST /v1/audio/voices is refused.")
@dtype_option
@offload_option
@decoder_options
@sampling_options
def serve(host, port, speakers, bark, hubert, encodec, quantizer, device, token, max_upload_mb, max_audio_seconds,
          cache_mb, max_text_chars, workers, batch_size, queue_size, on_ray, replicas, ray_address, gpus_per_replica,
          check_words, asr, max_wer, consent_without_words, dtype, offload, decoder, vocos, sampling) -> None:
    """Serve the HTTP API (OpenAPI schema at /openapi.json) and a web page at /."""
    from ..server.app import create_app
    from ..server.guard import loopback_only

    if not token and not loopback_only(host):
        raise UserError(f"binding to {host} exposes the service beyond this machine: pass --token TOKEN "
                        "(clients then send Authorization: Bearer TOKEN)")
    options = BarkOptions(source=bark, device=device, dtype=dtype, offload=offload, decoder=decoder, vocos=vocos)
    config = ServiceConfig(speakers=Path(speakers), bark=options, sampling=sampling,
                           models=ModelSources(hubert=hubert, encodec=encodec, quantizer=quantizer),
                           token=token, max_upload_bytes=int(max_upload_mb * MB), max_audio_seconds=max_audio_seconds,
                           max_text_characters=max_text_chars, cache_bytes=int(cache_mb * MB), workers=workers,
                           queue_size=queue_size, batch_size=batch_size, asr=asr, check_words=check_words,
                           max_wer=max_wer, consent_without_words=consent_without_words)
    if on_ray:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise UserError("--ray needs Ray Serve: pip install 'bark-clone[ray]' (or 'ray[serve]')")
        from ..server.ray_serve import run_on_ray

        run_on_ray(config, host, port, replicas, ray_address, gpus_per_replica)
        return
    if replicas != 1 or ray_address:
        raise UserError("--replicas and --ray-address go with --ray")
    import uvicorn

    app = create_app(config)
    click.echo(f"bark-clone serving {speakers}/ on http://{'[' + host + ']' if ':' in host else host}:{port}/ "
               "(models load on first use)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
