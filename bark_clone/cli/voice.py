"""bark-clone train-voice: fine-tune Bark's coarse and fine models on a speaker's recordings (LoRA adapters)."""

from __future__ import annotations

from pathlib import Path

import click

from ..options import ModelSources
from ..requests import TrainVoiceRequest
from .options import SEED, FiniteFloat, defaults, device_option, force_option, voice_dtype_option

voice_default = defaults(TrainVoiceRequest, ModelSources)


@click.command("train-voice")
@click.argument("recordings", nargs=-1, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, help="The voice folder to write (e.g. voices/me).")
@click.option("--bark", default=voice_default("bark"), show_default=True,
              help="The Bark the adapters are for: suno/bark, suno/bark-small or a local folder.")
@click.option("--data", type=click.Path(file_okay=False), help="Train from a generate-data / import-data dataset "
              "instead of recordings (its tokens used as they are).")
@click.option("--hubert", default=voice_default("hubert"), show_default=True, help="HuBERT hub id or local folder.")
@click.option("--encodec", default=voice_default("encodec"), show_default=True, help="EnCodec hub id or folder.")
@click.option("--quantizer", default=voice_default("quantizer"), show_default=True, help="Quantizer name or path.")
@device_option
@voice_dtype_option
@click.option("--stages", default=",".join(voice_default("stages")), show_default=True,
              help="Which of Bark's models get an adapter: coarse, fine or coarse,fine.")
@click.option("--rank", type=click.IntRange(1, 256), default=voice_default("rank"), show_default=True,
              help="LoRA rank.")
@click.option("--steps", type=click.IntRange(1, 1_000_000), default=voice_default("steps"), show_default=True,
              help="Optimizer steps per stage at most (held-out NLL stops it sooner).")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=voice_default("batch_size"), show_default=True)
@click.option("--seed", type=SEED, default=voice_default("seed"), show_default=True)
@click.option("--max-seconds", type=FiniteFloat(1, 60), default=voice_default("max_seconds"), show_default=True,
              help="Longest prompt of the voice.")
@click.option("--resume", is_flag=True, help="Continue an interrupted training in -o from its last epoch.")
@force_option
def train_voice_command(recordings, output, bark, data, hubert, encodec, quantizer, device, dtype, stages, rank,
                        steps, batch_size, seed, max_seconds, resume, force) -> None:
    """Fine-tune Bark on a voice: LoRA adapters of its coarse and fine models, trained on the speaker's own
    RECORDINGS (1-5 minutes of speech; no transcript), measured on held-out speech against the base model and
    in-context cloning. Writes a voice folder, which speak, evaluate, search and serve take like a prompt. Under
    torchrun each process trains on its share of every mini-batch (the same steps, the summed gradient)."""
    from ..voices.command import train_voice

    request = TrainVoiceRequest(recordings=[Path(path) for path in recordings], output=Path(output), bark=bark,
                                data=Path(data) if data else None,
                                models=ModelSources(hubert=hubert, encodec=encodec, quantizer=quantizer),
                                device=device, dtype=dtype,
                                stages=tuple(stage.strip() for stage in stages.split(",") if stage.strip()),
                                rank=rank, steps=steps, batch_size=batch_size, seed=seed, max_seconds=max_seconds,
                                resume=resume, force=force)
    document = train_voice(request, warn=lambda line: click.echo(f"warning: {line}", err=True))
    for stage, best in document["best"].items():
        base = document["metrics"][stage][0]["base"]
        click.echo(f"{stage}: held-out NLL {best['held_out_nll']:.3f} (base {base['alone']['nll']:.3f}, base with "
                   f"the prompt {base['with prompt']['nll']:.3f}), best epoch {best['epoch']}")
    click.echo(f"voice: {output}")
