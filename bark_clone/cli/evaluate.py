"""bark-clone evaluate: how much Bark, speaking with a prompt, sounds like the target voice, next to baselines."""

from __future__ import annotations

from pathlib import Path

import click

from ..options import BarkOptions
from ..requests import EvaluateRequest
from .options import (
    SEED,
    FiniteFloat,
    decoder_options,
    default,
    device_option,
    dtype_option,
    force_option,
    offload_option,
    sampling_options,
)


@click.command()
@click.argument("speakers", nargs=-1, required=True)
@click.option("--target", "targets", multiple=True, required=True, help="Recording(s) of the voice to match.")
@click.option("--out", required=True, help="Report folder: report.json, report.md, scores.png and wavs/.")
@click.option("--bark", default=default(BarkOptions, "source"), show_default=True,
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
@click.option("--max-seconds", type=FiniteFloat(), default=default(EvaluateRequest, "max_seconds"), show_default=True)
@device_option
@click.option("--seed", type=SEED, default=default(EvaluateRequest, "seed"), show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 64), default=default(EvaluateRequest, "batch_size"),
              show_default=True, help="Rows (a voice's sentence each) per Bark generation: all voices share the "
                   "batches (lower it if a GPU runs out of memory).")
@dtype_option
@offload_option
@decoder_options
@sampling_options
@force_option
def evaluate(speakers, targets, out, bark, sentences, transcript, quantizers, language, hubert, max_seconds, device,
             seed, batch_size, dtype, offload, decoder, vocos, sampling, force) -> None:
    """Measure how much Bark, speaking with each SPEAKER prompt, sounds like the target voice, next to baselines:
    'method 1' (semantic tokens from the transcript), the nearest stock preset and each --quantizer."""
    from ..evaluate.evaluation import run_evaluation
    from ..evaluate.report import ranked_rows

    options = BarkOptions(source=bark, device=device, dtype=dtype, offload=offload, decoder=decoder, vocos=vocos)
    request = EvaluateRequest(speakers=[Path(s) for s in speakers], targets=[Path(t) for t in targets],
                              out=Path(out), bark=options, sampling=sampling, sentences=sentences,
                              transcript=transcript,
                              quantizers=list(quantizers), language=language, hubert=hubert, max_seconds=max_seconds,
                              seed=seed, force=force, batch_size=batch_size)
    report = run_evaluation(request)
    for entry in ranked_rows(report):
        click.echo(f"{entry['score']:.3f}  {entry['name']} (target {entry['target_similarity']:.3f}, "
                   f"self {entry['self_similarity']:.3f})")
    click.echo(f"report: {Path(out) / 'report.md'}")
