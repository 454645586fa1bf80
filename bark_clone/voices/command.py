"""bark-clone train-voice: recordings (or a dataset) in, a voice folder out: make-speaker's prompt plus LoRA adapters
of Bark's coarse and fine models, trained on the speaker's own streams and measured on held-out speech."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from quantizer import distributed

from ..constants import VERSION
from ..errors import UserError
from ..requests import TrainVoiceRequest
from .data import MIN_TRAINING_SECONDS, Piece, after_prompt, held_out_split, speech_seconds_of
from .folder import CHECKPOINT


def check_output(request: TrainVoiceRequest) -> None:
    """Before any model loads: the output folder is new, resumable, or --force replaces it (a voice folder only)."""
    from ..files import check_folder_output
    from .folder import VOICE_FILE, is_our_voice_folder

    out = Path(request.output)
    interrupted = out.is_dir() and (out / CHECKPOINT).is_file() and not (out / VOICE_FILE).exists()
    if interrupted and not request.force:  # ours alone (checked as if forced), then resumed or refused
        check_folder_output(out, True, is_our_voice_folder, "voice")
        if not request.resume:
            raise UserError(f"{out} already exists; pass --force to replace it, or --resume to continue its training")
        return
    check_folder_output(out, request.force, is_our_voice_folder, "voice")


def recordings_and_prompt(request: TrainVoiceRequest, models):
    """The pieces of the recordings and make-speaker's best prompt (with its sidecar) from them."""
    from ..prompting.pipeline import analyse, make_speakers
    from .data import recording_pieces

    recordings = [analyse(path, models.vad) for path in request.recordings]
    left_out: dict[str, float] = {}
    pieces = recording_pieces(recordings, models, left_out)
    held_out_split(pieces, left_out)  # too few pieces: say why before make-speaker's own search for a window
    speaker = make_speakers(recordings, models, request.max_seconds)[0]
    return recordings, pieces, speaker.prompt, speaker.sidecar


def dataset_rows(root: Path, encodec_loader: Callable[[], Any], skipped: list[str] | None = None
                 ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(id, semantic tokens, (8, T) codes) of every clip; shards without the codes column are encoded once here.
    A clip whose tokens or codes are out of range, or whose two streams do not cover the same time, is left out
    and its reason added to ``skipped``."""
    from ..constants import CODEC_FRAME_RATE_HZ, SEMANTIC_RATE_HZ
    from ..datasets import check_codes, check_lengths, check_tokens, decode_flac, open_dataset
    from ..models.codecs import encodec_encode

    dataset, rows = open_dataset(root), []
    skipped = [] if skipped is None else skipped
    for index in dataset.present_shards():
        has_codes = dataset.has_column(index, "codes")
        table = dataset.read_shard(index, ["id", "semantic", "codes" if has_codes else "audio"]).to_pylist()
        for row in table:
            where = f"clip {str(row['id'])[:64]}"
            if not (has_codes and row["codes"] is not None) and row.get("audio") is None:
                raise UserError(f"{root}: {where} has neither codes nor audio; a voice needs both streams")
            try:
                semantic = check_tokens(np.asarray(row["semantic"] or []), where)
                codes = check_codes(row["codes"], where) if has_codes and row["codes"] is not None else \
                    encodec_encode(encodec_loader(), decode_flac(row["audio"])[0])
                check_lengths(len(semantic) / SEMANTIC_RATE_HZ, codes.shape[1] / CODEC_FRAME_RATE_HZ, "codes", where)
            except UserError as error:
                skipped.append(str(error))
                continue
            rows.append((str(row["id"]), semantic, codes))
    if not rows:
        raise UserError(f"{root} holds no usable clip" + (f" ({len(skipped)} skipped; the first: {skipped[0]})"
                                                          if skipped else ""))
    return rows


def gather(request: TrainVoiceRequest, warn, device: str | None = None) -> dict[str, Any]:
    """The pieces (training and held out), the voice's prompt and sidecar, and what they came from."""
    device = device or request.device
    from ..prompting.pipeline import load_models
    from .data import bootstrap_prompt, dataset_pieces

    if request.data is not None:
        loaded = {}

        def encodec():
            if "models" not in loaded:
                sources = request.models
                loaded["models"] = load_models(sources.hubert, sources.encodec, sources.quantizer, device)
            return loaded["models"].encodec

        skipped: list[str] = []
        pieces = dataset_pieces(dataset_rows(Path(request.data), encodec, skipped))
        if skipped:
            warn(f"{len(skipped)} clip(s) of {request.data} left out; the first: {skipped[0]}")
        training, held_out = held_out_split(pieces)
        prompt = bootstrap_prompt(training, request.max_seconds)
        sidecar = {"method": "bootstrap", "data": str(request.data), "tool": {"name": "bark-clone",
                                                                             "version": VERSION}}
        sources = {"data": str(request.data), "clips": len(pieces)}
    else:
        models = load_models(request.models.hubert, request.models.encodec, request.models.quantizer, device)
        recordings, pieces, prompt, sidecar = recordings_and_prompt(request, models)
        training, held_out = held_out_split(pieces)
        sources = {"recordings": [recording.describe() for recording in recordings]}
    seconds = speech_seconds_of(training)
    if seconds < MIN_TRAINING_SECONDS:
        warn(f"only {seconds:.0f} s of speech to train on; an adapter learns much more from 1-5 minutes")
    return {"training": training, "held_out": held_out, "prompt": prompt, "sidecar": sidecar,
            "sources": {**sources, "training_pieces": len(training), "held_out_pieces": len(held_out),
                        "training_seconds": round(seconds, 2),
                        "held_out_seconds": round(speech_seconds_of(held_out), 2)}}


def stage_tasks(stages: tuple[str, ...], training: list[Piece], held_out: list[Piece], prompt) -> dict[str, Any]:
    from .train import stage_task

    alone = [Piece(piece.label, piece.seconds, piece.alone()) for piece in held_out]
    prompted = [after_prompt(prompt, piece) for piece in held_out]
    return {stage: stage_task(stage, training, alone, prompted) for stage in stages}


def training_dtype(dtype: str, device) -> str:
    """What --dtype means for training: bfloat16 (autocast) or float32; auto takes bfloat16 where the device computes
    it natively (a float16 GPU trains in float32: autocast in float16 would need a loss scaler)."""
    from ..models.devices import resolve_dtype

    resolved = resolve_dtype(dtype, device)
    return resolved if resolved in ("float32", "bfloat16") else "float32"


def train_voice(request: TrainVoiceRequest, progress: bool = True, warn: Callable[[str], None] | None = None
                ) -> dict[str, Any]:
    """Train a voice: LoRA adapters of Bark's coarse and fine models on the speaker's own streams, held-out NLL
    measured every epoch against the base model and in-context cloning, the best epoch kept. Writes
    ``request.output`` (see ``voices.folder``) and returns its ``voice.json``. ``warn(line)`` hears advice."""
    import warnings

    from ..bark.core import load_bark
    from ..files import json_text
    from ..models.loading import resolve_device
    from .checkpoint import load_checkpoint
    from .folder import STAGES, voice_document
    from .switch import base_fingerprints, stage_sha256

    device = distributed.init(resolve_device(request.device))  # under torchrun: this process's device
    is_main = distributed.position().is_main
    warn = (warn or warnings.warn) if is_main else (lambda line: None)
    request.check()
    request = replace(request, dtype=training_dtype(request.dtype, device))
    check_output(request)
    distributed.barrier()  # every process has checked the folder before the first one writes to it
    data = gather(request, warn, str(device))
    bark = load_bark(request.bark, device, "float32")  # the weights train in float32; --dtype sets the autocast
    out = Path(request.output)
    fingerprints = base_fingerprints(bark)  # before any adapter wraps the stages
    identity = {"bark": request.bark, "base": stage_sha256(bark), "sources": data["sources"],
                "settings": {"stages": list(request.stages), "rank": request.rank, "steps": request.steps,
                             "batch_size": request.batch_size, "seed": request.seed, "dtype": request.dtype}}
    state = load_checkpoint(out, identity) if request.resume and (out / CHECKPOINT).is_file() else \
        {"identity": json_text(identity, indent=None), "stages": {}}
    tasks = stage_tasks(request.stages, data["training"], data["held_out"], data["prompt"])
    trained = {stage: train_one(bark, STAGES[stage], tasks[stage], request, state, out, progress and is_main)
               for stage in tasks}
    runs = {stage: run for stage, (run, _) in trained.items()}
    document = voice_document(request, bark, {"stage_sha256": identity["base"], "stage_sha256_by_dtype": fingerprints},
                              data["sources"], runs)
    document["settings"]["processes"] = distributed.position().world
    if is_main:
        finish_voice(out, trained, document, data)
    distributed.barrier()  # the folder is complete before any process returns
    return document


def finish_voice(out: Path, trained: dict[str, Any], document: dict[str, Any], data: dict[str, Any]) -> None:
    """Write the voice folder: each stage's best adapter in peft's format, the prompt, ``voice.json``, the plot."""
    from peft import set_peft_model_state_dict

    from ..files import json_bytes
    from .checkpoint import metrics_png
    from .folder import write_voice

    runs = {stage: run for stage, (run, _) in trained.items()}
    with tempfile.TemporaryDirectory() as scratch:
        adapters = {}
        for stage, (run, model) in trained.items():
            set_peft_model_state_dict(model, run.best)
            model.save_pretrained(str(Path(scratch) / stage))
            adapters[stage] = Path(scratch) / stage
        files = {"prompt.npz": data["prompt"].npz_bytes(), "prompt.json": json_bytes(data["sidecar"]),
                 "voice.json": json_bytes(document), "metrics.png": metrics_png(runs)}
        write_voice(out, files, adapters)


def train_one(bark, attribute: str, task, request: TrainVoiceRequest, state: dict[str, Any], out: Path,
              progress: bool):
    """One stage: wrapped with a fresh (or the checkpoint's) adapter and trained; (its run, the wrapped model)."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    from ..files import json_text
    from ..progress import progress_bar
    from .checkpoint import checked_stage_state, run_fields, save_checkpoint
    from .train import Settings, train_stage, wrap

    settings = Settings(request.rank, request.steps, request.batch_size, seed=request.seed,
                        bf16=request.dtype == "bfloat16")
    model = wrap(getattr(bark.model, attribute), settings)
    saved = state["stages"].get(task.name)
    run = checked_stage_state(saved, model, f"{out / CHECKPOINT} ({task.name})") if saved else None
    if saved:
        set_peft_model_state_dict(model, saved["adapter"])

    def save(current, optimizer_state: dict[str, Any]) -> None:
        if not distributed.position().is_main:
            return
        adapter = {key: value.detach().clone() for key, value in get_peft_model_state_dict(model).items()}
        state["stages"][task.name] = {"run": json_text(run_fields(current), indent=None), "adapter": adapter,
                                      "best": current.best, **optimizer_state}
        save_checkpoint(out, state)

    with progress_bar(total=settings.steps, initial=run.step if run else 0, unit="step",
                      desc=f"train-voice {task.name}", disable=not progress) as bar:
        run = train_stage(model, task, settings, bark.device, bar, run, saved, save)
    return run, model
