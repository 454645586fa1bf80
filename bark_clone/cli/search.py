"""The search command: find the prompt whose Bark speech sounds most like the recordings (KVoiceWalk for Bark)."""

from __future__ import annotations

from pathlib import Path

import click

from ..options import BarkOptions, ModelSources
from ..requests import SearchRequest
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
)

search_default = defaults(SearchRequest, BarkOptions, ModelSources)


@click.command()
@click.argument("recordings", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="The best prompt, e.g. speakers/me.npz (+ its .json sidecar).")
@click.option("--work", required=True, help="Folder for the search's state; rerun with it to continue.")
@click.option("--bark", default=search_default("source"), show_default=True,
              help="suno/bark, suno/bark-small or a local folder.")
@click.option("--steps", type=int, help="Search steps (in all, counting earlier runs in --work).")
@click.option("--minutes", type=FiniteFloat(min=0, min_open=True), help="Stop after this many minutes of this run.")
@click.option("--keep", type=click.IntRange(1, 32), default=search_default("keep"), show_default=True,
              help="Candidates kept and expanded at each step.")
@click.option("--patience", type=click.IntRange(1, 1000), default=search_default("patience"), show_default=True,
              help="Stop after this many steps without a better best.")
@click.option("--sentences", type=int, default=search_default("sentences"), show_default=True,
              help="Held-out sentences Bark speaks to score each candidate.")
@click.option("--seed", type=SEED, default=search_default("seed"), show_default=True)
@click.option("--quantizer", default=search_default("quantizer"), show_default=True, help="Quantizer name or path.")
@click.option("--hubert", default=search_default("hubert"), show_default=True, help="HuBERT hub id or local folder.")
@click.option("--encodec", default=search_default("encodec"), show_default=True,
              help="EnCodec hub id or local folder.")
@device_option
@click.option("--max-seconds", type=FiniteFloat(), default=search_default("max_seconds"), show_default=True,
              help="Longest prompt, in seconds.")
@click.option("--language", default=search_default("language"), show_default=True,
              help="Language of the stock voices to start from.")
@click.option("--voice", type=click.Path(path_type=Path),
              help="A voice folder (train-voice): search for the prompt that sounds most like the recordings on Bark "
                   "wearing its adapters, starting also from its own prompt. -o may then be a new voice folder.")
@click.option("--batch-size", type=click.IntRange(1, 1024),
              help="Rows (a candidate's sentence each) a Bark generation: bounds memory. Default: all the new "
                   "candidates of a step in one batch.")
@dtype_option
@offload_option
@decoder_options
@sampling_options
@force_option
def search(recordings, output, work, bark, steps, minutes, keep, patience, sentences, seed, quantizer, hubert,
           encodec, device, max_seconds, language, voice, batch_size, dtype, offload, decoder, vocos, sampling,
           force) -> None:
    """Search for the speaker prompt that makes Bark sound most like RECORDING(s): start from the best windows
    and the nearest stock voices, expand the best by window moves and bootstraps from Bark's own speech, keep the
    best --keep, until --steps / --minutes or --patience. Writes the best prompt; --work holds search.json,
    search.png and the top prompts."""
    from ..search.command import search_voice

    options = BarkOptions(source=bark, device=device, dtype=dtype, offload=offload, decoder=decoder, vocos=vocos)
    request = SearchRequest(recordings=[Path(path) for path in recordings], output=Path(output), work=Path(work),
                            bark=options, sampling=sampling,
                            models=ModelSources(hubert=hubert, encodec=encodec, quantizer=quantizer), steps=steps,
                            minutes=minutes, keep=keep, patience=patience, sentences=sentences, seed=seed,
                            max_seconds=max_seconds, language=language, force=force, voice=voice,
                            batch_size=batch_size)
    sidecar = search_voice(request)
    score = sidecar["score"]
    click.echo(f"{output}: score {score['score']:.3f} (target {score['target_similarity']:.3f}, self "
               f"{score['self_similarity']:.3f}), a {sidecar['kind']} after {sidecar['search']['steps']} step(s) "
               f"and {sidecar['search']['candidates']} candidates; see {Path(work) / 'search.png'}")
