"""bark-clone search as a command: check the request, load the models and recordings, run the search in --work,
and write the best prompt with a sidecar that records its lineage and score."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

from ..constants import VERSION
from ..errors import UserError
from ..requests import SearchRequest


def settings_for(request: SearchRequest):
    from .steps import SearchSettings

    settings = SearchSettings(request.keep, request.sentences, request.seed, request.max_seconds, request.language,
                              steps=request.steps, minutes=request.minutes, patience=request.patience,
                              batch_size=request.batch_size)
    settings.check()
    return settings


def writes_voice(request: SearchRequest) -> bool:
    """With --voice, an output that is not an .npz is a voice folder: the voice's adapters with the best prompt."""
    return request.voice is not None and Path(request.output).suffix.lower() != ".npz"


def check_outputs(request: SearchRequest) -> None:
    from ..files import check_output_path

    output = Path(request.output)
    if writes_voice(request):
        from ..files import check_folder_output
        from ..voices.folder import is_our_voice_folder

        check_folder_output(output, request.force, is_our_voice_folder, "voice")
    else:
        check_output_path(output, request.force, ".npz")
        check_output_path(output.with_suffix(".json"), request.force)
    if not Path(request.work).parent.is_dir():
        raise UserError(f"--work {request.work}: its parent folder does not exist")


def search_recordings(recordings, models, bark, settings, work: Path, identity: dict[str, Any], generator=None,
                      progress: bool = True, on_step=None, stop=None, starts=(), sampling=None):
    """The search over analysed ``recordings`` in ``work`` (new or resumed); returns its state. ``on_step(state)``
    hears of every finished step (the server reports the best score so far with it); setting the event ``stop``
    ends the search with ``SearchStopped`` before its next candidate. ``starts`` join the first population;
    ``sampling`` (an ``options.Sampling``) is how Bark samples the candidates' sentences."""
    from ..evaluate.evaluation import EVALUATION_SENTENCES
    from ..evaluate.scoring import target_from_recordings
    from ..speaking.longform import bark_generator
    from .state import locked
    from .steps import Context, run_search, start_population

    if not 2 <= settings.sentences <= len(EVALUATION_SENTENCES):
        raise UserError(f"--sentences must lie in 2..{len(EVALUATION_SENTENCES)}")
    target = target_from_recordings(recordings, models.voice)
    # --batch-size bounds every generation's rows
    generator = generator or bark_generator(bark, sampling=sampling, batch_size=settings.batch_size)
    context = Context(recordings, models, generator, target, models.voice, models.vad,
                      settings, EVALUATION_SENTENCES[: settings.sentences], identity, stop, list(starts))
    with locked(Path(work)):
        state = start_population(context, bark, Path(work))
        if on_step is not None:
            on_step(state)
        return run_search(context, Path(work), progress, on_step)


def search_voice(request: SearchRequest, generator=None, progress: bool = True) -> dict[str, Any]:
    """Run (or continue) the search and write ``request.output``; returns its sidecar. ``generator`` replaces Bark
    for generation (tests use voices known in advance); Bark is still loaded for its stock voices."""
    from ..audio.sound import check_audio_header
    from ..bark.core import open_bark
    from ..files import json_bytes, write_files_atomically
    from ..prompting.pipeline import analyse, load_models
    from ..voices.folder import load_voice
    from ..voices.switch import merge_voice
    from .candidates import Candidate

    check_outputs(request)
    settings = settings_for(request)
    for path in request.recordings:
        check_audio_header(path)
    voice = load_voice(request.voice) if request.voice is not None else None
    sources = request.models
    models = load_models(sources.hubert, sources.encodec, sources.quantizer, request.bark.device)
    recordings = [analyse(path, models.vad) for path in request.recordings]
    bark = open_bark(request.bark)
    if voice is not None:
        merge_voice(bark, voice)  # every generation of the search (scoring and bootstraps) wears its adapters
    identity = {"recordings": [recording.sha256 for recording in recordings], "bark": request.bark.source,
                **dataclasses.asdict(sources), **settings.fixed(), **request.sampling.identity(),
                **({"voice": voice.adapter_id} if voice is not None else {}),
                **request.bark.audio_identity()}
    starts = [Candidate(voice.prompt, "voice", [{"kind": "voice", "name": voice.name}])] if voice else []
    state = search_recordings(recordings, models, bark, settings, Path(request.work), identity, generator, progress,
                              starts=starts, sampling=request.sampling)
    best = state.best(1)[0]
    sidecar = best_sidecar(best, state, recordings, models, {"work": str(request.work), "bark": request.bark.source,
                                                              "sentences": settings.sentences, "seed": settings.seed})
    if voice is not None:
        sidecar["search"]["voice"] = {"folder": str(voice.folder), "adapter_id": voice.adapter_id}
    output = Path(request.output)
    if writes_voice(request):
        write_searched_voice(output, voice, best.prompt, sidecar)
    else:
        write_files_atomically({output.with_suffix(".json"): json_bytes(sidecar), output: best.prompt.npz_bytes()},
                               request.force)
    return sidecar


def write_searched_voice(output: Path, voice, prompt, sidecar: dict[str, Any]) -> None:
    """The voice's adapters and description with the search's prompt and sidecar, as a new voice folder."""
    from ..files import json_bytes
    from ..voices.folder import write_voice

    files = {"prompt.npz": prompt.npz_bytes(), "prompt.json": json_bytes(sidecar),
             "voice.json": json_bytes(voice.document)}
    write_voice(output, files, {stage: voice.folder / stage for stage in voice.stages})


def best_sidecar(best, state, recordings, models, search: dict[str, Any]) -> dict[str, Any]:
    """The sidecar of the search's result: its lineage, score parts, the search, the sources and the models."""
    from ..constants import CODEC_FRAME_RATE_HZ, SEMANTIC_RATE_HZ
    from ..prompting.format import bark_usage

    n_tokens, n_frames = len(best.prompt.semantic_tokens), best.prompt.fine_codes.shape[1]
    sidecar = {
        "tool": {"name": "bark-clone", "version": VERSION},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": "search", "kind": best.kind, "lineage": best.lineage,
        "score": {key: round(value, 4) for key, value in best.scores.items()},
        "search": {**search, "steps": state.step, "candidates": len(state.candidates)},
        "sources": [recording.describe() for recording in recordings],
        "prompt": {"semantic_tokens": n_tokens, "codec_frames": n_frames, "semantic_rate_hz": SEMANTIC_RATE_HZ,
                   "codec_frame_rate_hz": CODEC_FRAME_RATE_HZ, "bark_reads": bark_usage(n_tokens, n_frames)},
        "models": {"hubert": models.hubert.describe(), "encodec": models.encodec.describe(),
                   "quantizer": models.quantizer.describe()},
    }
    root, window = best.lineage[0], voice_window(best)
    sidecar["selection"] = {"method": "search", "source": root.get("source", root.get("name"))}
    if window is not None:  # the recording the voice came from: speak's guard uses it as its reference
        sidecar["window"] = window["window"]
    sidecar["durations"] = search_durations(best, recordings)
    sidecar["level"] = {"normalized": window is not None, "gain_db": None}  # windows are levelled; the gain is not kept
    return sidecar


def voice_window(best) -> dict[str, Any] | None:
    """The last window step of the lineage (a moved window's own seconds), or None for a stock voice's line."""
    return next((step for step in reversed(best.lineage) if step["kind"] == "window"), None)


def search_durations(best, recordings) -> dict[str, Any]:
    """make-speaker's ``durations``, for the search's result (the prompt's speech is its root window's, if any)."""
    from ..audio.speech import speech_seconds

    window = voice_window(best) if best.kind == "window" else None
    source = next((recording for recording in recordings
                   if window is not None and recording.label == window["source"]), None)
    in_window = round(speech_seconds(source.segments, *window["window"]), 2) if source is not None else None
    return {"source_seconds": round(sum(recording.audio.duration for recording in recordings), 3),
            "source_speech_seconds": round(sum(recording.speech_seconds for recording in recordings), 2),
            "prompt_seconds": round(best.prompt.seconds, 3), "prompt_speech_seconds": in_window}
