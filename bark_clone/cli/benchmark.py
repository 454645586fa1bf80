"""bark-clone benchmark: the field's zero-shot cloning benchmark (Seed-TTS-eval, LibriSpeech-PC) for our systems."""

from __future__ import annotations

from pathlib import Path

import click

from ..options import BarkOptions, ModelSources
from ..requests import BenchmarkRequest
from .options import (
    SEED,
    FiniteFloat,
    decoder_options,
    defaults,
    device_option,
    dtype_option,
    offload_option,
    sampling_options,
)

bench_default = defaults(BenchmarkRequest, BarkOptions, ModelSources)


@click.command("benchmark")
@click.argument("list_path", metavar="LIST", type=click.Path(dir_okay=False))
@click.option("--out", required=True, help="Report folder (report.md, report.json, utterances.csv, report.png, each "
              "row's audio); rerun with it to continue.")
@click.option("--root", type=click.Path(file_okay=False), help="Where the list's audio lies (default: the list's "
              "folder; LibriSpeech-PC: LibriSpeech/test-clean).")
@click.option("--limit", type=click.IntRange(1), help="At most this many rows (after --every).")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True, help="Every K-th row only.")
@click.option("--language", default=bench_default("language"), show_default=True,
              help="The list's language: the WER (CER for zh, ja, ko) and the stock voices.")
@click.option("--bark", default=bench_default("source"), show_default=True,
              help="suno/bark, suno/bark-small or a local folder.")
@click.option("--hubert", default=bench_default("hubert"), show_default=True, help="HuBERT hub id or local folder.")
@click.option("--encodec", default=bench_default("encodec"), show_default=True, help="EnCodec hub id or folder.")
@click.option("--quantizer", default=bench_default("quantizer"), show_default=True, help="Quantizer name or path.")
@click.option("--asr", default=bench_default("asr"), show_default=True,
              help="The WER meter: Whisper (beam 5, the language forced) or a CTC model, a hub id or a folder.")
@click.option("--sim-model", default=bench_default("sim_model"), show_default=True,
              help="The SIM meter: a WavLMForXVector speaker-verification model, a hub id or a folder.")
@device_option
@click.option("--seed", type=SEED, default=bench_default("seed"), show_default=True, help="Row i is seeded seed + i.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=bench_default("batch_size"), show_default=True,
              help="Rows per Bark generation, each row its own voice.")
@click.option("--max-seconds", type=FiniteFloat(1, 60), default=bench_default("max_seconds"), show_default=True,
              help="Longest prompt window.")
@click.option("--search-minutes", type=FiniteFloat(min=0, min_open=True),
              help="Also a searched prompt per row (the search from its prompt recording, this many minutes).")
@click.option("--voices", is_flag=True, help="Also a voice (train-voice adapters) per speaker whose other "
              "recordings in the list reach --voice-min-seconds.")
@click.option("--voice-min-seconds", type=FiniteFloat(1), default=bench_default("voice_min_seconds"),
              show_default=True, help="Recordings a speaker needs for --voices.")
@click.option("--voice-steps", type=click.IntRange(1), default=bench_default("voice_steps"), show_default=True)
@click.option("--resamples", type=click.IntRange(100, 100_000), default=bench_default("resamples"),
              show_default=True, help="Bootstrap resamples of the 95 % intervals.")
@dtype_option
@offload_option
@decoder_options
@sampling_options
def benchmark_command(list_path, out, root, limit, every, language, bark, hubert, encodec, quantizer, asr, sim_model,
                      device, seed, batch_size, max_seconds, search_minutes, voices, voice_min_seconds, voice_steps,
                      resamples, dtype, offload, decoder, vocos, sampling) -> None:
    """Speak a zero-shot test LIST (Seed-TTS-eval's meta.lst, or F5-TTS's LibriSpeech-PC list) with our prompt,
    'method 1', the nearest stock voice (and on request a searched prompt and a trained voice), and score every
    row's WER and speaker similarity as the field does. Resumable; writes a report to set beside published tables."""
    from ..benchmark.command import run_benchmark

    options = BarkOptions(source=bark, device=device, dtype=dtype, offload=offload, decoder=decoder, vocos=vocos)
    request = BenchmarkRequest(
        list_path=Path(list_path), out=Path(out), root=Path(root) if root else None, limit=limit, every=every,
        language=language, bark=options, sampling=sampling,
        models=ModelSources(hubert=hubert, encodec=encodec, quantizer=quantizer), asr=asr, sim_model=sim_model,
        seed=seed, batch_size=batch_size, max_seconds=max_seconds, search_minutes=search_minutes, voices=voices,
        voice_min_seconds=voice_min_seconds, voice_steps=voice_steps, resamples=resamples)
    report = run_benchmark(request)
    for row in report["systems"]:
        wer = "-" if row["wer_percent"] is None else f"{row['wer_percent']:.2f} %"
        sim = "-" if row["sim_o"] is None else f"{row['sim_o']:.3f}"
        click.echo(f"{row['system']:>10}: WER {wer}, SIM-o {sim} ({row['rows_scored']} scored, "
                   f"{row['rows_failed']} failed)")
    click.echo(f"report: {Path(out) / 'report.md'} (WER by {report['meters']['wer']}, SIM by "
               f"{report['meters']['sim']})")
