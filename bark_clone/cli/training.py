"""CLI commands for the training side: generate-data, import-data, train-quantizer, evaluate-quantizer."""

from __future__ import annotations

from pathlib import Path

import click

from quantizer.models import ARCHITECTURES

from ..constants import DEFAULT_HUBERT
from ..errors import UserError
from ..requests import GenerateOptions, TrainRequest
from .options import SEED, FiniteFloat, default, device_option, dtype_option, force_option


@click.command("generate-data")
@click.option("--out", required=True, help="Dataset folder, e.g. data/en. Rerunning resumes it.")
@click.option("--samples", type=int, required=True, help="Number of samples to generate.")
@click.option("--bark", default=default(GenerateOptions, "bark"), show_default=True,
              help="suno/bark, suno/bark-small or a local folder.")
@click.option("--texts", type=click.Path(dir_okay=False), help="One text per line (default: built-in Markov texts).")
@click.option("--language", default=default(GenerateOptions, "language"), show_default=True,
              help="Language of the built-in texts and presets.")
@click.option("--batch-size", type=int, default=default(GenerateOptions, "batch_size"), show_default=True,
              help="Samples per forward pass.")
@click.option("--seed", type=SEED, default=default(GenerateOptions, "seed"), show_default=True)
@click.option("--presets", is_flag=True,
              help="Use the language's stock voices for half the rows (mixed with random voices in one batch).")
@click.option("--shard-size", type=int, default=default(GenerateOptions, "shard_size"), show_default=True,
              help="Samples per parquet shard.")
@click.option("--held-out", type=FiniteFloat(), default=default(GenerateOptions, "held_out"), show_default=True,
              help="Fraction of clips set aside (by a hash of their id) to measure accuracy on.")
@device_option
@dtype_option
@click.option("--force", is_flag=True, help="Delete an existing dataset made with other settings and start over.")
def generate_data_command(out, samples, bark, texts, language, batch_size, seed, presets, shard_size, held_out,
                          device, dtype, force) -> None:
    """Generate synthetic training data with Bark: text, semantic tokens, 24 kHz audio and settings per sample.

    Under torchrun or accelerate launch, each process makes its share of the shards."""
    from ..training.generate import generate_data

    options = GenerateOptions(samples=samples, bark=bark, language=language, texts=texts, batch_size=batch_size,
                              seed=seed, presets=presets, shard_size=shard_size, held_out=held_out, dtype=dtype)
    summary = generate_data(Path(out), options, device, force)
    click.echo(f"{out}: {summary['shards_made']} shard(s) made now, {summary['samples']} samples, "
               f"{summary['seconds'] / 60:.1f} min of audio")


@click.command("import-data")
@click.argument("source", type=click.Path(file_okay=False))
@click.option("--out", required=True, help="Dataset folder to create, e.g. data/imported.")
@click.option("--features-hubert", default=DEFAULT_HUBERT, show_default=True,
              help="For the prepared form: the HuBERT that computed the *_semantic_features.npy files.")
@click.option("--held-out", type=FiniteFloat(), default=0.05, show_default=True,
              help="Fraction of clips set aside (by a hash of their id) to measure accuracy on.")
@force_option
def import_data_command(source, out, features_hubert, held_out, force) -> None:
    """Import a community dataset: {n}.wav + {n}_semantic.npy, or {n}_semantic.npy + {n}_semantic_features.npy."""
    from ..training.importer import import_data

    summary = import_data(Path(source), Path(out), features_hubert, force, held_out=held_out)
    click.echo(f"{out}: {summary['clips']} clips ({summary['layout']} layout), {summary['seconds'] / 60:.1f} min")


@click.command("train-quantizer")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="A dataset folder.")
@click.option("--out", required=True, help="Run folder, e.g. quantizer/runs/en.")
@click.option("--arch", type=click.Choice(list(ARCHITECTURES)), default=default(TrainRequest, "arch"),
              show_default=True, help="; ".join(f"{name}: {entry.summary}" for name, entry in ARCHITECTURES.items()))
@click.option("--hubert", default=default(TrainRequest, "hubert"), show_default=True,
              help="HuBERT hub id or local folder.")
@click.option("--epochs", type=int, default=default(TrainRequest, "epochs"), show_default=True)
@click.option("--batch-size", type=int, default=default(TrainRequest, "batch_size"), show_default=True)
@click.option("--lr", type=FiniteFloat(), default=default(TrainRequest, "lr"), show_default=True)
@device_option
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last epoch, optimizer included.")
@click.option("--seed", type=SEED, default=default(TrainRequest, "seed"), show_default=True)
@click.option("--lstm-version", type=click.Choice(["0", "1"]), default=str(default(TrainRequest, "lstm_version")),
              show_default=True, help="For --arch lstm: the published v0 or v1 shape.")
@click.option("--clusters", type=int, default=default(TrainRequest, "clusters"), show_default=True,
              help="For --arch kmeans.")
@click.option("--hidden-size", type=int, help="Width of lstm (default 1024) or context (default 512).")
@click.option("--export-gitmylo", type=click.Path(dir_okay=False),
              help="Also write the best LSTM in the published .pth format, for existing Bark GUIs.")
@force_option
def train_quantizer_command(data, out, arch, hubert, epochs, batch_size, lr, device, resume, seed, lstm_version,
                            clusters, hidden_size, export_gitmylo, force) -> None:
    """Train a quantizer (HuBERT layer-9 features -> Bark semantic tokens) with a held-out accuracy each epoch."""
    from ..training.quantizer import train_quantizer

    if resume and force:
        raise UserError("--resume and --force contradict each other")
    if epochs <= 0 or batch_size <= 0 or lr <= 0:
        raise UserError("--epochs, --batch-size and --lr must be positive")
    request = TrainRequest(data=Path(data), out=Path(out), arch=arch, hubert=hubert, epochs=epochs,
                           batch_size=batch_size, lr=lr, device=device, resume=resume, force=force, seed=seed,
                           lstm_version=int(lstm_version), clusters=clusters, hidden_size=hidden_size,
                           export_gitmylo=Path(export_gitmylo) if export_gitmylo else None)
    metrics = train_quantizer(request, warn=lambda message: click.echo(f"warning: {message}", err=True))
    best = metrics["best"]["held_out"]
    click.echo(f"{out}: best held-out top-1 {100 * best['top1']:.1f} %, top-5 {100 * best['top5']:.1f} % "
               f"over {best['frames']} tokens")


@click.command("evaluate-quantizer")
@click.option("--quantizer", "quantizer_name", required=True, help="A published name (en, en-large, ...) or a path.")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="A dataset folder.")
@click.option("--hubert", default=DEFAULT_HUBERT, show_default=True, help="HuBERT hub id or local folder.")
@click.option("--split", type=click.Choice(["auto", "held-out", "all"]), default="auto", show_default=True,
              help="auto: the held-out clips if the quantizer was trained on this dataset, else every clip.")
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object with top1, top5, clips and frames.")
def evaluate_quantizer_command(quantizer_name, data, hubert, split, device, as_json) -> None:
    """Token accuracy of any quantizer on a dataset, so published and trained ones compare directly: the whole
    dataset when the quantizer never saw it, its held-out clips when it was trained on it."""
    from ..training.quantizer import evaluate_quantizer

    result = evaluate_quantizer(quantizer_name, Path(data), hubert, device, progress=not as_json, split=split)
    if as_json:
        from ..files import json_text

        click.echo(json_text(result))
    else:
        click.echo(f"{quantizer_name} on {data} ({result['split']}, {result['clips']} clips, {result['frames']} "
                   f"tokens): top-1 {100 * result['top1']:.2f} %, top-5 {100 * result['top5']:.2f} %")
